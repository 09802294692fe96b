"""The SQLite backend: the only module that imports sqlite3 and sqlite_utils.

Opening applies pending migrations (sqlite_utils' Migrations, so databases made by earlier
versions carry on from their record) and turns on WAL and a busy timeout.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from sqlite_utils import Database as Utils
from sqlite_utils import Migrations

from aggregator.errors import StorageError
from aggregator.store import Params, Rows
from aggregator.store.schema import MIGRATIONS, Migration

BUSY_TIMEOUT_MS = 30_000


def _migrations() -> Migrations:
    found = Migrations("aggregator")

    def run(m: Migration) -> None:
        @found(name=m.name)
        def apply(db: Utils) -> None:
            for statement in m.sqlite:
                db.execute(statement)

    for m in MIGRATIONS:
        run(m)
    return found


_MIGRATIONS = _migrations()


class SqliteDatabase:
    dialect: Literal["sqlite"] = "sqlite"

    def __init__(self, conn: sqlite3.Connection, location: str) -> None:
        self.conn = conn
        self.location = location

    def execute(self, sql: str, params: Params = ()) -> Rows:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self.conn.executemany(sql, rows)

    def query(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        cursor = self.conn.cursor()
        cursor.row_factory = sqlite3.Row
        return [dict(r) for r in cursor.execute(sql, params).fetchall()]

    def stream(self, sql: str, params: Params = ()) -> Generator[Any, None, None]:
        # sqlite3 steps through a result as it is iterated.
        yield from self.conn.execute(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        # A deferred transaction sees the database as at its first read (WAL mode), and lets
        # writers go on.
        self.conn.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            self.conn.execute("ROLLBACK")

    def load(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        try:
            self.conn.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)
        except sqlite3.Error as e:
            raise StorageError(f"{self.location}: {e}") from e

    def close(self) -> None:
        self.conn.close()


def connect(path: str) -> SqliteDatabase:
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        _MIGRATIONS.apply(Utils(conn))
        return SqliteDatabase(conn, path)
    except (sqlite3.Error, OSError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else e
        raise StorageError(f"{path}: cannot open the database: {reason}") from e
