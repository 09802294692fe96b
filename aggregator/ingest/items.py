"""One item of any feed format to an Article: caps, sanitising, one-line text fields, keys.

Pure functions shared by the XML parser (parse.py, feedparser) and the JSON Feed parser
(jsonfeed.py), so every format gets the same limits and the same cleaning.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta

from aggregator import urls
from aggregator.config import MINUTES_IN_A_YEAR
from aggregator.ingest import sanitize
from aggregator.model import Article

# Per-feed and per-field caps, well above real feeds: anything past them is cut, never stored.
MAX_ITEMS = 500
MAX_TITLE = 400
MAX_SUMMARY = 4000
MAX_CONTENT = 100_000
MAX_AUTHOR = 200
MAX_KEY = 1000
MAX_RAW_DATE = 100
# The words of a summary that stand in for a missing title.
TITLE_FROM_SUMMARY = 120
# A date more than this far ahead of the fetch is treated as missing (clock skew allowance).
FUTURE_SLACK = timedelta(minutes=15)
# Dates before this year are treated as missing (a zero or garbage timestamp).
EARLIEST_YEAR = 1990
# A feed's ttl (minutes) past a year is ignored: no schedule waits longer.
MAX_TTL_MINUTES = MINUTES_IN_A_YEAR
# The most digits read of a number a feed gives (a ttl of hundreds of digits is no schedule).
MAX_DIGITS = 9
# A language as a feed may give it: a BCP 47 tag's shape ("en", "pt-br", "zh-hant"), lowercased.
_LANGUAGE = re.compile(r"[a-z]{2,8}(?:-[a-z0-9]{1,8})*")
# The longest language tag kept.
MAX_LANGUAGE = 10


def ttl_minutes(value: object) -> int | None:
    """A feed's ``ttl`` in minutes when it is a whole number from 1 to MAX_TTL_MINUTES."""
    text = str(value).strip() if value is not None else ""
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_DIGITS:
        return None
    minutes = int(text)
    return minutes if 1 <= minutes <= MAX_TTL_MINUTES else None


def usable_date(dt: datetime | None, now: datetime) -> datetime | None:
    """``dt`` when it is plausible for a news item fetched at ``now``, else None."""
    if dt is None or dt > now + FUTURE_SLACK or dt.year < EARLIEST_YEAR:
        return None
    return dt


def article(
    *,
    guid: str,
    link: str | None,
    base: str,
    title: str,
    content_html: str,
    summary_html: str,
    author: str,
    published: datetime | None,
    raw_date: str,
    language: str | None,
) -> Article | None:
    """The Article of an item as its feed gives it (HTML fields untrusted), or None when it has
    neither a title nor a summary."""
    url = urls.canonical(link, base)
    clean = sanitize.clean_html((content_html or summary_html)[:MAX_CONTENT])[:MAX_CONTENT]
    # The summary's text comes from the already sanitised HTML when they are the same field.
    same = not content_html or not summary_html or summary_html == content_html
    summary = sanitize.to_text(clean if same else summary_html)[:MAX_SUMMARY]
    headline = sanitize.one_line(title)[:MAX_TITLE]
    if not headline and not summary:
        return None
    key = sanitize.strip_controls(guid).strip()[:MAX_KEY] or (url or "")[:MAX_KEY]
    if not key:
        digest = hashlib.sha256(f"{link}\0{title}\0{raw_date}".encode("utf-8", "surrogatepass"))
        key = "sha256:" + digest.hexdigest()
    return Article(
        key=key,
        url=url,
        title=headline or sanitize.one_line(summary)[:TITLE_FROM_SUMMARY],
        summary=summary,
        content_html=clean,
        author=sanitize.one_line(author)[:MAX_AUTHOR],
        published=published,
        published_raw=sanitize.one_line(raw_date[:MAX_RAW_DATE]),
        language=language,
    )


def language_tag(value: object) -> str | None:
    """A feed's or an item's language, lowercased, or None when it is not shaped like one."""
    if not isinstance(value, str):
        return None
    tag = value.strip().lower().replace("_", "-")[:MAX_LANGUAGE].rstrip("-")
    return tag if _LANGUAGE.fullmatch(tag) else None
