"""The SQLite store: the only package that imports sqlite_utils.

Opening applies pending migrations, turns on WAL and a busy timeout. Feed and article state lives
in ``feeds.py``, clustering and story state in ``clustering.py``, stories as the outputs read
them in ``listing.py``, digest records in ``deliveries.py``; all return records of model.py or
plain values, never sqlite rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from sqlite_utils import Database

from aggregator.errors import StorageError
from aggregator.store.schema import migrations

# Database is re-exported: the other layers name the store's handle without importing sqlite_utils.
__all__ = ["Database", "StorageError", "Transaction", "ensure", "named_rows", "open_db"]

BUSY_TIMEOUT_MS = 30_000


def ensure(path: str | Path, create: bool = True) -> None:
    """Ready the place of the database at ``path`` before anything opens or locks it: with
    ``create`` its folder is made, else a missing database is an error that creates nothing."""
    if str(path) == ":memory:":
        return
    if not create:
        if not Path(path).is_file():
            raise StorageError(f"no database at {path} (run aggregator poll first)")
        return
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StorageError(f"{path}: cannot create its folder: {e.strerror or e}") from e


def open_db(path: str | Path, create: bool = True) -> Database:
    """Open and migrate the database at ``path`` (``ensure`` first)."""
    ensure(path, create)
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        db = Database(conn)
        migrations.apply(db)
        return db
    except (sqlite3.Error, OSError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else e
        raise StorageError(f"{path}: cannot open the database: {reason}") from e


class Transaction:
    """``with Transaction(db):`` runs the block in one IMMEDIATE transaction."""

    def __init__(self, db: Database) -> None:
        self.conn = db.conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")


def named_rows(
    conn: sqlite3.Connection, sql: str, params: Sequence[object] = ()
) -> list[sqlite3.Row]:
    """The rows of a query, read by column name."""
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row
    return cursor.execute(sql, params).fetchall()
