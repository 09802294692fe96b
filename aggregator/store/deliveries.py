"""Digest records: one per list and period, pending -> sending -> sent."""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from aggregator.model import DigestRecord
from aggregator.store import Transaction
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


def save_pending(db: Database, r: DigestRecord, now: datetime) -> None:
    with Transaction(db) as conn:
        conn.execute(
            "INSERT INTO digests (list_name, period, status, message_id, since, until, message,"
            " created) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?)",
            (r.list_name, r.period, r.message_id, r.since, r.until, r.message, iso(now)),
        )


def mark(
    db: Database, r: DigestRecord, status: str, now: datetime, error: str | None = None
) -> None:
    with Transaction(db) as conn:
        conn.execute(
            "UPDATE digests SET status=?, error=?, sent_at=CASE WHEN ?='sent' THEN ? ELSE sent_at END"
            " WHERE list_name=? AND period=?",
            (status, error, status, iso(now), r.list_name, r.period),
        )
