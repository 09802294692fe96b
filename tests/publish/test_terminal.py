"""Stories as the terminal shows them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from aggregator.model import Overview, Queue, StoryView
from aggregator.publish.terminal import format_story, json_array, overview_lines


@pytest.mark.parametrize(("outlets", "articles", "expected"), [
    (("Daily Planet",), 1, "1 outlet, 1 article, 1 independent"),
    (("Daily Planet", "Morning Post"), 3, "2 outlets, 3 articles, 2 independent"),
])
def test_story_block_counts_outlets_and_articles_in_words(
    outlets: tuple[str, ...], articles: int, expected: str
) -> None:
    story = StoryView("s1", "Bridge closed", "", "2026-11-01T08:00:00Z", "2026-11-01T09:00:00Z",
                      "2026-11-01T09:00:00Z", outlets, len(outlets), articles, 1.0, ())
    block = format_story(1, story, datetime(2026, 11, 1, 10, tzinfo=UTC))
    assert expected in block and "2h ago" in block


def test_the_status_lines_name_the_first_kinds_of_failure_and_count_the_rest() -> None:
    kinds = (("dns", 5), ("http_4xx", 3), ("timeout", 2), ("tls", 2), ("parse", 1), ("gone", 1))
    o = Overview(server=False, database="a.db", workers=(), feeds=20, failing=14,
                 failures=kinds, gone=0, never_polled=0, due=0, due_since=None, articles=0,
                 newest=None, queues=(Queue(None, 0, None),), digest_until=None)
    lines = list(overview_lines(o, datetime(2026, 12, 6, tzinfo=UTC)))
    assert lines[1] == ("feeds       20 listed: 6 ok, 14 failing (dns x5, http_4xx x3, timeout x2,"
                        " tls x2, 2 more kinds), 0 gone, 0 never polled; 0 due")


def test_the_status_lines_write_large_counts_with_thousands_separators() -> None:
    o = Overview(server=True, database="postgresql://db/news", workers=(("10.0.0.2", 1200),),
                 feeds=200_000, failing=19_896, failures=(("dns", 19_896),), gone=1_000,
                 never_polled=150_000, due=180_104, due_since=None, articles=2_000_000,
                 newest=None, queues=(Queue(None, 12_345, None, None),), digest_until=None)
    lines = list(overview_lines(o, datetime(2026, 12, 6, tzinfo=UTC)))
    assert lines[1:5] == [
        "workers     1,200 connected: 10.0.0.2 x1,200",
        "feeds       200,000 listed: 29,104 ok, 19,896 failing (dns x19,896), 1,000 gone,"
        " 150,000 never polled; 180,104 due",
        "articles    2,000,000 stored",
        "clustering  12,345 articles waiting; no clusterer runs",
    ]


@pytest.mark.parametrize("items", [
    [],
    [{"url": "https://a.example/feed", "ok": True}],
    [{"title": "Zürich\nline two", "members": [{"outlet": "A", "n": [1, 2]}], "none": None}, 3,
     "text", {}, []],
])
def test_a_json_array_printed_item_by_item_is_what_json_dumps_prints(items: list[Any]) -> None:
    printed = "".join(json_array(iter(items)))
    assert printed == json.dumps(items, indent=2, ensure_ascii=False) + "\n"
    assert json.loads(printed) == items
