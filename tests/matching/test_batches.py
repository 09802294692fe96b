"""Batches of the clusterer: one stretch of time each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator.matching.clusterer import _one_stretch
from aggregator.model import PendingArticle


def _pending_at(hours: list[float]) -> list[PendingArticle]:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    return [PendingArticle(i, f"k{i}", "o", None, "t", "s", None, None,
                           (t0 + timedelta(hours=h)).isoformat(), True, "f", ("", "", ""))
            for i, h in enumerate(hours)]


@pytest.mark.parametrize(("hours", "kept"), [
    ([0, 1, 2], 3),
    ([0, 50, 100, 140], 4),  # gaps of at most one window (72 h): one batch
    ([0, 1, 80, 81], 2),  # a longer gap: no pair across it can be linked
    ([72 * k for k in range(15)], 11),  # at most ten windows of time from the first
])
def test_a_batch_covers_one_stretch_of_time(hours: list[float], kept: int) -> None:
    batch = _pending_at(hours)
    assert _one_stretch(batch, 72 * 3600.0) == batch[:kept]


def test_a_batch_of_long_texts_is_cut_short_and_every_article_clustered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aggregator.matching import clusterer
    from aggregator.matching.clusterer import Clusterer
    from aggregator.model import Article, FeedConfig, FeedUpdate
    from aggregator.store import open_db
    from aggregator.store.clustering import ClusterState
    from aggregator.store.feeds import save_success, sync_feeds

    db = open_db(tmp_path / "a.db")
    feed = FeedConfig(url="https://o.example/rss", outlet="Outlet")
    sync_feeds(db, [feed])
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    words = ["harbour", "bridge", "council", "flood", "strike", "election", "vaccine", "budget"]
    save_success(db, FeedUpdate(feed.url, 200, t0, t0, None, None, None, None, None, None, 0),
                 feed.outlet,
                 [Article(f"k{i}", f"https://o.example/{i}", f"{words[i % 8].title()} report {i}",
                          " ".join([words[i % 8]] * 150) + f" number {i}.", "", "",
                          t0 + timedelta(minutes=i), "", "en") for i in range(40)])
    sizes: list[int] = []
    state = ClusterState(db)
    save = state.save_assignment

    def saved(sketches: Any, *rest: Any) -> Any:
        sizes.append(len(sketches))
        return save(sketches, *rest)

    monkeypatch.setattr(state, "save_assignment", saved)
    monkeypatch.setattr(clusterer, "BATCH_TEXT", 10_000)  # ~1,000 characters an article
    report = Clusterer(state, 72).run()
    assert report.articles == 40 and sum(sizes) == 40
    assert max(sizes) <= 10 and len(sizes) >= 4
    assert db.execute("SELECT COUNT(*) FROM story_links").fetchone()[0] == 40
    db.close()
