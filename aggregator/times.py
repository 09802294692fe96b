"""Timestamps as the package stores and compares them: UTC, sortable text, second precision."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(dt: datetime) -> str:
    """UTC timestamp as stored: sortable text, second precision."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    # fromisoformat reads the trailing Z (Python 3.11), much faster than strptime.
    return datetime.fromisoformat(value).astimezone(UTC)


def epoch(stamp: str) -> float:
    """Seconds since the epoch of a stored timestamp."""
    parsed = parse_iso(stamp)
    assert parsed is not None
    return parsed.timestamp()
