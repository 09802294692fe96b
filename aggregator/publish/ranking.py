"""The order in which the site, the digest and the clusters command show stories.

The one ranking the site, the digest and `clusters` share, over the stories store.listing
reads.

Stories told by two or more outlets come first, then single-outlet items; within each, by
rank = independent outlets x 0.5^(age / RANK_HALF_LIFE_HOURS), where age runs from the story's
last update to the newest article in the database (not the wall clock), so an unchanged database
ranks the same every time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from aggregator.model import StoryQuery, StoryView
from aggregator.store import Database
from aggregator.store.listing import load_stories, newest_time
from aggregator.times import epoch

# A story loses half its weight every 12 hours without news: a three-outlet story from this
# morning outranks a five-outlet story from yesterday morning, not one from this afternoon.
RANK_HALF_LIFE_HOURS = 12.0


def rank(independent_outlets: int, age_hours: float) -> float:
    decay: float = 0.5 ** (max(0.0, age_hours) / RANK_HALF_LIFE_HOURS)
    return round(independent_outlets * decay, 4)


def ranked(stories: list[StoryView]) -> list[StoryView]:
    """Stories of several outlets first, then single-outlet items; each by rank."""
    return sorted(
        stories,
        key=lambda s: (s.single_outlet, -s.rank, -len(s.outlets), s.first_seen, s.title, s.id),
    )


def ranked_at(stories: Sequence[StoryView], newest: str | None) -> list[StoryView]:
    """``stories`` with their rank, ages counted to ``newest`` (the newest article), in order."""
    ref = epoch(newest) if newest else 0.0
    return ranked(
        [
            replace(s, rank=rank(s.independent_outlets, (ref - epoch(s.updated)) / 3600.0))
            for s in stories
        ]
    )


def current_stories(db: Database, query: StoryQuery | None = None) -> list[StoryView]:
    """The stories ``query`` asks for (store.listing), ranked."""
    return ranked_at(load_stories(db, query), newest_time(db))
