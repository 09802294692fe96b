"""The clusterer's memory per window article: a database holding N clustered articles inside
one 72-hour window and a batch of 2,000 new ones in front of them; a fresh clusterer process
loads the window and clusters the batch. The figure is its peak RSS less its RSS before it read
anything, per window article, at 50,000 and 200,000 articles; and, from those two peaks, what
each window article adds (the slope between them) and what a batch takes whatever the window
holds (the rest of the peak at 50,000).

Feeds: the same peak with 20,000 articles in the window and a batch of 2,000 from 1,000 feeds,
against one from 20 feeds: what the samples of each feed's earlier articles (to tell its
boilerplate) cost the batch."""

from __future__ import annotations

import multiprocessing
import tempfile
from dataclasses import replace
from pathlib import Path

from resident import status

from aggregator.matching.clusterer import Clusterer
from aggregator.store import open_db
from aggregator.store.clustering import ClusterState

from .bench_cluster import _store
from .common import Row
from .corpus import T0, stream

BATCH = 2_000
SPAWN = multiprocessing.get_context("spawn")


def _build(path: str, n: int, words: int, feeds: int, sentences: bool) -> None:
    """``n`` clustered articles of about ``words`` words from ``feeds`` feeds within 72 hours,
    and BATCH more waiting; each text one line, or in sentences."""
    db = open_db(path)
    items = list(stream(n + BATCH, words, T0, (n + BATCH) // 3, seed=1, outlets=feeds))
    if sentences:
        items = [replace(it, text=_in_sentences(it.text)) for it in items]
    _store(db, items, feeds)
    Clusterer(ClusterState(db), 72).run(limit=n)
    db.close()


def _in_sentences(text: str, words: int = 20) -> str:
    """``text`` as sentences of ``words`` words, as an article's lines are for boilerplate
    detection (the corpus writes one)."""
    split = text.split()
    return " ".join(
        " ".join(split[i : i + words]).capitalize() + "." for i in range(0, len(split), words)
    )


def _measure(path: str, out: multiprocessing.queues.Queue) -> None:  # type: ignore[type-arg]
    db = open_db(path)
    before = status("VmRSS")
    clusterer = Clusterer(ClusterState(db), 72)
    report = clusterer.run()
    highest = status("VmHWM")  # not ru_maxrss, which it started with the runner's
    out.put((report.articles, len(clusterer.window.docs), before, highest))
    db.close()


def _peak(n: int, words: int = 500, database: str | None = None, feeds: int = 20,
          sentences: bool = False) -> int:
    """The peak RSS of a fresh clusterer loading a window of ``n`` articles and clustering a
    batch, less its RSS before it read anything; in a SQLite file, or in ``database`` (an
    empty PostgreSQL database's URL); the articles from ``feeds`` feeds, each text one line or
    in ``sentences``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = database or str(Path(tmp) / "memory.db")
        builder = SPAWN.Process(target=_build, args=(path, n, words, feeds, sentences))
        builder.start()
        builder.join()
        out = SPAWN.Queue()
        child = SPAWN.Process(target=_measure, args=(path, out))
        child.start()
        clustered, held, before, highest = out.get(timeout=3600)
        child.join()
    assert clustered == BATCH and held >= n
    return int(highest - before)


# The most a window article may hold: 2 KB.
BUDGET = 2048


def bench_window() -> list[Row]:
    small, large = 50_000, 200_000
    peaks = {n: _peak(n) for n in (small, large)}
    rows = []
    for n, p in peaks.items():
        held = p / n
        rows.append(Row(f"cluster: peak memory per window article, {n:,} in the window",
                        f"{held:,.0f} B", f"budget {BUDGET:,} B", held / BUDGET,
                        "<= 1.0x", held <= BUDGET))
    added = (peaks[large] - peaks[small]) / (large - small)
    rows.append(Row(f"cluster: peak memory each window article adds, {small:,} to {large:,}",
                    f"{added:,.0f} B", f"budget {BUDGET:,} B", added / BUDGET, "<= 1.0x",
                    added <= BUDGET))
    batch = peaks[small] - added * small
    rows.append(Row(f"cluster: peak memory whatever the window holds (a batch of {BATCH:,})",
                    f"{batch / 2**20:,.0f} MiB", f"peak at {small:,}: {peaks[small] / 2**20:,.0f} MiB",
                    batch / peaks[small], "(information)", True))
    return rows


def bench_feeds() -> Row:
    n, few, many = 20_000, 20, 1_000
    peaks = {feeds: _peak(n, feeds=feeds, sentences=True) for feeds in (few, many)}
    ratio = peaks[many] / peaks[few]
    return Row(f"cluster: peak memory, a batch of {BATCH:,} from {many:,} feeds, {n:,} in the window",
               f"{peaks[many] / 2**20:,.0f} MiB", f"from {few} feeds: {peaks[few] / 2**20:,.0f} MiB",
               ratio, "<= 1.1x", ratio <= 1.1)
