"""`aggregator status`: whether the pollers and the clusterer keep up, read from the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import FeedServer, healthy_feed, respond, write_config

from aggregator.cli import main
from aggregator.config import load_config
from aggregator.jobs import WORKER_ROLE, _cluster_lock, overview
from aggregator.model import FeedConfig, Queue
from aggregator.store import open_db
from aggregator.store.claims import claim_due
from aggregator.store.feeds import sync_feeds
from aggregator.store.postgres import PostgresDatabase

pytestmark = pytest.mark.timeout(120)


def _feeds(server: FeedServer, tmp_path: Path, database: str = "aggregator.db") -> Path:
    """Two feeds of five items and one answering 404."""
    server.routes["/a"] = respond(healthy_feed(1, "A"))
    server.routes["/b"] = respond(healthy_feed(2, "B"))
    server.routes["/c"] = respond(b"not here", status=404, content_type="text/plain")
    return write_config(
        tmp_path,
        [{"url": server.url(f"/{name}"), "outlet": name.upper()} for name in "abc"],
        {"database": database},
    )


def test_status_tells_feeds_due_and_failing_and_articles_waiting(
    server: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _feeds(server, tmp_path)
    assert main(["--config", str(path), "poll", "--no-cluster"]) == 0
    db = open_db(tmp_path / "aggregator.db")
    # The last article stored: feeds polled at once store theirs in any order, so it may not
    # be the one first seen last (by a second).
    (newest,) = db.execute("SELECT first_seen FROM articles ORDER BY id DESC LIMIT 1").fetchone()
    (oldest,) = db.execute("SELECT MIN(first_seen) FROM articles").fetchone()
    (first_due,) = db.execute("SELECT MIN(next_due) FROM feeds").fetchone()
    sync_feeds(db, [*load_config(path).feeds, FeedConfig("https://new.example/rss", "New")])
    db.close()
    capsys.readouterr()

    assert main(["--config", str(path), "status", "--json"]) == 0
    seen = json.loads(capsys.readouterr().out)
    assert seen == {
        "server": False,
        "workers": [],
        "database": str(tmp_path / "aggregator.db"),
        "feeds": 4,
        "failing": 1,
        "failures": [["http_4xx", 1]],
        "gone": 0,
        "never_polled": 1,
        "due": 1,  # the feed added since: never polled
        "due_since": None,
        "articles": 10,
        "newest": newest,
        "queues": [{"partition": None, "waiting": 10, "waiting_since": oldest, "clusterer": None}],
        "digest_until": None,
    }
    later = datetime.now(UTC) + timedelta(days=2)
    o = overview(load_config(path), now=lambda: later)
    assert (o.due, o.due_since) == (4, first_due)  # every feed due; the longest since first_due

    assert main(["--config", str(path), "cluster"]) == 0
    capsys.readouterr()
    assert main(["--config", str(path), "status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "feeds       4 listed: 2 ok, 1 failing (http_4xx x1), 0 gone, 1 never polled; 1 due"
    assert lines[2].startswith("articles    10 stored, the newest ")
    assert lines[3] == "clustering  0 articles waiting"
    assert lines[4] == "digest      none sent yet"


def test_status_on_postgresql_leaves_out_the_feeds_a_poller_has_taken(
    server: FeedServer, tmp_path: Path, pg_url: str
) -> None:
    path = _feeds(server, tmp_path, pg_url)
    assert main(["--config", str(path), "poll"]) == 0
    config = load_config(path)
    later = datetime.now(UTC) + timedelta(days=2)
    assert overview(config, now=lambda: later).due == 3
    db = open_db(pg_url)
    try:
        taken = claim_due(db, later, timedelta(minutes=5), 2)
    finally:
        db.close()
    o = overview(config, now=lambda: later)
    assert len(taken) == 2 and o.due == 1
    assert (o.feeds, o.failing, o.articles) == (3, 1, 10)
    assert o.queues == (Queue(None, 0, None, None),)
    assert o.workers == ()  # `poll` is no worker


def test_status_on_postgresql_tells_each_partitions_queue_and_clusterer(
    server: FeedServer, tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server.routes["/a"] = respond(healthy_feed(1, "A"))
    server.routes["/b"] = respond(healthy_feed(2, "B", items=3))
    server.routes["/c"] = respond(healthy_feed(3, "C", items=2))
    path = write_config(
        tmp_path,
        [{"url": server.url("/a"), "outlet": "A", "language": "en"},
         {"url": server.url("/b"), "outlet": "B", "language": "fr"},
         {"url": server.url("/c"), "outlet": "C"}],
        {"database": pg_url, "partition_by": "language"},
    )
    assert main(["--config", str(path), "poll", "--no-cluster"]) == 0
    holder = open_db(pg_url)
    workers = [open_db(pg_url, role=WORKER_ROLE) for _ in range(2)]
    assert isinstance(holder, PostgresDatabase)
    try:
        with _cluster_lock(holder, "en"):  # a clusterer of the English feeds' articles
            (pid,) = holder.execute("SELECT pg_backend_pid()").fetchone()
            o = overview(load_config(path))
            capsys.readouterr()
            assert main(["--config", str(path), "status"]) == 0
            lines = capsys.readouterr().out.splitlines()
    finally:
        for db in (holder, *workers):
            db.close()
    assert o.workers == (("127.0.0.1", 2),)
    assert lines[1] == "workers     2 connected: 127.0.0.1 x2"
    en, fr, und = o.queues
    assert (en.partition, en.waiting, fr.partition, fr.waiting, und.partition, und.waiting) == (
        "en", 5, "fr", 3, "und", 2)
    assert en.clusterer is not None and en.clusterer.startswith(f"127.0.0.1 (pid {pid}) since ")
    assert fr.clusterer is None and und.clusterer is None
    assert lines[4].startswith("clustering  en: 5 articles waiting, the longest for 0m; "
                               "clusterer: 127.0.0.1")
    assert lines[5] == "            fr: 3 articles waiting, the longest for 0m; no clusterer runs"
    assert lines[6] == "            und: 2 articles waiting, the longest for 0m; no clusterer runs"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_status_reads_every_figure_as_at_one_moment(
    backend: str, server: FeedServer, tmp_path: Path, request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database = request.getfixturevalue("pg_url") if backend == "postgresql" else "aggregator.db"
    path = _feeds(server, tmp_path, database)
    assert main(["--config", str(path), "poll", "--no-cluster"]) == 0
    config = load_config(path)
    writer = open_db(config.settings.database)
    kind = type(writer)
    read = kind.execute
    written: list[bool] = []

    def a_worker_writes_after_the_first_read(self: object, sql: str, *args: object) -> object:
        rows = read(self, sql, *args)  # type: ignore[arg-type]
        if "SUM(gone)" in sql and not written:  # status's first read: the feeds' counts
            written.append(True)
            with writer.transaction():  # two more feeds fail, between status's reads
                writer.execute("UPDATE feeds SET ok = 0, error_kind = 'timeout' WHERE ok = 1")
        return rows

    monkeypatch.setattr(kind, "execute", a_worker_writes_after_the_first_read)
    try:
        during = overview(config)
    finally:
        monkeypatch.undo()
        writer.close()
    after = overview(config)
    assert written
    assert (during.failing, during.failures) == (1, (("http_4xx", 1),))
    assert (after.failing, after.failures) == (3, (("timeout", 2), ("http_4xx", 1)))
