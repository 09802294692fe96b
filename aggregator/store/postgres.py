"""The PostgreSQL backend: the only module that imports psycopg.

Queries arrive in the store's shared SQL (``?`` and ``:name`` placeholders) and are rewritten
once each into psycopg's. The connection runs in autocommit, so a statement outside
``transaction()`` commits at once and holds no lock. Opening applies pending migrations under
an advisory lock, so pollers starting together migrate once. Besides the interface, this
backend gives what coordinates processes on many machines: session advisory locks and
LISTEN/NOTIFY.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from aggregator.errors import StorageError
from aggregator.store import Params, Rows
from aggregator.store.schema import MIGRATIONS

try:
    import psycopg
    from psycopg.rows import dict_row
except ImportError:  # pragma: no cover - the extra is installed in development and CI
    psycopg = None  # type: ignore[assignment]

# The advisory lock key under which migrations run ('aggr' in ASCII).
MIGRATION_LOCK = 0x61676772
# Seconds to wait for a server that does not answer.
CONNECT_TIMEOUT = 10
# Seconds a connection may be silent before either end probes the other (TCP keepalive).
KEEPALIVE_IDLE = 10
# Seconds between keepalive probes.
KEEPALIVE_INTERVAL = 5
# Probes left unanswered after which the other end counts as gone.
KEEPALIVE_COUNT = 3
# Rows a server-side cursor hands over a fetch (``stream``).
STREAM_ROWS = 1_000

# A string literal, a ``:name`` parameter (not a ``::`` cast), a ``?`` or a ``%``.
_TOKEN = re.compile(r"'(?:[^']|'')*'|(?<!:):([A-Za-z_]\w*)|\?|%")


@lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """The store's SQL with psycopg's placeholders."""

    def one(m: re.Match[str]) -> str:
        token = m.group(0)
        if token.startswith("'"):
            return token
        if m.group(1):
            return f"%({m.group(1)})s"
        return "%s" if token == "?" else "%%"

    return _TOKEN.sub(one, sql)


def _statement(sql: str, params: Params) -> tuple[str, Params | None]:
    """A query as psycopg takes it: without parameters it sends the text as it is, so there is
    nothing to rewrite (and a ``%`` in it stays one)."""
    return (translate(sql), params) if params else (sql, None)


def redacted(url: str) -> str:
    """A server URL as it may be shown: without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresDatabase:
    dialect: Literal["postgresql"] = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any], location: str) -> None:
        self.conn = conn
        self.location = redacted(location)  # shown in messages

    def execute(self, sql: str, params: Params = ()) -> Rows:
        with self._failing():
            return self.conn.execute(*_statement(sql, params))

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        batch = list(rows)
        if batch:
            with self._failing(), self.conn.cursor() as cursor:
                cursor.executemany(translate(sql), batch)

    def query(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        with self._failing(), self.conn.cursor(row_factory=dict_row) as cursor:
            return cursor.execute(*_statement(sql, params)).fetchall()

    def stream(self, sql: str, params: Params = ()) -> Generator[Any, None, None]:
        # psycopg's cursors take a whole result in one gulp; a server-side cursor, in a
        # transaction of its own, gives STREAM_ROWS rows a fetch.
        with (
            self._failing(),
            self.conn.transaction(),
            self.conn.cursor(name="aggregator_stream") as cursor,
        ):
            cursor.itersize = STREAM_ROWS
            cursor.execute(*_statement(sql, params))
            yield from cursor

    @contextmanager
    def _failing(self) -> Iterator[None]:
        """The server's refusals and a lost connection as the store's error, in one line."""
        try:
            yield
        except psycopg.Error as e:
            if self.conn.broken:  # psycopg's first line says how; the rest guesses why
                raise StorageError(f"{self.location}: lost the connection: {_reason(e, 0)}") from e
            raise StorageError(f"{self.location}: {_reason(e)}") from e

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._failing(), self.conn.transaction():
            yield

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        with self._failing(), self.conn.transaction(force_rollback=True):
            self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield

    def load(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        with (
            self._failing(),
            self.conn.cursor() as cursor,
            cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def close(self) -> None:
        self.conn.close()

    def try_lock(self, key: int) -> bool:
        """Take the session advisory lock ``key`` if no other session holds it; it is held
        until released or until this connection ends (a killed holder's ends with it)."""
        row = self.execute("SELECT pg_try_advisory_lock(?)", (key,)).fetchone()
        return bool(row and row[0])

    def holder(self, key: int) -> str | None:
        """Who holds the session advisory lock ``key``: its client's address (or "a local
        socket"), process id and when its session began; None when nobody does."""
        row = self.execute(
            "SELECT COALESCE(host(a.client_addr), 'a local socket'), l.pid,"
            " to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
            " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
            " AND l.classid = ? AND l.objid = ? AND l.database = (SELECT oid FROM pg_database"
            " WHERE datname = current_database())",
            (key >> 32, key & 0xFFFFFFFF),
        ).fetchone()
        return f"{row[0]} (pid {row[1]}) since {row[2]}" if row else None

    def sessions(self, role: str) -> list[tuple[str, int]]:
        """The sessions of this database named ``role``, by their client's address (or "a
        local socket"): how many from each."""
        return [
            (str(address), int(n))
            for address, n in self.execute(
                "SELECT COALESCE(host(client_addr), 'a local socket'), COUNT(*)"
                " FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = ? GROUP BY 1 ORDER BY 1",
                (role,),
            )
        ]

    def unlock(self, key: int) -> None:
        """Release the session advisory lock ``key``; a closed connection released it as it
        ended (and unlocking there would hide why it ended)."""
        if not self.conn.closed:
            self.execute("SELECT pg_advisory_unlock(?)", (key,))

    def listen(self, channel: str) -> None:
        self.execute(f"LISTEN {channel}")

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a notification on a channel listened to; whether
        one came. Those that came while the connection was busy count (psycopg keeps them),
        and all that came are consumed."""
        with self._failing():
            woken = any(True for _ in self.conn.notifies(timeout=timeout, stop_after=1))
            if woken:
                for _ in self.conn.notifies(timeout=0):
                    pass
        return woken


def connect(url: str, role: str = "aggregator") -> PostgresDatabase:
    """A connection whose session is named ``role`` (``application_name``: what
    ``pg_stat_activity`` shows, and ``sessions`` counts), unless the URL names it."""
    if psycopg is None:
        raise StorageError(
            f"{redacted(url)}: PostgreSQL needs psycopg: pip install 'aggregator[postgresql]'"
        )
    try:
        given = psycopg.conninfo.conninfo_to_dict(url)
        named: dict[str, Any] = {} if "application_name" in given else {"application_name": role}
        conn = psycopg.connect(
            url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, **_keepalives(url), **named
        )
    except psycopg.Error as e:
        raise StorageError(f"{redacted(url)}: cannot open the database: {_reason(e)}") from e
    db = PostgresDatabase(conn, url)
    try:
        _migrate(db)
    except psycopg.Error as e:
        conn.close()
        raise StorageError(f"{db.location}: cannot migrate the database: {_reason(e)}") from e
    return db


def _keepalives(url: str) -> dict[str, Any]:
    """TCP keepalives at both ends of the connection, where the URL (or ``$PGOPTIONS``) does
    not set them. The server's end matters most: a session ends, and its advisory locks with
    it, only when the server notices its client has gone; a machine that loses power or its
    network sends no goodbye, and with the system's keepalive a standby clusterer, or the
    pollers waiting for a dead worker's places at a host, would wait hours (docs/tuning.md,
    "KEEPALIVE_IDLE"). The client's end lets a worker or clusterer cut off from its server
    fail (for its supervisor to restart it) rather than wait on the silence."""
    given = psycopg.conninfo.conninfo_to_dict(url)
    settings = {"idle": KEEPALIVE_IDLE, "interval": KEEPALIVE_INTERVAL, "count": KEEPALIVE_COUNT}
    client = {"keepalives": 1, **{f"keepalives_{k}": v for k, v in settings.items()}}
    out: dict[str, Any] = {k: v for k, v in client.items() if k not in given}
    options = str(given.get("options") or os.environ.get("PGOPTIONS", ""))
    server = [
        f"-c tcp_keepalives_{k}={v}"
        for k, v in settings.items()
        if f"tcp_keepalives_{k}" not in options
    ]
    out["options"] = " ".join([options, *server]).strip()
    return out


def _reason(e: Exception, line: int = -1) -> str:
    """One line of an error's message: the server's, with where it arose (a COPY's row and
    column); else a line of psycopg's, by default the last (its first lines repeat the
    connection attempt)."""
    if isinstance(e, psycopg.Error) and e.diag.message_primary:
        where = (e.diag.context or "").strip().splitlines()
        return e.diag.message_primary + (f" ({where[0]})" if where else "")
    text = str(e).strip()
    return text.splitlines()[line] if text else type(e).__name__


def _migrate(db: PostgresDatabase) -> None:
    with db.conn.transaction():
        db.conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        db.conn.execute("""CREATE TABLE IF NOT EXISTS aggregator_migrations (
            name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())""")
        done = {name for (name,) in db.conn.execute("SELECT name FROM aggregator_migrations")}
        for m in MIGRATIONS:
            if m.name in done:
                continue
            for statement in m.postgresql:
                db.conn.execute(statement)
            db.conn.execute("INSERT INTO aggregator_migrations (name) VALUES (%s)", (m.name,))
