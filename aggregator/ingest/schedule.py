"""When to poll a feed next. Pure functions over times and counts.

- success: the feed's interval, stretched by the server's Cache-Control max-age or the feed's
  ``ttl`` when those ask for longer, clamped to [min_interval, max_interval];
- failure: exponential backoff with jitter (interval x 2^(failures-1), full jitter on the upper
  half), capped at max_interval;
- Retry-After (429/503): honoured, clamped to [min_interval, max_interval];
- 410 Gone: no next poll.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

# A permanent redirect must be seen this many polls in a row before the stored URL follows it.
REDIRECT_CONFIRMATIONS = 3


def next_success(
    now: datetime,
    interval_min: int,
    max_age_s: int | None,
    ttl_min: int | None,
    min_interval: int,
    max_interval: int,
) -> datetime:
    minutes = float(interval_min)
    if max_age_s:
        minutes = max(minutes, max_age_s / 60.0)
    if ttl_min:
        minutes = max(minutes, float(ttl_min))
    minutes = min(max(minutes, float(min_interval)), float(max_interval))
    return now + timedelta(minutes=minutes)


def next_failure(
    now: datetime,
    interval_min: int,
    failures: int,
    max_interval: int,
    rng: random.Random | None = None,
) -> datetime:
    """Backoff after ``failures`` consecutive failures (the current one included)."""
    r = rng or random.Random()
    exp = min(max(failures - 1, 0), 16)
    ceiling = min(float(interval_min) * (2**exp), float(max_interval))
    minutes = ceiling / 2 + r.random() * ceiling / 2
    return now + timedelta(minutes=minutes)


def retry_after(now: datetime, seconds: float, min_interval: int, max_interval: int) -> datetime:
    clamped = min(max(seconds, min_interval * 60.0), max_interval * 60.0)
    return now + timedelta(seconds=clamped)


def is_due(
    now: datetime, next_due: datetime | None, retry_until: datetime | None, gone: bool, force: bool
) -> bool:
    if gone:
        return False
    if retry_until is not None and retry_until > now:
        return False  # --force never overrides a server's Retry-After
    if force:
        return True
    return next_due is None or next_due <= now
