"""PostgreSQL benchmarks, on a throwaway server started for the run (tests/pgserver.py).

Pollers: 1,000 loopback feeds of 10 items on 16 hosts (127.0.0.1-16), first poll (fetch,
parse, store), by 1, 2 and 4 `aggregator worker` processes sharing the database; each figure
against one worker in the same run.

A busy host: bench_poll's, the feeds polled by one worker, the busy host's due first.

Clustering: the throughput benchmark's articles clustered with the store on PostgreSQL,
against the same articles on SQLite in the same run.

Copying a store: a clustered SQLite store copied into an empty PostgreSQL database (`aggregator
copy`: the articles, their sketches, links and stories), against storing the same articles into
another empty one as pollers store them, in the same run; the best of two of each, run in the
order copy, store, store, copy.

Window memory: bench_memory's peak of a fresh clusterer with 50,000 articles in its window,
with the store on PostgreSQL, against the same on SQLite in the same run.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pgserver import PgServer, binaries

from aggregator.config import load_config
from aggregator.ingest.poll import PollOptions, Progress
from aggregator.jobs import run_worker
from aggregator.matching.clusterer import Clusterer
from aggregator.model import Config
from aggregator.store import open_db
from aggregator.store.clustering import ClusterState
from aggregator.store.feeds import sync_feeds
from aggregator.store.transfer import copy_store

from .bench_cluster import _store
from .bench_memory import _peak
from .bench_poll import OTHER_HOSTS, _config, busy_host, busy_row, feed_bodies
from .common import FeedServerProcess, Row
from .corpus import T0, stream

SPAWN = multiprocessing.get_context("spawn")
FEEDS = 1000
ITEMS = 10
HOSTS = 16


def _server() -> PgServer:
    found = binaries()
    if found is None:
        raise SystemExit("the PostgreSQL benchmarks need its binaries (apt-get install postgresql)")
    return PgServer(found)


def _quiet(line: str) -> None:
    """What a worker says, left out of the benchmark's table."""


def _worker(config: Config, start: Any, done: Any) -> None:
    """A poller that opens the database, waits for the others, polls until nothing is due."""
    open_db(config.settings.database).close()  # migrated and connected before the start
    start.wait()
    report = run_worker(config, PollOptions(), say=_quiet)
    done.put((time.perf_counter(), len(report.outcomes)))


def _poll_with(config: Config, workers: int) -> float:
    """Feeds per second for ``workers`` pollers at once, from their common start."""
    start, done = SPAWN.Barrier(workers + 1), SPAWN.Queue()
    procs = [SPAWN.Process(target=_worker, args=(config, start, done)) for _ in range(workers)]
    for p in procs:
        p.start()
    start.wait()
    began = time.perf_counter()
    results = [done.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    assert sum(n for _, n in results) == FEEDS, results
    return FEEDS / (max(t for t, _ in results) - began)


def bench_pollers() -> list[Row]:
    bodies = feed_bodies(FEEDS, ITEMS)
    feeds = FeedServerProcess(bodies, HOSTS)
    pg = _server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            urls = [feeds.url(p, i % HOSTS) for i, p in enumerate(bodies)]
            base = load_config(_config(Path(tmp), urls, "127.0.0.0/8"))
            rates = {}
            for workers in (1, 2, 4):
                settings = replace(base.settings, database=pg.new_database())
                rates[workers] = _poll_with(replace(base, settings=settings), workers)
    finally:
        pg.stop()
        feeds.close()
    return [
        Row(f"postgresql: {FEEDS:,} feeds x {ITEMS} items on {HOSTS} hosts, first poll, {w} workers",
            f"{rates[w]:,.0f} feeds/s", f"1 worker {rates[1]:,.0f} feeds/s", rates[w] / rates[1],
            ">= 1.0x", rates[w] / rates[1] >= 1.0)
        for w in (2, 4)
    ]


def _worker_after_busy(config: Config, progress: Progress) -> None:
    """One worker polling ``config``'s feeds, the busy host's due before the others."""
    db = open_db(config.settings.database)
    try:
        sync_feeds(db, config.feeds)
        db.execute("UPDATE feeds SET next_due = CASE WHEN url LIKE ? THEN ? ELSE ? END",
                   (f"%//127.0.0.{OTHER_HOSTS + 1}:%", "2026-11-01T00:00:00Z",
                    "2026-11-01T00:01:00Z"))
    finally:
        db.close()
    run_worker(config, PollOptions(), progress=progress, say=_quiet)


def bench_busy_host() -> Row:
    pg = _server()
    try:
        busy, alone = busy_host(pg.new_database, _worker_after_busy)
    finally:
        pg.stop()
    return busy_row("postgresql, 1 worker", busy, alone)


def _cluster_rate(database: str, items: list[Any]) -> float:
    db = open_db(database)
    try:
        _store(db, items)
        started = time.perf_counter()
        report = Clusterer(ClusterState(db), 72).run()
        assert report.articles == len(items)
        return len(items) / (time.perf_counter() - started)
    finally:
        db.close()


def bench_cluster(n: int = 20_000) -> Row:
    items = list(stream(n, 500, T0, 2_000, seed=1))
    pg = _server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            lite = _cluster_rate(str(Path(tmp) / "bench.db"), items)
        ours = _cluster_rate(pg.new_database(), items)
    finally:
        pg.stop()
    return Row(f"postgresql: cluster {n:,} articles x ~500 words", f"{ours:,.0f} articles/s",
               f"SQLite {lite:,.0f} articles/s", ours / lite, ">= 0.7x", ours / lite >= 0.7)


def _timed_copy(source: str, target: str) -> float:
    read, written = open_db(source), open_db(target)
    try:
        started = time.perf_counter()
        copy_store(read, written)
        return time.perf_counter() - started
    finally:
        read.close()
        written.close()


def _timed_store(items: list[Any], database: str) -> float:
    db = open_db(database)
    try:
        started = time.perf_counter()
        _store(db, items)
        return time.perf_counter() - started
    finally:
        db.close()


def bench_copy(n: int = 20_000) -> Row:
    items = list(stream(n, 500, T0, 2_000, seed=1))
    pg = _server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            source = str(Path(tmp) / "source.db")
            db = open_db(source)
            _store(db, items)
            Clusterer(ClusterState(db), 72).run()  # sketches, links and stories to copy too
            db.close()
            # Best of two each, copy, store, store, copy: single runs varied by ~15 %.
            copies, stores = [_timed_copy(source, pg.new_database())], []
            stores += [_timed_store(items, pg.new_database()) for _ in range(2)]
            copies.append(_timed_copy(source, pg.new_database()))
    finally:
        pg.stop()
    ours, stored = min(copies), min(stores)
    return Row(f"postgresql: copy a clustered SQLite store of {n:,} articles x ~500 words",
               f"{n / ours:,.0f} articles/s", f"storing them as pollers do {n / stored:,.0f}/s",
               ours / stored, "<= 1.25x", ours <= 1.25 * stored)


# Window articles of the memory comparison: bench_memory's smaller window.
WINDOW = 50_000


def bench_window() -> Row:
    lite = _peak(WINDOW)
    pg = _server()
    try:
        ours = _peak(WINDOW, database=pg.new_database())
    finally:
        pg.stop()
    return Row(f"postgresql: peak memory per window article, {WINDOW:,} in the window",
               f"{ours / WINDOW:,.0f} B", f"SQLite {lite / WINDOW:,.0f} B", ours / lite,
               "<= 1.1x", ours / lite <= 1.1)
