"""Batches of the clusterer: one stretch of time each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
