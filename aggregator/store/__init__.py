"""The store: one interface, two backends (SQLite through sqlite_utils, PostgreSQL through
psycopg), chosen by the configured ``database``: a path or a ``postgresql://`` URL.

Every query is written once, with ``?`` and ``:name`` placeholders, in the SQL both dialects
agree on; the few that differ ask ``db.dialect``. Feed and article state lives in ``feeds.py``,
the pollers' claims in ``claims.py``, clustering and story state in ``clustering.py``, stories
as the outputs read them in ``listing.py``, digest records in ``deliveries.py``; all return
records of model.py or plain values, never a driver's rows.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Literal, Protocol

from aggregator.config import SERVER_SCHEMES
from aggregator.errors import StorageError

__all__ = ["PENDING_CHANNEL", "Database", "Rows", "StorageError", "ensure", "is_url", "open_db"]

Params = Sequence[Any] | Mapping[str, Any]
# The PostgreSQL channel on which new articles wake the clusterer.
PENDING_CHANNEL = "aggregator_pending"
Dialect = Literal["sqlite", "postgresql"]


class Rows(Protocol):
    """A query's result, as both drivers' cursors give it."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Database(Protocol):
    """An open database of either backend."""

    @property
    def dialect(self) -> Dialect: ...

    @property
    def location(self) -> str: ...

    def execute(self, sql: str, params: Params = ()) -> Rows: ...

    def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    def query(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        """The rows of a query, read by column name."""
        ...

    def stream(self, sql: str, params: Params = ()) -> Generator[Any, None, None]:
        """The rows of a query, read from the database a part at a time as they are iterated
        (a window of millions of articles), not all at once; the connection runs nothing else
        until the last is read."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """One transaction that holds the write lock from its start (SQLite) or whose rows
        are locked as it writes them (PostgreSQL)."""
        ...

    def snapshot(self) -> AbstractContextManager[None]:
        """One transaction that only reads, and reads the database as it was at its first
        read, whatever others write meanwhile."""
        ...

    def load(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Write many rows into ``table`` as fast as the backend can (PostgreSQL's COPY),
        taking them as they come."""
        ...

    def close(self) -> None: ...


# Keys bound in one ``IN (...)`` list: under SQLite's smallest limit on bound parameters (999),
# with room for a few more parameters beside them.
KEYS_PER_QUERY = 900


def in_parts(keys: Sequence[Any]) -> Iterator[tuple[Sequence[Any], str]]:
    """``keys`` KEYS_PER_QUERY at a time, each part with its ``IN`` list of placeholders."""
    for start in range(0, len(keys), KEYS_PER_QUERY):
        part = keys[start : start + KEYS_PER_QUERY]
        yield part, ",".join("?" * len(part))


def is_url(database: str) -> bool:
    """Whether the configured database is a PostgreSQL server rather than a SQLite file."""
    return database.startswith(SERVER_SCHEMES)


def ensure(database: str | Path, create: bool = True) -> None:
    """Ready the place of a SQLite database before anything opens or locks it: with ``create``
    its folder is made, else a missing database is an error that creates nothing. A server
    needs nothing here."""
    path = str(database)
    if path == ":memory:" or is_url(path):
        return
    if not create:
        if not Path(path).is_file():
            raise StorageError(f"no database at {path} (run aggregator poll first)")
        return
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StorageError(f"{path}: cannot create its folder: {e.strerror or e}") from e


def open_db(database: str | Path, create: bool = True, role: str = "aggregator") -> Database:
    """Open and migrate the database (``ensure`` first); a server's session is named for its
    ``role`` (its ``application_name``)."""
    location = str(database)
    if is_url(location):
        from aggregator.store import postgres

        return postgres.connect(location, role)
    from aggregator.store import sqlite

    ensure(location, create)
    return sqlite.connect(location)
