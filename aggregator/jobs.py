"""The jobs the CLI runs, each a function that wires the stages and returns data to print:
poll, cluster, the feeds' health, and `aggregator run`, the daily job for cron (each stage
reports one line; failures don't stop later stages, and the run says whether every stage that
ran succeeded)."""

from __future__ import annotations

import asyncio
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from aggregator.errors import AggregatorError, LockedError, StorageError
from aggregator.ingest.poll import PollOptions, Progress, WorkOptions, lease_for, poll, work
from aggregator.lock import run_lock
from aggregator.matching.clusterer import Clusterer, ClusterReport
from aggregator.model import (
    Config,
    Copied,
    FeedHealth,
    Overview,
    PollReport,
    StoryQuery,
    StoryView,
)
from aggregator.publish.ranking import current_stories
from aggregator.publish.sending import send_digest
from aggregator.publish.site import build_site
from aggregator.publish.terminal import poll_line
from aggregator.store import PENDING_CHANNEL, claims, clustering, ensure, is_url, open_db
from aggregator.store.clustering import ClusterState
from aggregator.store.feeds import health
from aggregator.store.overview import overview as store_overview
from aggregator.store.postgres import PostgresDatabase
from aggregator.store.transfer import copy_store
from aggregator.times import iso

if TYPE_CHECKING:
    from aggregator.store import Database

Clock = Callable[[], datetime]

# The longest span `--since` accepts: a century of news.
MAX_SINCE = timedelta(days=36_525)
# The PostgreSQL advisory lock the one clusterer holds ('clus' in ASCII).
CLUSTER_LOCK = 0x636C7573
# Seconds between a standby clusterer's tries for the lock.
STANDBY_RETRY = 1.0
# Seconds a following clusterer waits for a notification before it looks for work anyway.
FOLLOW_FALLBACK = 60.0
# The names a worker's and a following clusterer's sessions carry on a PostgreSQL server.
WORKER_ROLE = "aggregator worker"
CLUSTERER_ROLE = "aggregator clusterer"
# How far a worker's clock may be from the database server's before the worker says so.
CLOCK_TOLERANCE = timedelta(seconds=10)


def _now() -> datetime:
    return datetime.now(UTC)


def run_poll(
    config: Config, options: PollOptions, progress: Progress | None = None, cluster: bool = True
) -> tuple[PollReport, ClusterReport | None]:
    """Poll once, then cluster. On PostgreSQL the poll is a poller's pass over the feeds due
    (claimed, so it runs beside other pollers), and clustering is left to the clusterer that
    holds the lock, if one does."""
    database = config.settings.database
    if is_url(database):
        if options.force:  # every feed at once, claimed or not: only when no worker runs
            db = open_db(database)
            try:
                report = asyncio.run(poll(db, config, options, progress))
            finally:
                db.close()
        else:
            report = run_worker(config, options, progress=progress)
        try:
            return report, run_cluster(config, options.now) if cluster else None
        except LockedError:
            return report, None
    ensure(database)  # the lock file sits beside the database
    with run_lock(database):
        db = open_db(database)
        try:
            report = asyncio.run(poll(db, config, options, progress))
            clustered = _cluster_all(db, config, options.now) if cluster else None
        finally:
            db.close()
    return report, clustered


def run_worker(
    config: Config,
    options: PollOptions,
    until_idle: bool = True,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    alive: Callable[[], None] = lambda: None,
    say: Callable[[str], None] = print,
) -> PollReport:
    """A poller (store.claims): polls due feeds until none is due, or with ``until_idle``
    unset until ``stop`` is set (``alive``: see WorkOptions). It ``say``s so as it starts if
    its clock is off the database server's by more than CLOCK_TOLERANCE, and which feeds and
    store it polls for."""
    db = open_db(config.settings.database, role=WORKER_ROLE)
    try:
        ahead = claims.clock_ahead(db, options.now())
        if abs(ahead) > CLOCK_TOLERANCE:
            say(_clock_warning(ahead))
        say(
            f"worker: polling the feeds of {config.path} ({len(config.feeds):,} listed) as they"
            f" come due, for {db.location}"
        )
        worker = WorkOptions(lease_for(config), until_idle=until_idle, stop=stop, alive=alive)
        return asyncio.run(work(db, config, options, worker, progress))
    finally:
        db.close()


def _clock_warning(ahead: timedelta) -> str:
    side = "ahead of" if ahead > timedelta(0) else "behind"
    return (
        f"worker: this machine's clock is {abs(ahead).total_seconds():,.0f} s {side} the "
        "database server's; claims are timed by it, so set the clocks right (NTP): a worker "
        "whose clock is off by minutes polls feeds early, or again while another polls them"
    )


def _cluster_key(partition: str | None) -> int:
    """The advisory lock a store's clusterer holds, or one partition's."""
    return (
        CLUSTER_LOCK if partition is None else CLUSTER_LOCK << 32 | zlib.crc32(partition.encode())
    )


@contextmanager
def _cluster_lock(
    db: Database, partition: str | None = None, wait: Callable[[], bool] | None = None
) -> Iterator[None]:
    """Hold the clustering lock of a PostgreSQL store (of one partition, with ``partition``);
    without ``wait`` a lock held elsewhere is an error, else ``wait()`` is called between tries
    until it returns False. SQLite needs none: its run lock covers the whole run."""
    if not isinstance(db, PostgresDatabase):
        yield
        return
    key = _cluster_key(partition)
    while not db.try_lock(key):
        if wait is None or not wait():
            where = "" if partition is None else f" (partition {partition})"
            raise LockedError(f"another clusterer is working on {db.location}{where}")
    try:
        yield
    finally:
        db.unlock(key)


