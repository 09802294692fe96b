"""Terminal formatting of stories: aligned blocks that stay readable in 80 columns."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from aggregator.matching.metrics import Mistake
from aggregator.model import FeedHealth, Overview, PollReport, StoryView
from aggregator.times import epoch


def _c(text: str, code: str, colour: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if colour else text


def _age(stamp: str, now: datetime) -> str:
    minutes = int(max(0.0, now.timestamp() - epoch(stamp)) // 60)
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h"
    return f"{minutes // 1440}d"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def format_story(i: int, s: StoryView, now: datetime, width: int = 80, colour: bool = False) -> str:
    head = f"{i:>3}. "
    lines = textwrap.wrap(s.title, width - len(head)) or [""]
    out = [_c(head + lines[0], "1", colour)] + ["     " + x for x in lines[1:]]
    meta = (
        f"{_count(len(s.outlets), 'outlet')}, {_count(s.article_count, 'article')}, "
        f"{s.independent_reports} independent, first seen "
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


def feeds_table(rows: Sequence[FeedHealth], verbose: bool, colour: bool) -> Iterator[str]:
    width = max([len(h.outlet) for h in rows] + [6])
    yield f"{'outlet':<{width}}  status        http  fails  articles  last new"
    for h in rows:
        status = "gone" if h.gone else "ok" if h.ok else (h.error_kind or "never polled")
        code = "32" if h.ok else "31" if h.last_polled else "33"
        yield (
            f"{h.outlet:<{width}}  {_c(f'{status:<12}', code, colour)}  "
            f"{h.last_status or '-':>4}  {h.failures:>5}  {h.articles:>8}  "
            f"{h.last_new_article or '-'}"
        )
        if h.redirect_to:
            yield f"{'':<{width}}  moved permanently to {h.redirect_to} (update feeds.toml)"
        if not h.ok and h.error and verbose:
            yield f"{'':<{width}}  {h.error}"


# The fields of `feeds --json`: every FeedHealth field, in its order.
FEED_FIELDS = tuple(f.name for f in fields(FeedHealth))


def feed_json(h: FeedHealth) -> dict[str, Any]:
    """One feed as `feeds --json` prints it: its fields as they are (a FeedHealth is flat, so
    without asdict's deep copy of each, most of the time of 200,000 feeds)."""
    return {name: getattr(h, name) for name in FEED_FIELDS}


def story_json(s: StoryView) -> dict[str, Any]:
    """One story in the `clusters --json` contract (README, "JSON contracts")."""
    return {
        "id": s.id,
        "title": s.title,
        "rank": s.rank,
        "first_seen": s.first_seen,
        "updated": s.updated,
        "outlets": list(s.outlets),
        "independent_reports": s.independent_reports,
        "articles": [
            {
                "id": m.article_id,
                "outlet": m.outlet,
                "title": m.title,
                "url": m.url,
                "published": m.published,
                "copy_of": m.copy_of,
            }
            for m in s.members
        ],
    }


CSV_COLUMNS = (
    "story_id",
    "rank",
    "story_title",
    "first_seen",
    "updated",
    "outlet",
    "article_id",
    "title",
    "url",
    "published",
    "copy_of",
)


def json_array(items: Iterable[object]) -> Iterator[str]:
    """``items`` as one JSON array, as ``json.dumps(list(items), indent=2)`` writes it, made an
    item at a time: a list of 200,000 feeds is printed without holding all of its text."""
    encoder = json.JSONEncoder(indent=2, ensure_ascii=False)
    first = True
    for item in items:
        text = encoder.encode(item).replace("\n", "\n  ")
        yield ("[\n  " if first else ",\n  ") + text
        first = False
    yield "[]\n" if first else "\n]\n"


def stories_csv(stories: Sequence[StoryView]) -> str:
    """One row per article of each story."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for s in stories:
        for m in s.members:
            w.writerow(
                [
                    s.id,
                    s.rank,
                    s.title,
                    s.first_seen,
                    s.updated,
                    m.outlet,
                    m.article_id,
                    m.title,
                    m.url,
                    m.published,
                    m.copy_of or "",
                ]
            )
    return buf.getvalue()


# How an article repeats another, and the measure its score is in.
_COPY_LABELS = {
    "copy": ("copy of", "Jaccard"),
    "same_url": ("same URL as", "text similarity"),
    "version": ("new version of", "text similarity"),
}


def explain_lines(s: StoryView) -> Iterator[str]:
    """Why each member is in the story, from the stored evidence."""
    yield f"{s.id}: {s.title}"
    titles = {m.article_id: f"{m.outlet}: {m.title}" for m in s.members}
    for m in s.members:
        yield f"  [{m.article_id}] {m.outlet}: {m.title}"
        if m.kind == "seed":
            why = "founded the story (no earlier match)"
        elif m.kind in _COPY_LABELS:
            label, measure = _COPY_LABELS[m.kind]
            why = f"{label} [{m.matched_article_id}] ({measure} {m.score:.2f})"
        else:
            why = (
                f"story match with [{m.matched_article_id}] "
                f"{titles.get(m.matched_article_id or 0, '')} (similarity {m.score:.2f})"
            )
        yield f"      {m.kind}: {why}"
        if m.shared_terms:
            yield f"      shared terms: {', '.join(m.shared_terms)}"


def mistakes_report(
    merges: Sequence[Mistake],
    splits: Sequence[Mistake],
    ids: Sequence[str],
    titles: Sequence[str],
    n: int,
    width: int = 80,
) -> Iterator[str]:
    """The ``n`` costliest merges and splits of `aggregator eval`, a block each: its groups of
    articles (a dash opens each group), every article as its id and title cut to the width."""
    blocks = (
        ("merges", merges, "clusters holding several gold stories", "wrongly together"),
        ("splits", splits, "gold stories in several clusters", "wrongly apart"),
    )
    for name, found, what, cost in blocks:
        shown = found[:n]
        yield f"\n{name} ({what}): " + (
            f"the {len(shown)} costliest of {len(found)}" if found else "none"
        )
        for m in shown:
            articles = _count(sum(len(g) for g in m.groups), "article")
            yield f"  {articles}, {_count(m.pairs, 'pair')} {cost}"
            for g in m.groups:
                for k, i in enumerate(g):
                    line = f"    {'-' if k == 0 else ' '} {ids[i]}  {titles[i]}"
                    yield line if len(line) <= width else line[: width - 1] + "…"


# Failure kinds named one by one in a poll's line; the rest are counted.
SHOWN_KINDS = 4
# The longest example error quoted for a kind of failure.
EXAMPLE_CHARS = 80
_WAIT_LABELS = {
    "scheduled": "not due yet",
    "backoff": "backing off after failures",
    "retry_after": "asked to wait (Retry-After)",
    "gone": "gone (410)",
}


def poll_line(r: PollReport) -> str:
    """What a poll did, in one line: counts, failures by kind with an example each, and the
    feeds left waiting with the time of the next attempt."""
    if not r.outcomes and not r.waiting:
        return "no feeds configured"
    line = f"{r.ok} feeds ok, {r.failed} failed, {r.new_articles} new articles"
    if r.failed:
        line += f"; failed: {_failures(r)}; see `aggregator feeds --failing -v`"
    if r.waiting:
        line += f"; {len(r.waiting)} waiting: {_waiting(r)}"
    return line


def _failures(r: PollReport) -> str:
    """The failures by kind, most first: each counted, with the first one's message."""
    failed = [o for o in r.outcomes if not o.ok]
    kinds = Counter(o.error_kind or "unknown" for o in failed)
    example: dict[str, str] = {}
    for o in failed:
        example.setdefault(o.error_kind or "unknown", o.error or "")
    ordered = sorted(kinds.items(), key=lambda kn: (-kn[1], kn[0]))
    return _kinds([f"{kind} x{n} ({_cut(example[kind])})" for kind, n in ordered])


def _kinds(shown: Sequence[str]) -> str:
    """Failure kinds, most first, the first SHOWN_KINDS of them and how many more."""
    more = [f"{len(shown) - SHOWN_KINDS} more kinds"] if len(shown) > SHOWN_KINDS else []
    return ", ".join([*shown[:SHOWN_KINDS], *more])


def _waiting(r: PollReport) -> str:
    """The feeds left waiting, by why, and the time of the next attempt."""
    reasons = Counter(w.reason for w in r.waiting)
    text = ", ".join(f"{n} {_WAIT_LABELS[k]}" for k, n in sorted(reasons.items()))
    upcoming = [w.next_attempt for w in r.waiting if w.next_attempt is not None]
    if upcoming:
        text += f", next attempt {min(upcoming).strftime('%Y-%m-%d %H:%M')} UTC"
    return text


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"


def overview_lines(o: Overview, now: datetime) -> Iterator[str]:
    """The pipeline at a glance: a line each for the database, the feeds, the articles, the
    clustering and the digest."""
    yield f"database    {o.database}"
    if o.server:
        connected = sum(n for _, n in o.workers)
        where = ", ".join(f"{address}" + (f" x{n:,}" if n > 1 else "") for address, n in o.workers)
        yield f"workers     {connected:,} connected" + (f": {where}" if where else "")
    feeds = (
        f"{o.feeds:,} listed: {o.feeds - o.failing - o.gone - o.never_polled:,} ok,"
        f" {o.failing:,} failing"
    )
    if o.failures:
        feeds += f" ({_kinds([f'{kind} x{n:,}' for kind, n in o.failures])})"
    feeds += f", {o.gone:,} gone, {o.never_polled:,} never polled; {o.due:,} due"
    if o.due_since:
        feeds += f", the longest for {_age(o.due_since, now)}"
    yield f"feeds       {feeds}"
    articles = f"{o.articles:,} stored"
    if o.newest:
        articles += f", the newest {_age(o.newest, now)} ago"
    yield f"articles    {articles}"
    for i, q in enumerate(o.queues):
        waiting = f"{q.partition}: " if q.partition is not None else ""
        waiting += f"{q.waiting:,} articles waiting"
        if q.waiting_since:
            waiting += f", the longest for {_age(q.waiting_since, now)}"
        if o.server:
            waiting += f"; clusterer: {q.clusterer}" if q.clusterer else "; no clusterer runs"
        yield f"{'clustering' if i == 0 else '':<12}{waiting}"
    yield f"digest      {'last sent up to ' + o.digest_until if o.digest_until else 'none sent yet'}"
