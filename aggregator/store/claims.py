"""Pollers' claims on due feeds: a claim moves the feed's ``next_due`` one lease ahead, so no
other poller takes it while it is polled, and the poll's own write sets the real next time. A
poller that dies leaves its feeds to come due again when their lease ends: no dispatcher, no
reaper (README, "Running on several machines").

On PostgreSQL, claimers skip the rows another claimer holds (FOR UPDATE SKIP LOCKED), so many
claim at once and none waits; on SQLite the one writer claims alone.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import cast

from aggregator.model import FeedState
from aggregator.store import Database, in_parts
from aggregator.store.feeds import state
from aggregator.times import iso

# Bits of an advisory lock's second key that number a host's places (per_host is at most 64).
PLACE_BITS = 6

_DUE = """
    SELECT url, host FROM feeds
    WHERE listed = 1 AND gone = 0 AND (next_due IS NULL OR next_due <= ?)
      AND (retry_until IS NULL OR retry_until <= ?) {full}
    ORDER BY next_due NULLS FIRST LIMIT ? {lock}"""


def claim_due(
    db: Database,
    now: datetime,
    lease: timedelta,
    limit: int,
    held: Mapping[str, int] | None = None,
    host_limit: int | None = None,
) -> list[FeedState]:
    """Claim up to ``limit`` of the listed feeds due at ``now``, longest due first, for
    ``lease``; each comes back with its state, its ``next_due`` the lease's end.

    With ``host_limit``, at most that many feeds of one host, counting those the poller holds
    already (``held``: how many, by host). The feeds of a busy host then stay due, for a poller
    with room for them, and the next due of other hosts are claimed instead: a query at a time,
    each leaving out the hosts the feeds claimed so far have filled."""
    lock = "FOR UPDATE SKIP LOCKED" if db.dialect == "postgresql" else ""
    counts = Counter(held or {})
    most = limit if host_limit is None else host_limit
    claimed: list[FeedState] = []
    while len(claimed) < limit:
        full = [h for h, n in counts.items() if n >= most]
        skip = f"AND COALESCE(host, '') NOT IN ({','.join('?' * len(full))})" if full else ""
        wanted = limit - len(claimed)
        with db.transaction():
            due = db.execute(
                _DUE.format(full=skip, lock=lock), (iso(now), iso(now), *full, wanted)
            ).fetchall()
            chosen = []
            for url, host in due:
                if counts[host or ""] < most:
                    counts[host or ""] += 1
                    chosen.append(url)
            for part, marks in in_parts(chosen):
                rows = db.query(
                    f"UPDATE feeds SET next_due = ? WHERE url IN ({marks}) RETURNING *",
                    (iso(now + lease), *part),
                )
                claimed += [state(r) for r in rows]
        if len(due) < wanted or not chosen:
            break  # no more are due
    return sorted(claimed, key=lambda s: s.url)


def clock_ahead(db: Database, now: datetime) -> timedelta:
    """How far ``now``, by a poller's clock, is ahead of the database server's clock (behind:
    negative). Claims and leases are timed by each poller's clock, so the pollers' clocks must
    agree. Zero on SQLite, whose one poller runs where its file is."""
    if db.dialect != "postgresql":
        return timedelta(0)
    (server,) = db.execute("SELECT now()").fetchone()
    return now - cast(datetime, server)


# A claim's lease moved to end at another time, if it still ends when its holder last set it.
_MOVE = "UPDATE feeds SET next_due = :until WHERE url = :url AND next_due = :held RETURNING url"


def renew(db: Database, url: str, held_until: str, until: datetime) -> str | None:
    """Move the claim on ``url`` that ends at ``held_until`` (as stored) to end at ``until``;
    the new end as stored, or None if the feed holds no such claim any more."""
    new = iso(until)
    with db.transaction():
        rows = db.query(_MOVE, {"until": new, "url": url, "held": held_until})
    return new if rows else None


def give_back(db: Database, held: Sequence[tuple[str, str]], now: datetime) -> None:
    """The claims ``held`` (each feed's URL and its lease's end as stored) given back: each feed
    due at ``now``, unless another poller has claimed it since."""
    with db.transaction():
        for u, h in held:
            db.query(_MOVE, {"until": iso(now), "url": u, "held": h})


# A host's first free place from a given one on, locked. The places this poller holds are left
# out before any is tried (a materialized CTE is evaluated apart): the lock is re-entrant, so
# trying one held already would stack a second lock on it, which one release leaves held.
_TAKE = """
    WITH free AS MATERIALIZED (
        SELECT s FROM (SELECT (g + ?) % ? AS s, g FROM generate_series(0, ? - 1) AS g) AS p
        WHERE s <> ALL(?::int[]) ORDER BY g
    )
    SELECT s FROM free WHERE pg_try_advisory_lock(?, ? + s) LIMIT 1"""


def take_host_slot(db: Database, host: str, slots: int, held: Collection[int]) -> int | None:
    """One of the ``slots`` places a host has for fetches at once across every poller (``held``:
    those this poller holds already), or None while all are taken. On PostgreSQL a place is a
    session advisory lock, let go when the poller's connection ends; SQLite has one poller.
    The places are tried in one statement, from a random one on, so pollers spread over them."""
    if db.dialect != "postgresql":
        return 0
    first, base = _host_keys(host)
    start = random.randrange(slots)
    found = db.execute(_TAKE, (start, slots, slots, list(held), first, base)).fetchone()
    return None if found is None else int(found[0])


def release_host_slot(db: Database, host: str, slot: int) -> None:
    if db.dialect == "postgresql":
        first, base = _host_keys(host)
        db.execute("SELECT pg_advisory_unlock(?, ?)", (first, base + slot))


def _host_keys(host: str) -> tuple[int, int]:
    """A host's places as advisory locks of two signed 32-bit keys (a key space apart from the
    clusterer's 64-bit ones): the first key, and the second's for place 0, place ``s`` being
    that plus ``s``. 58 bits of the host's hash tell hosts apart; the low PLACE_BITS are the
    place's."""
    digest = int.from_bytes(hashlib.blake2b(host.encode(), digest_size=8).digest(), "big")
    rest = (digest >> PLACE_BITS) & ((1 << (32 - PLACE_BITS)) - 1)
    return (digest >> 32) - 2**31, (rest << PLACE_BITS) - 2**31
