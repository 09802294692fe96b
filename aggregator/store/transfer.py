"""A whole store copied into another, empty one: a SQLite file into PostgreSQL when a user
outgrows one machine (README, "Moving an existing store"), PostgreSQL back into a file, or one file
into a new one.

Everything a store keeps is copied: the feeds with their polling state, the articles, their
sketches and stories, the term statistics, the digests sent, and the clusterer's queue. So the
target carries on where the source stopped: the next poll asks each feed what it asked before
(conditional GET, backoff, Retry-After), nothing is stored twice, the next digest starts where
the last one ended, and the clusterer reads the same window and decides as it would have.

The source is read as one snapshot; the target is written in one transaction that holds it
against other writers, so a copy that fails or is killed leaves it empty, and run again it
copies everything once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from typing import Any

from aggregator.errors import StorageError
from aggregator.model import Copied
from aggregator.store import Database, feeds, vectors

# The tables copied, each after the tables its rows refer to.
TABLES = (
    "feeds",
    "articles",
    "article_sketches",
    "story_links",
    "copies",
    "stories",
    "story_aliases",
    "story_splits",
    "term_df",
    "meta",
    "digests",
    "cluster_pending",
)
# Rows between two reports of a table's progress.
PROGRESS_ROWS = 10_000
# The tables a store holds that are not copied: each backend's record of its migrations, and
# SQLite's full-text index and its queue (made again from the articles; PostgreSQL's is a column
# the server computes).
NOT_COPIED = frozenset(
    {"_sqlite_migrations", "aggregator_migrations", "articles_fts", "fts_pending"}
)


def copy_store(
    source: Database, target: Database, progress: Callable[[Copied], None] = lambda c: None
) -> list[Copied]:
    """Copy every row of ``source`` into ``target``, which must hold none; ``progress`` hears of
    each table every PROGRESS_ROWS rows and as it is done."""
    done: list[Copied] = []
    with source.snapshot(), target.transaction():
        _hold(target)
        held = [t for t in TABLES if target.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone()]
        if held:
            raise StorageError(
                f"{target.location} is not empty (it holds {', '.join(held)}): "
                "copy into a new, empty database"
            )
        for table in TABLES:
            columns = columns_of(source, table)
            if columns != columns_of(target, table):
                raise StorageError(
                    f"{table}: {source.location} and {target.location} have different columns "
                    "(made by different versions of aggregator?)"
                )
            (total,) = source.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
            rows = source.stream(f"SELECT {', '.join(columns)} FROM {table}")
            with closing(rows):  # here, not when collected: the cursor ends in the snapshot
                flow = _Flow(target.dialect, table, total, columns, rows, progress)
                try:
                    target.load(table, columns, flow)
                except StorageError as e:
                    raise StorageError(f"copying {table}: {e}") from e
            done.append(flow.copied(finished=True))
            progress(done[-1])
        _carry_on(target)
    if target.dialect == "sqlite":
        feeds.index_pending(target)
    else:
        target.execute("ANALYZE")  # the planner's statistics, before the first poll plans
    return done


def columns_of(db: Database, table: str) -> list[str]:
    """The columns of ``table`` that a row is written with (not PostgreSQL's computed search
    column), in the order the migrations made them."""
    if db.dialect == "sqlite":
        return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
    return [
        name
        for (name,) in db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND table_name = ? AND is_generated = 'NEVER'"
            " ORDER BY ordinal_position",
            (table,),
        )
    ]


def tables_of(db: Database) -> set[str]:
    """Every table ``db`` holds (SQLite's full-text index's own tables as its one)."""
    if db.dialect == "sqlite":
        names = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return {n for n in names if not n.startswith("articles_fts_")}
    return {
        n
        for (n,) in db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema ="
            " current_schema() AND table_type = 'BASE TABLE'"
        )
    }


def _hold(target: Database) -> None:
    """Keep others from writing the target while it is filled: SQLite's transaction holds its
    write lock already; on PostgreSQL a worker or clusterer started meanwhile waits."""
    if target.dialect == "postgresql":
        target.execute(f"LOCK TABLE {', '.join(TABLES)} IN EXCLUSIVE MODE")


class _Flow:
    """A table's rows on their way from the source, as the target stores them, counted and
    told to ``progress`` every PROGRESS_ROWS.

    Into PostgreSQL, a term vector that an earlier version wrote as JSON text (which SQLite keeps
    in the same column) becomes the bytes PostgreSQL's column holds, and a text holding NUL
    characters (which SQLite keeps, and earlier versions took from extracted pages) loses them,
    as today's ingest drops them: its row is counted as cleaned."""

    def __init__(
        self,
        dialect: str,
        table: str,
        total: int,
        columns: Sequence[str],
        rows: Iterator[Sequence[Any]],
        progress: Callable[[Copied], None],
    ) -> None:
        self.table, self.total, self.rows, self.cleaned = table, total, 0, 0
        self._source = rows
        self._progress = progress
        self._server = dialect == "postgresql"
        self._terms = columns.index("terms") if table == "article_sketches" else None

    def copied(self, finished: bool = False) -> Copied:
        return Copied(self.table, self.rows, self.total, self.cleaned, finished)

    def __iter__(self) -> _Flow:
        return self

    def __next__(self) -> Sequence[Any]:
        row = next(self._source)
        if self._server:
            at = self._terms
            if at is not None and isinstance(row[at], str):
                row = (*row[:at], vectors.dumps(vectors.loads(row[at])), *row[at + 1 :])
            if any(isinstance(v, str) and "\x00" in v for v in row):
                row = tuple(v.replace("\x00", "") if isinstance(v, str) else v for v in row)
                self.cleaned += 1
        self.rows += 1
        if self.rows % PROGRESS_ROWS == 0:  # not finished: more rows may follow
            self._progress(self.copied())
        return row


def _carry_on(target: Database) -> None:
    """What the target needs to go on from the copied rows: SQLite's search index queued for
    every article; PostgreSQL's article numbers continued after the last one copied."""
    if target.dialect == "sqlite":
        target.execute("INSERT INTO fts_pending (article_id) SELECT id FROM articles")
        return
    target.execute(
        "SELECT setval(pg_get_serial_sequence('articles', 'id'), COALESCE(MAX(id), 1),"
        " MAX(id) IS NOT NULL) FROM articles"
    )
