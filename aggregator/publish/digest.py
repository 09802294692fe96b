"""What goes in an e-mail digest. Pure: stories in, sections out.

A digest covers the stories new or updated since the previous digest of the same list:
- new stories: first linked after the previous digest, told by two or more outlets;
- stories with new outlets: older stories that gained an outlet since then;
- single-source items (when enabled): new stories told by one outlet.
Ranked like the site.
"""

from __future__ import annotations

from dataclasses import dataclass

from aggregator.model import StoryView

# At most this many stories per section: a morning digest is read in minutes.
MAX_PER_SECTION = 25


@dataclass(frozen=True)
class Digest:
    period: str  # YYYY-MM-DD (UTC) the digest is for
    since: str
    until: str
    new: tuple[StoryView, ...]
    updated: tuple[StoryView, ...]
    singles: tuple[StoryView, ...]

    @property
    def empty(self) -> bool:
        return not (self.new or self.updated or self.singles)

    @property
    def top(self) -> StoryView | None:
        for section in (self.new, self.updated, self.singles):
            if section:
                return section[0]
        return None


def choose(
    stories: list[StoryView],
    linked_first: dict[str, str],
    period: str,
    since: str,
    until: str,
    single_source: bool,
) -> Digest:
    """``linked_first`` maps story id -> when its first article was linked (UTC ISO)."""
    new: list[StoryView] = []
    updated: list[StoryView] = []
    singles: list[StoryView] = []
    for s in stories:
        first = linked_first.get(s.id, "")
        if not since < s.outlets_updated <= until and not since < first <= until:
            continue
        is_new = first > since
        if not s.single_outlet:
            (new if is_new else updated).append(s)
        elif is_new and single_source:
            singles.append(s)
    return Digest(
        period,
        since,
        until,
        tuple(new[:MAX_PER_SECTION]),
        tuple(updated[:MAX_PER_SECTION]),
        tuple(singles[:MAX_PER_SECTION]),
    )
