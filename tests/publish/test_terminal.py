"""Stories as the terminal shows them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aggregator.model import StoryView
from aggregator.publish.terminal import format_story


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
