"""Every file of feedparser's corpus and other parsers' real-world fixtures goes through the
parser boundary without an exception escaping; property-based feeds do the same."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import SHARED
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.errors import ParseError
from aggregator.ingest.parse import parse_feed
from aggregator.ingest.sanitize import clean_html

NOW = datetime(2026, 11, 27, tzinfo=UTC)
CORPUS = SHARED / "feeds" / "feedparser-corpus" / "tests"
REAL = SHARED / "feeds" / "real-world"
REPLAY = SHARED / "feeds" / "replay"


def _files(root: Path, patterns: tuple[str, ...]) -> list[Path]:
    if not root.exists():
        return []
    return sorted(p for pat in patterns for p in root.rglob(pat) if p.is_file())


CORPUS_FILES = _files(CORPUS, ("*.xml", "*.rdf", "*.json", "*.atom", "*.rss"))
REAL_FILES = _files(REAL, ("*.xml", "*.rss", "*.atom", "*.json", "*.rdf"))
REPLAY_FILES = _files(REPLAY, ("*.xml",))


def _check(body: bytes, url: str) -> None:
    try:
        feed = parse_feed(body, {}, url, None, NOW)
    except ParseError as e:
        assert e.kind in ("not_a_feed", "parse_error")
        return
    for a in feed.articles:
        for text in (a.title, a.summary, a.author, a.key):
            assert not any(ord(c) < 32 and c not in "\n\t" for c in text)
            text.encode("utf-8")
        assert clean_html(a.content_html) == a.content_html
        assert a.url is None or a.url.startswith(("http://", "https://"))


@pytest.mark.skipif(not CORPUS_FILES, reason="shared/data/feeds/feedparser-corpus not present")
def test_feedparser_corpus() -> None:
    for path in CORPUS_FILES:
        _check(path.read_bytes(), "https://example.org/" + path.name)


@pytest.mark.skipif(not REAL_FILES, reason="shared/data/feeds/real-world not present")
def test_real_world_fixtures() -> None:
    for path in REAL_FILES:
        _check(path.read_bytes(), "https://example.org/" + path.name)


@pytest.mark.skipif(not REPLAY_FILES, reason="shared/data/feeds/replay not present")
def test_replay_captures_parse_fully() -> None:
    for path in REPLAY_FILES:
        feed = parse_feed(path.read_bytes(), {}, "https://example.org/feed", None, NOW)
        assert feed.articles and all(a.title for a in feed.articles)


MARKUP = st.sampled_from([
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<a href='javascript:x'>j</a>",
    "&amp;", "&#0;", "&#x1b;", "<![CDATA[cdata]]>", "\x00", "\x07", "\ud7ff", "é", "漢字", "‮",
    "<svg onload=alert(1)>", "<style>*{}</style>", "]]>", "<", "&", "&bogus;",
])
TEXT = st.lists(st.one_of(st.text(max_size=20), MARKUP), max_size=6).map("".join)


@st.composite
def feeds(draw: st.DrawFn) -> bytes:
    items = draw(st.lists(st.tuples(TEXT, TEXT, TEXT, TEXT), max_size=5))
    kind = draw(st.sampled_from(["rss", "atom", "json", "junk"]))
    if kind == "json":
        import json

        doc = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "t",
                          "items": [{"id": i, "title": t, "content_html": c, "url": u}
                                    for i, t, c, u in items]})
        body = doc.encode("utf-8", "surrogatepass")
    elif kind == "junk":
        body = draw(st.binary(max_size=300))
    else:
        def esc(s: str) -> str:
            return s if draw(st.booleans()) else s.replace("&", "&amp;").replace("<", "&lt;")
        if kind == "rss":
            inner = "".join(f"<item><guid>{esc(i)}</guid><title>{esc(t)}</title><description>"
                            f"{esc(c)}</description><link>{esc(u)}</link></item>" for i, t, c, u in items)
            doc = f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>x</title>{inner}</channel></rss>'
        else:
            inner = "".join(f"<entry><id>{esc(i)}</id><title>{esc(t)}</title><content type='html'>"
                            f"{esc(c)}</content><link href='{esc(u)}'/></entry>" for i, t, c, u in items)
            doc = f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>x</title>{inner}</feed>'
        enc = draw(st.sampled_from(["utf-8", "latin-1", "utf-16"]))
        body = doc.encode(enc, "replace") if enc != "utf-8" else doc.encode("utf-8", "surrogatepass")
    cut = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=len(body))))
    return body[:cut] if cut is not None else body


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(feeds())
def test_generated_feeds_never_escape_the_boundary(body: bytes) -> None:
    _check(body, "https://example.org/feed")


@pytest.mark.slow
@settings(max_examples=20000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(feeds())
def test_generated_feeds_slow_profile(body: bytes) -> None:
    _check(body, "https://example.org/feed")
