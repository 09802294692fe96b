"""URL canonicalisation."""

from __future__ import annotations

import pytest

from aggregator import urls


@pytest.mark.parametrize(("url", "expected"), [
    ("https://Example.org/a?utm_source=x&id=3&fbclid=y#frag", "https://example.org/a?id=3"),
    ("http://example.org:80/p?gclid=1", "http://example.org/p"),
    ("/rel/path?mc_cid=1", "https://base.example/rel/path"),
    ("javascript:alert(1)", None), ("data:text/html,hi", None), ("", None),
])
def test_canonical_urls(url: str, expected: str | None) -> None:
    assert urls.canonical(url, "https://base.example/feed") == expected
