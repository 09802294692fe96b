"""Terminal formatting of stories: aligned blocks that stay readable in 80 columns."""

from __future__ import annotations

import textwrap
from datetime import datetime

from .store.stories import epoch
from .views import StoryView


def _c(text: str, code: str, colour: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if colour else text


def _age(stamp: str, now: datetime) -> str:
    minutes = int(max(0.0, now.timestamp() - epoch(stamp)) // 60)
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h"
    return f"{minutes // 1440}d"


def format_story(i: int, s: StoryView, now: datetime, width: int = 80, colour: bool = False) -> str:
    head = f"{i:>3}. "
    lines = textwrap.wrap(s.title, width - len(head)) or [""]
    out = [_c(head + lines[0], "1", colour)] + ["     " + x for x in lines[1:]]
    meta = (
        f"{len(s.outlets)} outlets, {s.independent_reports} independent, first seen "
        f"{s.first_seen[:16].replace('T', ' ')}, {_age(s.first_seen, now)} ago, rank {s.rank:g}"
    )
    out += ["     " + x for x in textwrap.wrap(meta, width - 5)]
    out += ["     " + _c(x, "2", colour) for x in textwrap.wrap(", ".join(s.outlets), width - 5)]
    for m in s.members:
        mark = "=" if m.copy_of else "-"
        lead = f"     {mark} {m.outlet}: "
        wrapped = textwrap.wrap(m.title, width - len(lead)) or [""]
        out.append(lead + wrapped[0])
        out += [" " * len(lead) + x for x in wrapped[1:]]
    return "\n".join(out)