def run_cluster(config: Config, now: Clock = _now) -> ClusterReport:
    database = config.settings.database
    if is_url(database):
        db = open_db(database)
        try:
            return _cluster_all(db, config, now)
        finally:
            db.close()
    ensure(database, create=False)  # a missing database is refused before the lock is made
    with run_lock(database):
        db = open_db(database, create=False)
        try:
            return _cluster_all(db, config, now)
        finally:
            db.close()


def _cluster_all(db: Database, config: Config, now: Clock) -> ClusterReport:
    """Cluster what is pending: in one partition, or with ``partition_by`` in each partition
    that has work, under its lock (a partition another clusterer holds is left to it)."""
    if not config.settings.partition_by:
        with _cluster_lock(db):
            return _clusterer(db, config, now).run()
    done: list[ClusterReport] = []
    held: list[LockedError] = []
    for partition in clustering.partitions(db):
        try:
            with _cluster_lock(db, partition):
                done.append(_clusterer(db, config, now, partition).run())
        except LockedError as e:
            held.append(e)
    if held and not done:
        raise held[0]
    return ClusterReport.total(done)


def _clusterer(
    db: Database,
    config: Config,
    now: Clock = _now,
    partition: str | None = None,
    alive: Callable[[], None] = lambda: None,
) -> Clusterer:
    return Clusterer(
        ClusterState(db, partition),
        config.settings.window_hours,
        config.settings.story_threshold,
        now,
        alive,
    )


def follow_cluster(
    config: Config,
    say: Callable[[str], None],
    report: Callable[[ClusterReport], None],
    stop: threading.Event | None = None,
    fallback: float | None = None,
    partition: str | None = None,
    now: Clock = _now,
    alive: Callable[[], None] = lambda: None,
) -> None:
    """The clusterer of a PostgreSQL store, as a service: waits as a standby while another
    holds the lock, then clusters whatever is pending, woken by the pollers' notifications
    (or every ``fallback`` seconds, FOLLOW_FALLBACK by default), until ``stop`` is set. ``say``
    gets a line per change of role, ``report`` each run that clustered articles; ``alive`` is
    called at least every second or so as long as the work goes on (a supervisor's
    watchdog)."""
    stop = stop or threading.Event()
    if bool(partition) != bool(config.settings.partition_by):
        raise AggregatorError(
            "cluster --follow: give --partition LANGUAGE when partition_by is set, and only then"
        )
    db = open_db(config.settings.database, role=CLUSTERER_ROLE)
    if not isinstance(db, PostgresDatabase):
        db.close()
        raise StorageError(
            'cluster --follow needs a PostgreSQL store (README, "Running on several machines")'
        )
    told = False

    def standby() -> bool:
        nonlocal told
        if not told:
            say("standby: another clusterer holds the lock; waiting to take over")
            told = True
        alive()
        return not stop.wait(STANDBY_RETRY)

    try:
        with _cluster_lock(db, partition, wait=standby):
            say("clustering: holding the lock")
            db.listen(PENDING_CHANNEL)
            clusterer = _clusterer(db, config, now, partition, alive)
            while not stop.is_set():
                r = clusterer.run()
                if r.articles:
                    report(r)
                deadline = time.monotonic() + (fallback or FOLLOW_FALLBACK)
                while not stop.is_set() and time.monotonic() < deadline:
                    alive()
                    if db.wait(min(1.0, max(0.0, deadline - time.monotonic()))):
                        break
    except LockedError:
        return  # stopped while standing by
    finally:
        db.close()


def cluster_line(r: ClusterReport) -> str:
    return (
        f"cluster: {r.articles} articles, {r.new_stories} new stories, {r.updated_stories} updated"
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


def copy_database(
    config: Config, target: str, progress: Callable[[Copied], None] = lambda c: None
) -> tuple[str, list[Copied]]:
    """Copy the configured database whole into ``target`` (a PostgreSQL URL, or a SQLite path),
    which must be empty; the target's location as it may be shown, and each table's rows. A
    SQLite file at either end is locked as a poll locks it, so no daily job writes the source
    while it is read."""
    source = config.settings.database
    if not is_url(target):
        target = str(Path(target).resolve())
        if not is_url(source) and Path(source).resolve() == Path(target):
            raise StorageError(f"{target} is the configured database: copy it somewhere else")
    with ExitStack() as stack:
        for database in (source, target):
            if not is_url(database):
                ensure(database, create=database == target)
                stack.enter_context(run_lock(database))
        read = stack.enter_context(closing(open_db(source, create=False)))
        written = stack.enter_context(closing(open_db(target)))
        return written.location, copy_store(read, written, progress)


def overview(config: Config, now: Clock = _now) -> Overview:
    """The pipeline at a glance (``aggregator status``): whether the pollers and the clusterer
    keep up."""
    db = open_db(config.settings.database, create=False)
    try:
        if isinstance(db, PostgresDatabase):
            server = db
            return store_overview(
                db,
                now(),
                by_partition=bool(config.settings.partition_by),
                holder=lambda partition: server.holder(_cluster_key(partition)),
                workers=server.sessions(WORKER_ROLE),
            )
        return store_overview(db, now())
    finally:
        db.close()


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
            yield cluster_line(run_cluster(config, now)), True
        except LockedError as e:
            yield f"cluster: {e}; it clusters", True
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
