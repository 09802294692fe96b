"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org) to ParsedFeed, with the standard library's json.

feedparser reads RSS and Atom only. Items go through items.article, so a JSON Feed gets the same
caps, sanitising and keys as any other feed; every value is checked for its type, since the
document is as untrusted as an XML one. Runs in the parse worker like parse.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aggregator import urls
from aggregator.errors import ParseError
from aggregator.ingest import items, sanitize
from aggregator.model import Article, ParsedFeed

_VERSION = "https://jsonfeed.org/version/"
_TYPES = ("application/feed+json", "application/json")


def looks_like(body: bytes, headers: dict[str, str]) -> bool:
    """A JSON document by its content type, or by its first character when the type says
    nothing better (servers send JSON Feeds as text/plain or octet-stream too)."""
    kind = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    media = kind.split(";")[0].strip().lower()
    return media in _TYPES or media.endswith("+json") or _first(body) == b"{"


def _first(body: bytes) -> bytes:
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]


def parse(body: bytes, final_url: str, language: str | None, now: datetime) -> ParsedFeed:
    try:
        doc = json.loads(body.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError) as e:  # RecursionError: nesting beyond any real feed
        raise ParseError("not_a_feed", f"not an RSS, Atom or JSON feed: bad JSON: {e}"[:200]) from e
    if not isinstance(doc, dict) or not _text(doc.get("version")).startswith(_VERSION):
        raise ParseError("not_a_feed", "JSON without a JSON Feed version (jsonfeed.org)")
    entries = doc.get("items")
    if not isinstance(entries, list):
        raise ParseError("parse_error", "JSON Feed without a list of items")
    home = urls.canonical(_text(doc.get("home_page_url")), final_url)
    base = home or final_url
    lang = language or items.language_tag(doc.get("language"))
    feed_author = _author(doc)
    articles: list[Article] = []
    for entry in entries[: items.MAX_ITEMS]:
        if isinstance(entry, dict):
            a = _article(entry, base, lang, feed_author, now)
            if a is not None:
                articles.append(a)
    return ParsedFeed(
        title=sanitize.one_line(_text(doc.get("title")))[: items.MAX_TITLE],
        articles=tuple(articles),
        ttl_minutes=None,
        link=home,
    )


def _article(
    e: dict[str, Any], base: str, language: str | None, feed_author: str, now: datetime
) -> Article | None:
    raw = _text(e.get("date_published")) or _text(e.get("date_modified"))
    guid = e.get("id")
    return items.article(
        # JSON Feed 1.0 allowed numeric ids; a bool or an object is no id.
        guid=str(guid) if isinstance(guid, str | int) and not isinstance(guid, bool) else "",
        link=_text(e.get("url")) or _text(e.get("external_url")),
        base=base,
        title=_text(e.get("title")),
        content_html=_text(e.get("content_html")) or _paragraphs(_text(e.get("content_text"))),
        summary_html=_paragraphs(_text(e.get("summary"))),
        author=_author(e) or feed_author,
        published=items.usable_date(_date(raw), now),
        raw_date=raw,
        language=items.language_tag(e.get("language")) or language,
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _author(obj: dict[str, Any]) -> str:
    """``authors`` (1.1: a list of objects) or ``author`` (1.0: one object): the first name."""
    found = obj.get("authors")
    people = found if isinstance(found, list) else [obj.get("author")]
    for person in people:
        if isinstance(person, dict) and _text(person.get("name")).strip():
            return _text(person.get("name"))
    return ""


def _paragraphs(text: str) -> str:
    """Plain text as HTML paragraphs (escaped), so it is sanitised and shown like content_html."""
    blocks = [b.strip() for b in text[: items.MAX_CONTENT].split("\n\n")]
    return "".join(f"<p>{sanitize.escape(b)}</p>" for b in blocks if b)


def _date(value: str) -> datetime | None:
    """An RFC 3339 date (as JSON Feed requires), in UTC; None when unreadable."""
    try:
        dt = datetime.fromisoformat(value.strip()[: items.MAX_RAW_DATE])
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)
