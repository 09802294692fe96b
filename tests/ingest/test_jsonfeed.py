"""JSON Feed 1.0 and 1.1: the specification's examples, hostile documents, and a real poll."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import DATA, FeedServer, respond, stub_resolve, write_config

from aggregator.config import load_config
from aggregator.errors import ParseError
from aggregator.ingest import items
from aggregator.ingest.parse import parse_feed
from aggregator.ingest.poll import PollOptions, poll
from aggregator.store import open_db

NOW = datetime(2026, 11, 27, tzinfo=UTC)
FILES = DATA / "jsonfeed"
EXPECTED = json.loads((FILES / "expected.json").read_text(encoding="utf-8"))


def _parse(doc: object, content_type: str = "application/feed+json") -> object:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return parse_feed(body, {"Content-Type": content_type}, "https://example.org/feed.json",
                      None, NOW)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("content_type", ["application/feed+json", "application/json",
                                          "text/plain; charset=utf-8"])
def test_specification_examples(name: str, content_type: str) -> None:
    feed = _parse((FILES / name).read_bytes(), content_type)
    want = EXPECTED[name]
    assert feed.title == want["title"] and feed.link == want["link"]  # type: ignore[attr-defined]
    got = [{"key": a.key, "url": a.url, "title": a.title, "summary": a.summary,
            "author": a.author,
            "published": a.published.isoformat() if a.published else None}
           for a in feed.articles]  # type: ignore[attr-defined]
    assert got == want["items"]


def _item(**fields: object) -> dict[str, object]:
    return {"version": "https://jsonfeed.org/version/1.1", "title": "T",
            "items": [{"id": "x", "url": "https://example.org/x", **fields}]}


HOSTILE_HTML = ("<p>ok</p><script>alert(1)</script><img src=x onerror=alert(2)>"
                "<a href=\"javascript:alert(3)\">j</a><form><input type=password></form>"
                "<svg><a xlink:href=\"javascript:alert(4)\">s</a></svg>")


def test_markup_is_sanitised_and_text_is_one_line() -> None:
    feed = _parse(_item(title="Line one\nline two\u202eevil\u200b", content_html=HOSTILE_HTML,
                        summary="<b>bold</b>\r\nsecond", authors=[{"name": "A\nB\u2066"}]))
    (a,) = feed.articles  # type: ignore[attr-defined]
    assert a.title == "Line one line twoevil"
    assert a.author == "A B"
    for bad in ("<script", "onerror", "javascript:", "<form", "<input", "<svg"):
        assert bad not in a.content_html.lower()
    assert "&lt;b&gt;bold" not in a.summary and "bold" in a.summary


def test_a_missing_title_takes_one_line_of_the_summary() -> None:
    feed = _parse(_item(content_text="First line\nsecond line\n\nthird"))
    (a,) = feed.articles  # type: ignore[attr-defined]
    assert "\n" not in a.title and a.title.startswith("First line second line")


@pytest.mark.parametrize(("doc", "kind"), [
    (b"[" * 100_000, "not_a_feed"),  # nesting beyond the json module's recursion
    (b'{"version": "https://jsonfeed.org/version/1", "items": [], "n": ' + b"9" * 5000 + b"}",
     "not_a_feed"),  # a number of more digits than Python converts
    (b'{"items": []}', "not_a_feed"),
    (b"[1, 2, 3]", "not_a_feed"),
    (b'{"version": "https://example.org/not-jsonfeed", "items": []}', "not_a_feed"),
    (b'{"version": "https://jsonfeed.org/version/1.1", "items": "none"}', "parse_error"),
    (b"{not json", "not_a_feed"),
])
def test_broken_documents_are_refused_with_a_kind(doc: bytes, kind: str) -> None:
    with pytest.raises(ParseError) as e:
        _parse(doc)
    assert e.value.kind == kind


def test_values_of_the_wrong_type_are_ignored() -> None:
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": ["not", "text"],
           "items": [1, "x", None, [], {"id": {"x": 1}, "title": 5, "url": 7,
                                         "content_text": "kept text"},
                     {"id": True, "title": "bool id", "external_url": "https://example.org/e",
                      "date_published": 12}]}
    feed = _parse(doc)
    assert feed.title == ""  # type: ignore[attr-defined]
    first, second = feed.articles  # type: ignore[attr-defined]
    assert first.title == "kept text" and first.url is None and first.key.startswith("sha256:")
    assert second.key == "https://example.org/e" and second.published is None


def test_caps_dates_and_links() -> None:
    many = {"version": "https://jsonfeed.org/version/1",
            "items": [{"id": str(i), "title": "t" * 10_000, "url": "javascript:alert(1)",
                       "date_published": "2099-01-01T00:00:00Z" if i % 2 else "yesterday"}
                      for i in range(items.MAX_ITEMS + 50)]}
    feed = _parse(many)
    arts = feed.articles  # type: ignore[attr-defined]
    assert len(arts) == items.MAX_ITEMS
    assert all(len(a.title) == items.MAX_TITLE and a.url is None and a.published is None
               for a in arts)


def test_bytes_that_are_not_utf8_are_replaced_not_fatal() -> None:
    body = (b'{"version": "https://jsonfeed.org/version/1.1", "items": '
            b'[{"id": "1", "title": "caf\xe9 cr\xe8me"}]}')
    (a,) = _parse(body).articles  # type: ignore[attr-defined]
    assert a.title.startswith("caf") and "\ufffd" in a.title


def test_a_json_feed_is_polled_and_stored(server: FeedServer, tmp_path: Path) -> None:
    server.routes["/feed.json"] = respond((FILES / "spec-1.0-podcast.json").read_bytes(),
                                          content_type="application/feed+json")
    cfg = load_config(write_config(tmp_path, [{"url": server.url("/feed.json"),
                                               "outlet": "The Record"}]))
    db = open_db(cfg.settings.database)
    report = asyncio.run(poll(db, cfg, PollOptions(resolve=stub_resolve)))
    db.close()
    assert report.ok == 1 and report.new_articles == 1
    rows = sqlite3.connect(cfg.settings.database).execute(
        "SELECT key, title, published FROM articles").fetchall()
    assert rows == [("http://therecord.co/chris-parrish", "Special #1 - Chris Parrish",
                     "2014-05-09T21:04:00Z")]


@pytest.mark.parametrize(("given", "kept"), [
    ("en", "en"), (" EN-us ", "en-us"), ("pt_BR", "pt-br"), ("zh-Hant-TW", "zh-hant-tw"),
    ("fr\x00", None), ("en\nfr", None), ("", None), ("🇫🇷", None), (7, None), (None, None),
    ("english", "english"),
])
def test_a_language_is_kept_only_when_shaped_like_one(given: object, kept: str | None) -> None:
    assert items.language_tag(given) == kept


def test_nul_characters_reach_no_stored_field() -> None:
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "T\u0000", "language": "en\u0000",
           "items": [{"id": "1\u0000", "url": "https://e.org/a\u0000b", "title": "x\u0000y",
                      "content_html": "<p>a\u0000</p>", "summary": "s\u0000",
                      "authors": [{"name": "n\u0000"}], "language": "fr\u0000",
                      "date_published": "2026-11-01T00:00:00Z\u0000"}]}
    parsed = _parse(doc)
    values = [getattr(a, f) for a in parsed.articles for f in a.__dataclass_fields__]  # type: ignore[attr-defined]
    assert values and not [v for v in values if isinstance(v, str) and "\x00" in v]
