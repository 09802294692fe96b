"""Main-text extraction from an article page: the only module that imports trafilatura.

The text is used for matching only and never published. Outlet boilerplate that the extractor
keeps (captions, share prompts, "also available at" lines) is removed later by recurrence across
the outlet's articles (text.recurring_lines).
"""

from __future__ import annotations

import trafilatura

from aggregator.ingest.sanitize import strip_controls

# Longest extracted text kept for matching; the clusterer reads only the lead anyway.
MAX_TEXT = 20_000


def extract(page: bytes, url: str) -> str:
    text = trafilatura.extract(
        page.decode("utf-8", "replace"),
        url=url,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
    )
    # Control characters out whatever the extractor keeps: PostgreSQL stores no NUL in text.
    return strip_controls(text or "")[:MAX_TEXT]
