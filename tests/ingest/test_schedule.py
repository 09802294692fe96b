"""When a feed is polled next: Retry-After and backoff."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from aggregator.ingest import schedule
from aggregator.ingest.fetch import max_age_seconds, retry_after_seconds


def test_retry_after_forms() -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds("Sun, 01 Nov 2026 00:10:00 GMT", now) == 600
    assert retry_after_seconds("soon", now) is None
    assert max_age_seconds("public, max-age=900") == 900


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    rng = random.Random(1)
    waits = [schedule.next_failure(now, 60, f, 1440, rng) - now for f in range(1, 12)]
    assert waits[0] <= timedelta(minutes=60) and waits[3] > timedelta(minutes=200)
    assert all(w <= timedelta(minutes=1440) for w in waits)
    assert schedule.retry_after(now, 10**9, 5, 1440) == now + timedelta(minutes=1440)
    assert schedule.retry_after(now, 1, 5, 1440) == now + timedelta(minutes=5)
