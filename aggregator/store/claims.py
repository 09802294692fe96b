"""Pollers' claims on due feeds: a claim moves the feed's ``next_due`` one lease ahead, so no
other poller takes it while it is polled, and the poll's own write sets the real next time. A
poller that dies leaves its feeds to come due again when their lease ends: no dispatcher, no
reaper (README, "Running on several machines").

On PostgreSQL, claimers skip the rows another claimer holds (FOR UPDATE SKIP LOCKED), so many
claim at once and none waits; on SQLite the one writer claims alone.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Collection
from datetime import datetime, timedelta

from aggregator.model import FeedState
from aggregator.store import Database
from aggregator.store.feeds import state
from aggregator.times import iso

_CLAIM = """
    UPDATE feeds SET next_due = :lease_end
    WHERE url IN (
        SELECT url FROM feeds
        WHERE listed = 1 AND gone = 0 AND (next_due IS NULL OR next_due <= :now)
          AND (retry_until IS NULL OR retry_until <= :now)
        ORDER BY next_due NULLS FIRST LIMIT :limit {lock})
    RETURNING *"""


def claim_due(db: Database, now: datetime, lease: timedelta, limit: int) -> list[FeedState]:
    """Claim up to ``limit`` of the listed feeds due at ``now``, longest due first, for
    ``lease``; each comes back with its state, its ``next_due`` the lease's end."""
    lock = "FOR UPDATE SKIP LOCKED" if db.dialect == "postgresql" else ""
    with db.transaction():
        rows = db.query(
            _CLAIM.format(lock=lock),
            {"now": iso(now), "lease_end": iso(now + lease), "limit": limit},
        )
    return sorted((state(r) for r in rows), key=lambda s: s.url)


def renew(db: Database, url: str, held_until: str, until: datetime) -> str | None:
    """Move the claim on ``url`` that ends at ``held_until`` (as stored) to end at ``until``;
    the new end as stored, or None if the feed holds no such claim any more."""
    new = iso(until)
    with db.transaction():
        rows = db.query(
            "UPDATE feeds SET next_due = :until WHERE url = :url AND next_due = :held RETURNING url",
            {"until": new, "url": url, "held": held_until},
        )
    return new if rows else None


def take_host_slot(db: Database, host: str, slots: int, held: Collection[int]) -> int | None:
    """One of the ``slots`` places a host has for fetches at once across every poller (``held``:
    those this poller holds already), or None while all are taken. On PostgreSQL a place is a
    session advisory lock, let go when the poller's connection ends; SQLite has one poller.
    The places are tried in one statement, from a random one on, so pollers spread over them."""
    if db.dialect != "postgresql":
        return 0
    found = db.execute(
        "SELECT s FROM (SELECT (g + ?) % ? AS s FROM generate_series(0, ? - 1) AS g) AS p"
        " WHERE s <> ALL(?::int[]) AND pg_try_advisory_lock(?, s) LIMIT 1",
        (random.randrange(slots), slots, slots, list(held), _host_key(host)),
    ).fetchone()
    return None if found is None else int(found[0])


def release_host_slot(db: Database, host: str, slot: int) -> None:
    if db.dialect == "postgresql":
        db.execute("SELECT pg_advisory_unlock(?, ?)", (_host_key(host), slot))


def _host_key(host: str) -> int:
    """A host as the first of an advisory lock's two 32-bit keys (a key space apart from the
    clusterer's 64-bit ones)."""
    return zlib.crc32(host.encode()) - 2**31
