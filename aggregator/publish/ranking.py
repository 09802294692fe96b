"""What the site, the digest and the clusters command show: stories with their members.

Pure data types and the one ranking the site, the digest and `clusters` share; the query that
fills them is store.views.

Stories told by two or more outlets come first, then single-outlet items; within each, by
rank = independent outlets x 0.5^(age / RANK_HALF_LIFE_HOURS), where age runs from the story's
last update to the newest article in the database (not the wall clock), so an unchanged database
ranks the same every time.
"""

from __future__ import annotations

from dataclasses import dataclass

# A story loses half its weight every 12 hours without news: a three-outlet story from this
# morning outranks a five-outlet story from yesterday morning, not one from this afternoon.
RANK_HALF_LIFE_HOURS = 12.0


@dataclass(frozen=True)
class Member:
    article_id: int
    outlet: str
    title: str
    summary: str
    url: str | None
    published: str | None  # UTC ISO; None when the feed gave no usable date
    sort_time: str
    kind: str  # seed | story | copy | version | same_url
    score: float
    matched_article_id: int | None
    shared_terms: tuple[str, ...]
    copy_of: int | None
    country: str | None = None
    owner: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class StoryView:
    id: str
    title: str
    lead: str
    first_seen: str
    updated: str
    outlets_updated: str
    outlets: tuple[str, ...]
    independent_reports: int
    article_count: int
    rank: float
    members: tuple[Member, ...]

    @property
    def independent_outlets(self) -> int:
        return len({m.outlet for m in self.members if m.kind in ("seed", "story")})

    @property
    def single_outlet(self) -> bool:
        """Told by one outlet only: listed after the stories several outlets tell."""
        return len(self.outlets) < 2


def rank(independent_outlets: int, age_hours: float) -> float:
    decay: float = 0.5 ** (max(0.0, age_hours) / RANK_HALF_LIFE_HOURS)
    return round(independent_outlets * decay, 4)


def ranked(stories: list[StoryView]) -> list[StoryView]:
    """Stories of several outlets first, then single-outlet items; each by rank."""
    return sorted(
        stories,
        key=lambda s: (s.single_outlet, -s.rank, -len(s.outlets), s.first_seen, s.title, s.id),
    )
