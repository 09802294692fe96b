"""The pipeline at a glance, read from the store: what `aggregator status` shows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from aggregator.model import Overview, Queue
from aggregator.store import Database, clustering
from aggregator.times import iso


def overview(
    db: Database,
    now: datetime,
    by_partition: bool = False,
    holder: Callable[[str | None], str | None] = lambda partition: None,
    workers: Sequence[tuple[str, int]] = (),
) -> Overview:
    """The feeds listed, failing and due at ``now``, the articles stored, those waiting for the
    clusterer (``by_partition``, for each partition) with who holds each partition's lock on
    PostgreSQL (``holder``), the workers connected (``workers``: by address, how many) and the
    last digest sent, all as at one moment. Each count is one statement over an index or a
    small table, but the count of articles (the size of the store)."""
    server = db.dialect == "postgresql"
    # One snapshot: each figure as at the same moment, though workers write meanwhile.
    with db.snapshot():
        listed, gone, failing, never, due, first_due = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(gone), 0),"
            " COALESCE(SUM(CASE WHEN gone = 0 AND ok = 0 THEN 1 ELSE 0 END), 0),"
            " COALESCE(SUM(CASE WHEN gone = 0 AND last_polled IS NULL THEN 1 ELSE 0 END), 0),"
            " COALESCE(SUM(CASE WHEN gone = 0 AND (next_due IS NULL OR next_due <= :now)"
            " THEN 1 ELSE 0 END), 0),"
            " MIN(CASE WHEN gone = 0 AND next_due <= :now THEN next_due END)"
            " FROM feeds WHERE listed = 1",
            {"now": iso(now)},
        ).fetchone()
        kinds = db.execute(
            "SELECT COALESCE(error_kind, 'unknown'), COUNT(*) FROM feeds"
            " WHERE listed = 1 AND gone = 0 AND ok = 0 GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        (articles,) = db.execute("SELECT COUNT(*) FROM articles").fetchone()
        newest = db.execute("SELECT first_seen FROM articles ORDER BY id DESC LIMIT 1").fetchone()
        (digest_until,) = db.execute(
            "SELECT MAX(until) FROM digests WHERE status = 'sent'"
        ).fetchone()
        return Overview(
            server=server,
            database=db.location,
            workers=tuple(workers),
            feeds=int(listed),
            failing=int(failing),
            failures=tuple((str(k), int(n)) for k, n in kinds),
            gone=int(gone),
            never_polled=int(never),
            due=int(due),
            due_since=str(first_due) if first_due else None,
            articles=int(articles),
            newest=str(newest[0]) if newest else None,
            queues=tuple(
                Queue(partition, waiting, since, holder(partition))
                for partition, waiting, since in clustering.queues(db, by_partition)
            ),
            digest_until=str(digest_until) if digest_until else None,
        )
