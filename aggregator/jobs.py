"""The jobs the CLI runs, each a function that wires the stages and returns data to print:
poll, cluster, the feeds' health, and `aggregator run`, the daily job for cron (each stage
reports one line; failures don't stop later stages, and the run says whether every stage that
ran succeeded)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from aggregator.errors import AggregatorError
from aggregator.ingest.poll import PollOptions, Progress, poll
from aggregator.lock import run_lock
from aggregator.matching.clusterer import Clusterer, ClusterReport
from aggregator.model import Config, FeedHealth, PollReport, StoryQuery, StoryView
from aggregator.publish.ranking import current_stories
from aggregator.publish.sending import send_digest
from aggregator.publish.site import build_site
from aggregator.publish.terminal import poll_line
from aggregator.store import clustering, ensure, open_db
from aggregator.store.clustering import ClusterState
from aggregator.store.feeds import health
from aggregator.times import iso

if TYPE_CHECKING:
    from aggregator.store import Database

Clock = Callable[[], datetime]

# The longest span `--since` accepts: a century of news.
MAX_SINCE = timedelta(days=36_525)


def _now() -> datetime:
    return datetime.now(UTC)


def run_poll(
    config: Config, options: PollOptions, progress: Progress | None = None, cluster: bool = True
) -> tuple[PollReport, ClusterReport | None]:
    database = config.settings.database
    ensure(database)  # the lock file sits beside the database
    with run_lock(database):
        db = open_db(database)
        try:
            report = asyncio.run(poll(db, config, options, progress))
            clustered = _clusterer(db, config, options.now).run() if cluster else None
        finally:
            db.close()
    return report, clustered


def run_cluster(config: Config, now: Clock = _now) -> ClusterReport:
    database = config.settings.database
    ensure(database, create=False)  # a missing database is refused before the lock is made
    with run_lock(database):
        db = open_db(database, create=False)
        try:
            return _clusterer(db, config, now).run()
        finally:
            db.close()


def _clusterer(db: Database, config: Config, now: Clock = _now) -> Clusterer:
    return Clusterer(
        ClusterState(db), config.settings.window_hours, config.settings.story_threshold, now
    )


def feed_health(config: Config) -> list[FeedHealth]:
    """The configured feeds with their health, in the order of feeds.toml; feeds the database
    has not seen yet are listed as never polled."""
    db = open_db(config.settings.database, create=False)
    try:
        known = {h.url: h for h in health(db, [f.url for f in config.feeds])}
    finally:
        db.close()
    return [
        known.get(f.url)
        or FeedHealth(
            url=f.url,
            outlet=f.outlet,
            ok=False,
            error_kind=None,
            error=None,
            failures=0,
            articles=0,
            last_polled=None,
            last_status=None,
            last_new_article=None,
            next_due=None,
            gone=False,
            redirect_to=None,
            language=f.language,
            country=f.country,
            owner=f.owner,
            role=f.role,
        )
        for f in config.feeds
    ]


def list_stories(
    config: Config,
    since: str | None = None,
    outlet: str | None = None,
    search: str | None = None,
    min_outlets: int = 1,
    limit: int | None = None,
) -> list[StoryView]:
    """The current stories, ranked (``since``: ``24h``, ``3d`` or a date)."""
    db = open_db(config.settings.database, create=False)
    try:
        after = parse_since(since) if since else None
        query = StoryQuery(since=after, outlet=outlet, search=search, min_outlets=min_outlets)
        found = current_stories(db, query)
    finally:
        db.close()
    return found[:limit]


@dataclass(frozen=True)
class Explanation:
    """Why a story holds its articles: the story (found by any id it ever had), the story it
    was split off (if it was), and the parts split off it."""

    asked: str
    story: StoryView
    split_from: str | None
    split_off: tuple[str, ...]


def explain(config: Config, story_id: str) -> Explanation:
    db = open_db(config.settings.database, create=False)
    try:
        current = clustering.resolve(db, story_id)
        found = current_stories(db, StoryQuery(ids=(current,)))
        if not found:
            raise AggregatorError(f"no story {story_id!r}")
        parent, parts = clustering.splits_of(db, current)
    finally:
        db.close()
    return Explanation(story_id, found[0], parent, tuple(parts))


def parse_since(value: str, now: datetime | None = None) -> str:
    """``24h``, ``3d``, ``90m``, ``2w`` or a date/datetime, as a stored UTC timestamp."""
    now = now or _now()
    v = value.strip().lower()
    units = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
    if v and v[-1] in units and v[:-1].isdigit():
        seconds = int(v[:-1]) * units[v[-1]]
        if seconds > MAX_SINCE.total_seconds():
            raise AggregatorError(f"--since: {value!r} is more than {MAX_SINCE.days} days")
        return iso(now - timedelta(seconds=seconds))
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as e:
        raise AggregatorError(f"--since: expected e.g. 24h, 3d or 2026-11-27, got {value!r}") from e
    return iso(dt if dt.tzinfo else dt.replace(tzinfo=UTC))


def run_all(
    config: Config,
    poll: bool = True,
    cluster: bool = True,
    build: bool = True,
    email: bool = True,
    now: Clock = _now,
) -> Iterator[tuple[str, bool]]:
    """Each stage's line and whether it succeeded (a poll where every due feed failed did not)."""
    if poll:
        try:
            report, _ = run_poll(config, PollOptions(now=now), cluster=False)
            yield f"poll: {poll_line(report)}", not report.all_failed
        except AggregatorError as e:
            yield f"poll: failed: {e}", False
    if cluster:
        try:
            r = run_cluster(config, now)
            yield (
                f"cluster: {r.articles} articles, {r.new_stories} new stories, "
                f"{r.updated_stories} updated",
                True,
            )
        except AggregatorError as e:
            yield f"cluster: failed: {e}", False
    if build:
        try:
            yield f"build: site at {build_site(config, now=now())}", True
        except AggregatorError as e:
            yield f"build: failed: {e}", False
    if email:
        if not config.email.recipients and not config.email.maildir:
            yield "email: no recipients configured; skipped", True
        elif now().hour < config.email.send_hour:
            yield f"email: not due before {config.email.send_hour:02d}:00 UTC", True
        else:
            try:
                result = send_digest(config, now=now())
                yield f"email: {result.message}", result.ok
            except AggregatorError as e:
                yield f"email: failed: {e}", False
