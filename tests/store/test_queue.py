"""The clusterer's queue: the next batch in clustering order, found in the queue rather than by
walking the archive, on both backends, and a database from before the queue kept its order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.model import Article, FeedConfig, FeedUpdate
from aggregator.store import Database, open_db
from aggregator.store.clustering import ClusterState
from aggregator.store.feeds import save_success, sync_feeds

T0 = datetime(2026, 11, 1, tzinfo=UTC)
FEEDS = [FeedConfig(url=f"https://o{i}.example/rss", outlet=f"Outlet {i}") for i in range(3)]


def _store(db: Database, first: int, n: int) -> None:
    """Articles ``first`` to ``first + n``, an hour apart, spread over the feeds (all queued)."""
    for f, feed in enumerate(FEEDS):
        articles = [
            Article(f"k{i}", f"https://o{f}.example/{i}", f"Report {i}", f"Text of report {i}.",
                    "", "", T0 + timedelta(hours=i), "", "en")
            for i in range(first, first + n) if i % len(FEEDS) == f
        ]
        save_success(db, FeedUpdate(feed.url, 200, T0, T0, None, None, None, None, None, None,
                                    0), feed.outlet, articles)


def _clustered(db: Database, n: int) -> None:
    """The ``n`` first articles in clustering order out of the queue, as if clustered."""
    db.execute("DELETE FROM cluster_pending WHERE article_id IN (SELECT id FROM articles"
               " ORDER BY sort_time, feed_url, key LIMIT ?)", (n,))


def _archive_then_queue(path: str, archived: int, queued: int) -> Database:
    db = open_db(path)
    sync_feeds(db, FEEDS)
    _store(db, 0, archived + queued)
    _clustered(db, archived)
    return db


def _steps(db: Database) -> int:
    """SQLite's virtual machine steps (in thousands) to find the next batch of 50."""
    conn = db.conn  # type: ignore[attr-defined]
    count = [0]

    def step() -> int:
        count[0] += 1
        return 0

    conn.set_progress_handler(step, 1000)
    try:
        found = ClusterState(db).pending(50)
    finally:
        conn.set_progress_handler(None, 0)
    assert len(found) == 50
    return count[0]


def test_the_next_batch_costs_what_the_queue_holds_not_what_the_archive_does(
        tmp_path: Path) -> None:
    small = _archive_then_queue(str(tmp_path / "small.db"), 2_000, 100)
    large = _archive_then_queue(str(tmp_path / "large.db"), 8_000, 100)
    # Walking the articles in clustering order to the queued ones took ~4x the steps here.
    assert _steps(large) <= 1.2 * _steps(small) + 2
    small.close()
    large.close()


def _order(db: Database) -> list[str]:
    state, out, after = ClusterState(db), [], None
    while batch := state.pending(7, after):
        out += [a.cursor[2] for a in batch]
        after = batch[-1].cursor
    return out


def _as_before_the_queue_kept_its_order(db: Database) -> None:
    """The database as the version before m010 left it: the queue holds article ids only."""
    record = "_sqlite_migrations" if db.dialect == "sqlite" else "aggregator_migrations"
    db.execute("DROP INDEX cluster_pending_order")
    for column in ("sort_time", "feed_url", "key"):
        db.execute(f"ALTER TABLE cluster_pending DROP COLUMN {column}")
    db.execute(f"DELETE FROM {record} WHERE name = 'm010_cluster_pending_order'")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_queue_from_before_gets_its_order_and_reads_as_the_articles_order(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    database = str(tmp_path / "q.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    db = _archive_then_queue(database, 30, 40)
    expected = [k for (k,) in db.execute(
        "SELECT a.key FROM cluster_pending p JOIN articles a ON a.id = p.article_id"
        " ORDER BY a.sort_time, a.feed_url, a.key")]
    assert len(expected) == 40
    assert _order(db) == expected
    _as_before_the_queue_kept_its_order(db)
    db.close()
    db = open_db(database)  # migrated again: the rows queued before get their order
    assert _order(db) == expected
    _store(db, 70, 5)  # and rows queued after
    assert _order(db) == [*expected, "k70", "k71", "k72", "k73", "k74"]
    # A poller of the version before, still running beside the new ones, queues ids only.
    _store(db, 80, 3)
    db.execute("DELETE FROM cluster_pending WHERE key IN ('k80', 'k81', 'k82')")
    db.execute("INSERT INTO cluster_pending (article_id) SELECT id FROM articles"
               " WHERE key IN ('k82', 'k80', 'k81')")
    assert _order(db) == [*expected, "k70", "k71", "k72", "k73", "k74", "k80", "k81", "k82"]
    db.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_batch_of_long_texts_is_cut_short(backend: str, tmp_path: Path,
                                            request: pytest.FixtureRequest) -> None:
    """With a text limit a batch takes the articles that begin within that many bytes: at
    least one, and the queue read on from where it stopped, in order, losing none."""
    database = str(tmp_path / "q.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    db = open_db(database)
    sync_feeds(db, FEEDS)
    texts = ["x" * 300, "x" * 300, "é" * 250, "x" * 2_000, "x" * 100, "x" * 100, "x" * 100,
             "x" * 900]  # "é" is two bytes: the limit counts bytes (UTF-8) on both backends
    articles = [Article(f"k{i}", f"https://o0.example/{i}", f"Report {i}", text, "", "",
                        T0 + timedelta(hours=i), "", "en") for i, text in enumerate(texts)]
    save_success(db, FeedUpdate(FEEDS[0].url, 200, T0, T0, None, None, None, None, None, None, 0),
                 FEEDS[0].outlet, articles)
    state, batches, after = ClusterState(db), [], None
    while batch := state.pending(5, after, text_limit=1_000):
        batches.append([a.cursor[2] for a in batch])
        after = batch[-1].cursor
    # k0, k1 and k2 begin at 0, 300 and 600 bytes, k3 at 1,100 starts the next batch and
    # its 2,000 fill it alone; the last four begin at 0, 100, 200 and 300. Without a text
    # limit the batch is the first 5.
    assert batches == [["k0", "k1", "k2"], ["k3"], ["k4", "k5", "k6", "k7"]]
    assert [[a.cursor[2] for a in state.pending(5, None)]] == [["k0", "k1", "k2", "k3", "k4"]]
    db.close()
