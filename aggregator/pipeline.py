"""The orchestration the CLI calls: one function per command, each returning data to print."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from .cluster import Clusterer, ClusterReport
from .lock import run_lock
from .model import Config, PollReport
from .poll import PollOptions, Progress, poll
from .store import open_db

if TYPE_CHECKING:
    from sqlite_utils import Database


def run_poll(
    config: Config, options: PollOptions, progress: Progress | None = None, cluster: bool = True
) -> tuple[PollReport, ClusterReport | None]:
    with run_lock(config.settings.database):
        db = open_db(config.settings.database)
        try:
            report = asyncio.run(poll(db, config, options, progress))
            clustered = _clusterer(db, config).run() if cluster else None
        finally:
            db.conn.close()
    return report, clustered


def run_cluster(config: Config) -> ClusterReport:
    with run_lock(config.settings.database):
        db = open_db(config.settings.database)
        try:
            return _clusterer(db, config).run()
        finally:
            db.conn.close()


def _clusterer(db: Database, config: Config) -> Clusterer:
    return Clusterer(db, config.settings.window_hours, config.settings.story_threshold)


def parse_since(value: str, now: datetime | None = None) -> str:
    """``24h``, ``3d``, ``90m`` or a date/datetime, as a stored UTC timestamp."""
    from .errors import AggregatorError
    from .store import iso

    now = now or datetime.now(UTC)
    v = value.strip().lower()
    units = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
    if v and v[-1] in units and v[:-1].isdigit():
        return iso(now - timedelta(seconds=int(v[:-1]) * units[v[-1]]))
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as e:
        raise AggregatorError(f"--since: expected e.g. 24h, 3d or 2026-11-27, got {value!r}") from e
    return iso(dt if dt.tzinfo else dt.replace(tzinfo=UTC))
