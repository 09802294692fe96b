"""Clustering benchmarks.

Throughput: 20,000 articles of ~500 words clustered end to end (text features, MinHash
signatures, LSH, scoring, storing), against datasketch's MinHash with its default SHA-1 hash on
the same articles' shingles (the library's own speed, measured in the same run).

Scaling: the time to cluster 2,000 new articles with 20,000 and with 200,000 articles in the
archive (the same 72-hour window of already clustered articles in front of both).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

from datasketch import MinHash

from aggregator.matching import text as tx
from aggregator.matching.clusterer import Clusterer
from aggregator.model import Article, FeedConfig, FeedUpdate
from aggregator.store import Database, open_db
from aggregator.store.clustering import ClusterState
from aggregator.store.feeds import save_success, sync_feeds
from aggregator.times import iso

from .common import Row
from .corpus import T0, Item, stream

PER_DAY = 2_000  # articles a day: ~6,000 in the 72-hour window


def _store(db: object, items: list[Item], outlets: int = 20) -> None:
    feeds = [FeedConfig(url=f"https://outlet{i}.example/rss", outlet=f"Outlet {i}")
             for i in range(outlets)]
    sync_feeds(db, feeds)  # type: ignore[arg-type]
    by_outlet: dict[int, list[Article]] = defaultdict(list)
    for it in items:
        by_outlet[it.outlet].append(Article(it.key, f"https://outlet{it.outlet}.example/{it.key}",
                                            it.title, it.text, "", "", it.published, "", "en"))
    for o, arts in by_outlet.items():
        now = max(a.published for a in arts if a.published)
        save_success(db, FeedUpdate(feeds[o].url, 200, now, now, None, None, None, None, None,  # type: ignore[arg-type]
                                    None, 0), feeds[o].outlet, arts)


def _shingles(text: str, size: int) -> set[str]:
    """Word shingles as strings: what datasketch users hash with MinHash.bulk."""
    toks = tx.words(text)
    return {" ".join(toks[i : i + size]) for i in range(max(1, len(toks) - size + 1))}


def bench_throughput(n: int = 20_000) -> Row:
    items = list(stream(n, 500, T0, PER_DAY, seed=1))
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "bench.db")
        _store(db, items)
        started = time.perf_counter()
        report = Clusterer(ClusterState(db), 72).run()
        ours = time.perf_counter() - started
        assert report.articles == n
        db.close()
    sample = items[:2000]
    started = time.perf_counter()
    MinHash.bulk([[s.encode() for s in _shingles(f"{i.title}\n{i.text}", 3)] for i in sample],
                 num_perm=128)
    ref = time.perf_counter() - started
    rate, ref_rate = n / ours, len(sample) / ref
    return Row("cluster: 20,000 articles x ~500 words, end to end", f"{rate:,.0f} articles/s",
               f"datasketch MinHash.bulk, SHA-1 {ref_rate:,.0f}/s", rate / ref_rate,
               ">= 2,000 articles/s", rate >= 2000)


def _archive(db: Database, n: int) -> None:
    """``n`` old clustered articles, written directly (they lie outside every window)."""
    old = T0 - timedelta(days=400)
    c = db
    with db.transaction():
        c.execute("INSERT OR IGNORE INTO feeds (url, outlet) VALUES ('https://archive.example/rss', 'Archive')")
        rows, sketches, links, stories = [], [], [], []
        for i in range(n):
            t = old + timedelta(seconds=i * 60)
            stamp = iso(t)
            rows.append((i + 1, "https://archive.example/rss", f"a{i}", "Archive", None,
                         f"Archived item {i}", "old text", "", "", stamp, "", stamp, stamp, "en",
                         None, f"h{i}", stamp))
            sketches.append((i + 1, json.dumps({f"t{i % 5000}": 1.0}), bytes(512), bytes(256),
                             "archive", t.timestamp(), 1))
            links.append((i + 1, f"old{i // 3}", "seed", 1.0, None, "[]", stamp))
            if i % 3 == 0:
                stories.append((f"old{i // 3}", f"Archived item {i}", i + 1, "", stamp, stamp,
                                stamp, 3, 1, 3, '["Archive"]', 1.0))
        c.executemany("INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        c.executemany("INSERT INTO article_sketches (article_id, terms, copy_sig, story_sig, "
                      "sketch_version, time, dated) VALUES (?,?,?,?,?,?,?)", sketches)
        c.executemany("INSERT INTO story_links VALUES (?,?,?,?,?,?,?)", links)
        c.executemany("INSERT INTO stories VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", stories)


def _per_article(archive: int) -> float:
    window = list(stream(6_000, 500, T0, PER_DAY, seed=2))
    fresh = list(stream(2_000, 500, T0 + timedelta(days=3), PER_DAY, seed=3))
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "bench.db")
        _archive(db, archive)
        _store(db, window)
        Clusterer(ClusterState(db), 72).run()  # the window, clustered before the timed run
        _store(db, fresh)
        started = time.perf_counter()
        report = Clusterer(ClusterState(db), 72).run()  # a new run: loads the window from disk, like a restart
        elapsed = time.perf_counter() - started
        assert report.articles == len(fresh)
        db.close()
    return elapsed / len(fresh)


def bench_scaling() -> Row:
    small = _per_article(20_000)
    large = _per_article(200_000)
    return Row("cluster: 2,000 new articles, archive 200,000 vs 20,000",
               f"{large * 1e3:.2f} ms/article", f"archive 20,000: {small * 1e3:.2f} ms/article",
               large / small, "<= 1.5x", large / small <= 1.5)
