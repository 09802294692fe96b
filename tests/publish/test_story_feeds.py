"""The site's story feeds (Atom, JSON Feed 1.1) are valid, and carry the XSS payload table of a
hostile feed as text: html content escaped exactly once, nothing live."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import FeedServer
from sitefixture import build_fixture_db
from test_site import Audit, _pages

from aggregator.ingest.parse import parse_feed

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def site(server: FeedServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    return _pages(build_fixture_db(server, tmp_path))


def test_the_atom_feed_is_valid_and_its_html_is_escaped_once(site) -> None:  # type: ignore[no-untyped-def]
    root = ET.fromstring(site.files["stories.atom"])
    assert root.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated", "author"):  # RFC 4287 4.1.1
        assert root.find(f"{ATOM}{required}") is not None, required
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) > 10
    for entry in entries:
        for required in ("id", "title", "updated"):
            assert (entry.findtext(f"{ATOM}{required}") or "").strip(), required
        content = entry.find(f"{ATOM}content")
        assert content is not None and content.get("type") == "html"
        assert len(content) == 0  # text only: no element of the feed's own (RFC 4287 4.1.3.3)
        markup = content.text or ""
        audit = Audit()
        audit.feed(markup)
        assert [p for p in audit.problems if "without rel" not in p] == [], audit.problems
        assert "onerror" not in unescape_tags(markup)
    titles = [e.findtext(f"{ATOM}title") or "" for e in entries]
    assert any("<img src=x onerror=alert('escaped-twice')>" in t for t in titles)  # as text


def unescape_tags(markup: str) -> str:
    """The attributes of the elements of ``markup`` (their text left out)."""
    import re

    return " ".join(re.findall(r"<[^>]*>", markup))


def test_the_atom_feed_reads_back_as_the_stories(site) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    parsed = parse_feed(site.files["stories.atom"].encode(), {"Content-Type": "application/atom+xml"},
                        "https://news.example/stories.atom", None, datetime(2027, 1, 1, tzinfo=UTC))
    stories = json.loads(site.files["stories.json"])["items"]
    assert [a.key for a in parsed.articles] == [s["id"] for s in stories]
    assert [a.url for a in parsed.articles] == [f"https://news.example/{s['url']}" for s in stories]
    assert all(a.title for a in parsed.articles)


def test_the_json_feed_is_valid_and_holds_only_text(site) -> None:  # type: ignore[no-untyped-def]
    feed = json.loads(site.files["stories.json"])
    assert feed["version"] == "https://jsonfeed.org/version/1.1" and feed["title"]
    assert feed["items"]
    for item in feed["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert isinstance(item["title"], str) and "\n" not in item["title"]
        assert "content_html" not in item and isinstance(item["content_text"], str)
        assert all(isinstance(t, str) for t in item["tags"])
    text = json.dumps(feed, ensure_ascii=False)
    assert "Harbour bridge closure" in text  # the hostile feed's items are there, as text
    # Every field is text (JSON Feed 1.1: title, summary, content_text); links are http(s) only.
    assert "javascript:" not in text and "data:text/html" not in text
    for item in feed["items"]:
        assert item["url"].startswith("story/")
        links = [w for w in item["content_text"].split() if ":" in w and "/" in w]
        assert all(w.startswith(("http://", "https://")) for w in links), links


def test_titles_are_one_line_without_controls_or_overrides(site) -> None:  # type: ignore[no-untyped-def]
    feed = json.loads(site.files["stories.json"])
    for item in feed["items"]:
        for ch in ("\n", "\r", "\u2028", "\u202e", "\u200b", "\x1b"):
            assert ch not in item["title"] and ch not in item["content_text"].replace("\n", " ")
