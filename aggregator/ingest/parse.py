"""Feed bytes to ParsedFeed: the only module that imports feedparser.

Runs inside a worker process (see workers.py) because feedparser has regular-expression
blow-ups on hostile input. The body is always handed over as ``io.BytesIO`` with the response
headers; a bare bytes/str body would be taken for a file name or URL.
"""

from __future__ import annotations

import calendar
import io
import re
from datetime import UTC, datetime
from typing import Any

import feedparser

from aggregator import urls
from aggregator.errors import ParseError
from aggregator.ingest import items, jsonfeed, sanitize
from aggregator.model import Article, ParsedFeed

_ITEM_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>", re.IGNORECASE)


def cap_items(body: bytes, max_items: int = items.MAX_ITEMS) -> bytes:
    """Cut an XML feed after its ``max_items``-th item: feedparser's cost grows with the whole
    document, and the rest is never kept. The lenient parser reads the unclosed remainder."""
    for n, m in enumerate(_ITEM_END.finditer(body), start=1):
        if n == max_items:
            return body[: m.end()]
    return body


def parse_feed(
    body: bytes, headers: dict[str, str], final_url: str, language: str | None, now: datetime
) -> ParsedFeed:
    if jsonfeed.looks_like(body, headers):
        return jsonfeed.parse(body, final_url, language, now)
    body = cap_items(body)
    # The response headers (content type and charset) go to feedparser; the final URL does
    # not as content-location: we resolve links ourselves against it, so feedparser need not keep
    # a base URI per element (docs/tuning.md, "Speed").
    hdrs = {k.lower(): v for k, v in headers.items() if k.lower() != "content-location"}
    try:
        # No work twice: we sanitise with nh3 and resolve links ourselves, so feedparser's own
        # sanitiser and resolver are off.
        d = feedparser.parse(
            io.BytesIO(body),
            response_headers=hdrs,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as e:  # feedparser raises anything from its dependencies
        raise ParseError("parse_error", f"feed parser failed: {type(e).__name__}: {e}") from e
    entries = d.get("entries") or []
    if not d.get("version") and not entries:
        reason = d.get("bozo_exception")
        detail = f": {type(reason).__name__}: {reason}"[:200] if reason else ""
        raise ParseError("not_a_feed", f"not an RSS, Atom or JSON feed{detail}")
    feed = d.get("feed") or {}
    base = urls.canonical(feed.get("link"), final_url) or final_url
    lang = language or items.language_tag(feed.get("language"))
    articles = []
    for entry in entries[: items.MAX_ITEMS]:
        a = _article(entry, base, lang, now)
        if a is not None:
            articles.append(a)
    return ParsedFeed(
        title=sanitize.one_line(str(feed.get("title") or ""))[: items.MAX_TITLE],
        articles=tuple(articles),
        ttl_minutes=items.ttl_minutes(feed.get("ttl")),
        link=urls.canonical(feed.get("link"), final_url),
    )


def _date(e: Any, now: datetime) -> tuple[datetime | None, str]:
    raw = ""
    # dict.get: FeedParserDict.get maps updated->published with a DeprecationWarning.
    for key in ("published", "updated", "created"):
        if dict.get(e, key):
            raw = str(dict.get(e, key))[: items.MAX_RAW_DATE]
            break
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = dict.get(e, key)
        if parsed:
            try:
                dt = datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
            except (OverflowError, ValueError, TypeError, OSError):
                continue
            return items.usable_date(dt, now), raw
    return None, raw


def _article(e: Any, base: str, language: str | None, now: datetime) -> Article | None:
    content = ""
    if dict.get(e, "content"):
        content = str(e["content"][0].get("value") or "")
    published, raw = _date(e, now)
    return items.article(
        guid=str(e.get("id") or ""),
        link=str(e.get("link") or ""),
        base=base,
        title=str(e.get("title") or ""),
        content_html=content,
        summary_html=str(dict.get(e, "summary") or ""),
        author=str(e.get("author") or ""),
        published=published,
        raw_date=raw,
        language=language,
    )
