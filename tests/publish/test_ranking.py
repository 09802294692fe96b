"""One ranking for the site, the digest and `clusters`: several outlets first, then by rank."""

from __future__ import annotations

from aggregator.model import Member, StoryView
from aggregator.publish.ranking import rank, ranked


def _story(sid: str, outlets: list[str], age_hours: float) -> StoryView:
    members = tuple(
        Member(i, o, f"{o} report", "", None, None, "2026-11-01T00:00:00Z",
               "seed" if i == 0 else "story", 1.0, None, (), None)
        for i, o in enumerate(outlets)
    )
    view = StoryView(sid, f"story {sid}", "", "2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z",
                     "2026-11-01T00:00:00Z", tuple(outlets), len(outlets), len(outlets), 0.0,
                     members)
    return StoryView(**{**view.__dict__, "rank": rank(view.independent_outlets, age_hours)})


def test_a_story_of_three_outlets_today_ranks_above_a_fresh_single_item() -> None:
    wide = _story("wide", ["A", "B", "C"], age_hours=22)
    fresh = _story("fresh", ["D"], age_hours=1)
    assert fresh.rank > wide.rank  # the decay alone would put the fresh item first
    assert [s.id for s in ranked([fresh, wide])] == ["wide", "fresh"]


def test_within_each_tier_more_outlets_and_newer_rank_higher() -> None:
    stories = [_story("old3", ["A", "B", "C"], 30), _story("new2", ["A", "B"], 0),
               _story("new3", ["A", "B", "C"], 0), _story("s1", ["A"], 5), _story("s0", ["B"], 0)]
    assert [s.id for s in ranked(stories)] == ["new3", "new2", "old3", "s0", "s1"]


def test_rank_halves_every_twelve_hours() -> None:
    assert rank(4, 0) == 4 and rank(4, 12) == 2 and rank(4, 24) == 1
    assert rank(2, -5) == 2  # a clock ahead of the newest article never inflates a story
