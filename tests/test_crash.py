"""Crash safety: SIGKILL the poller at random moments; the database stays consistent and the
next run stores everything exactly once."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import FeedServer, respond, rss, write_config

FEEDS = 12
ITEMS = 40
KILLS = 8


def _body(n: int, upto: int) -> bytes:
    return rss([{"title": f"Feed {n} item {i}: council votes on budget line {i}",
                 "guid": f"f{n}-i{i}", "link": f"https://example.org/{n}/{i}",
                 "description": f"Detail {i} of feed {n} about the budget vote in town {n}."}
                for i in range(upto)])


def test_sigkill_loop_then_exactly_once(server: FeedServer, tmp_path: Path) -> None:
    rng = random.Random(7)
    feeds = []
    for n in range(FEEDS):
        server.routes[f"/f{n}.xml"] = respond(_body(n, ITEMS // 2), conditional=False)
        feeds.append({"url": server.url(f"/f{n}.xml"), "outlet": f"Outlet {n}"})
    cfg = write_config(tmp_path, feeds)
    cmd = [sys.executable, "-m", "aggregator", "--config", str(cfg), "poll", "--force"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for k in range(KILLS):
        if k == KILLS // 2:  # halfway, the feeds grow: new items arrive between crashes
            for n in range(FEEDS):
                server.routes[f"/f{n}.xml"] = respond(_body(n, ITEMS), conditional=False)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        db = sqlite3.connect(tmp_path / "aggregator.db")
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        db.close()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    db = sqlite3.connect(tmp_path / "aggregator.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    (n_articles,) = db.execute("SELECT COUNT(*) FROM articles").fetchone()
    assert n_articles == FEEDS * ITEMS
    (distinct,) = db.execute("SELECT COUNT(DISTINCT feed_url || key) FROM articles").fetchone()
    assert distinct == n_articles
    (linked,) = db.execute("SELECT COUNT(*) FROM story_links").fetchone()
    (sketched,) = db.execute("SELECT COUNT(*) FROM article_sketches").fetchone()
    (fts,) = db.execute("SELECT COUNT(*) FROM articles_fts").fetchone()
    assert linked == sketched == fts == n_articles
    (n_docs,) = db.execute("SELECT CAST(value AS INTEGER) FROM meta WHERE key='n_docs'").fetchone()
    assert n_docs == n_articles  # term statistics counted each article exactly once
