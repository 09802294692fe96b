"""Digest records: one per list and period, pending -> sending -> sent."""

from __future__ import annotations

from datetime import datetime

from aggregator.model import DigestRecord
from aggregator.store import Database
from aggregator.times import iso


def get(db: Database, list_name: str, period: str) -> DigestRecord | None:
    row = db.execute(
        "SELECT list_name, period, status, message_id, since, until, message FROM digests "
        "WHERE list_name=? AND period=?",
        (list_name, period),
    ).fetchone()
    return DigestRecord(*row) if row else None


def last_sent(db: Database, list_name: str) -> DigestRecord | None:
    row = db.execute(
        "SELECT list_name, period, status, message_id, since, until, message FROM digests "
        "WHERE list_name=? AND status='sent' ORDER BY until DESC LIMIT 1",
        (list_name,),
    ).fetchone()
    return DigestRecord(*row) if row else None


def save_pending(db: Database, r: DigestRecord, now: datetime) -> DigestRecord:
    """Record a digest to send, unless another run recorded this list's and period's first;
    returns the one recorded."""
    with db.transaction():
        db.execute(
            "INSERT INTO digests (list_name, period, status, message_id, since, until, message,"
            " created) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (r.list_name, r.period, r.message_id, r.since, r.until, r.message, iso(now)),
        )
    found = get(db, r.list_name, r.period)
    assert found is not None
    return found


def claim(db: Database, r: DigestRecord, now: datetime, stale: datetime) -> bool:
    """Take the digest to send it: whether this run may send it. It may when it is pending, or
    when a run that took it before ``stale`` never said it was sent (that run died mid-send);
    of two runs at the same moment, one may."""
    with db.transaction():
        taken = db.execute(
            "UPDATE digests SET status='sending', claimed_at=? WHERE list_name=? AND period=?"
            " AND (status='pending' OR (status='sending' AND COALESCE(claimed_at, '') < ?))"
            " RETURNING period",
            (iso(now), r.list_name, r.period, iso(stale)),
        ).fetchone()
    return taken is not None


def mark(
    db: Database, r: DigestRecord, status: str, now: datetime, error: str | None = None
) -> None:
    with db.transaction():
        db.execute(
            "UPDATE digests SET status=?, error=?, sent_at=CASE WHEN ?='sent' THEN ? ELSE sent_at END"
            " WHERE list_name=? AND period=?",
            (status, error, status, iso(now), r.list_name, r.period),
        )
