"""Polling: fetch every due feed concurrently, parse in worker processes, store each feed's poll.

Wires fetch (httpx), workers + parse (feedparser), schedule and the feeds. One feed's failure is
recorded as data and never stops the others; each feed is bounded by its own fetch deadline and
parse time limit.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from aggregator import urls
from aggregator.errors import AggregatorError, FetchError, ParseError
from aggregator.ingest import sanitize, schedule
from aggregator.ingest.fetch import ACCEPT_PAGE, Fetcher, Resolve, system_resolve
from aggregator.ingest.fulltext import extract
from aggregator.ingest.parse import parse_feed
from aggregator.ingest.workers import WorkerPool
from aggregator.model import (
    Article,
    Config,
    FeedState,
    FeedUpdate,
    FetchLimits,
    FetchResult,
    NotModified,
    ParsedFeed,
    PollOutcome,
    PollReport,
    Waiting,
)
from aggregator.store import Database, claims, feeds
from aggregator.times import parse_iso

Progress = Callable[[PollOutcome, int, int], None]
T = TypeVar("T")
# Unchanged polls recorded per transaction (a crash loses only their schedule updates).
NOT_MODIFIED_BATCH = 256
# Article pages fetched per full-text feed and poll, at most: polite to the outlet.
MAX_FULLTEXT_PER_POLL = 30
# The longest error message kept for a feed.
MAX_ERROR = 500
# A full-text feed's pages of one poll are fetched within this many fetch deadlines in all (they
# are fetched at once, within the per-host limit); the rest wait for the next poll.
FULLTEXT_DEADLINES = 2
# An article waits this long for its page's text at most, then is clustered on its summary.
FULLTEXT_WAIT = timedelta(days=1)
# A poller's claim on a feed lasts this many times the longest the feed's poll can take.
LEASE_MARGIN = 2
# Seconds a worker with no feed due waits before it looks again.
WORKER_IDLE = 5.0
# Seconds between a worker's looks at its stop event (set by a signal handler, in any thread).
STOP_CHECK = 0.2
# Seconds between a worker's calls of WorkOptions.alive.
ALIVE_EVERY = 0.5
# Seconds a fetch waits before it tries again for a place among its host's requests.
HOST_WAIT = 0.2
# A claimed feed whose fetch waits for a place has its lease renewed once less than this share
# of it is left.
RENEW_BELOW = 0.75
# Feeds of one host a poller has in hand at once, for each place the host has (per_host).
FEEDS_PER_PLACE = 2


@dataclass(frozen=True)
class PollOptions:
    force: bool = False
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    resolve: Resolve = system_resolve


def due_feeds(
    db: Database, config: Config, now: datetime, force: bool
) -> tuple[list[FeedState], list[Waiting]]:
    """The feeds to poll now, and the others with why they wait."""
    due: list[FeedState] = []
    waiting: list[Waiting] = []
    for s in feeds.feed_states(db, [f.url for f in config.feeds]):
        next_due, retry_until = parse_iso(s.next_due), parse_iso(s.retry_until)
        if schedule.is_due(now, next_due, retry_until, s.gone, force):
            due.append(s)
        elif s.gone:
            waiting.append(Waiting(s.url, "gone", None))
        elif retry_until is not None and retry_until > now:
            waiting.append(Waiting(s.url, "retry_after", retry_until))
        else:
            waiting.append(Waiting(s.url, "backoff" if s.failures else "scheduled", next_due))
    return due, waiting


async def poll(
    db: Database, config: Config, options: PollOptions, progress: Progress | None = None
) -> PollReport:
    """Poll every due feed once (``--force``: every feed not gone or asked to wait)."""
    feeds.sync_feeds(db, config.feeds)
    now = options.now()
    due, waiting = due_feeds(db, config, now, options.force)
    settings = config.settings
    unchanged: list[NotModified] = []
    async with (
        Fetcher(settings.limits, options.resolve) as fetcher,
        WorkerPool(min(settings.parse_workers, max(1, len(due)))) as pool,
    ):
        run = _Run(db, config, fetcher, pool, options, unchanged)
        sem = asyncio.Semaphore(settings.limits.concurrency)
        in_hand = _in_hand(settings.limits)
        hosts: dict[str, asyncio.Semaphore] = collections.defaultdict(
            lambda: asyncio.Semaphore(in_hand)
        )
        outcomes: list[PollOutcome] = []

        async def one(state: FeedState) -> None:
            async with hosts[_polled_host(state)], sem:  # a busy host's feeds wait outside
                outcomes.append(await _poll_one(run, state))
            if progress:
                progress(outcomes[-1], len(outcomes), len(due))

        try:
            await asyncio.gather(*(one(s) for s in due))
        finally:
            _finish(run)
    return _report(config, outcomes, waiting)


@dataclass(frozen=True)
class WorkOptions:
    """A poller's: how long a claim on a feed lasts, and whether to stop once no feed is due
    (else it waits for the next, ``idle`` seconds at a time, until ``stop`` is set); ``alive``
    is called every ALIVE_EVERY seconds as long as its event loop runs (a supervisor's
    watchdog)."""

    lease: timedelta
    until_idle: bool = True
    idle: float = WORKER_IDLE
    stop: threading.Event | None = None
    alive: Callable[[], None] = lambda: None


def lease_for(config: Config) -> timedelta:
    """How long a claimed feed stays claimed: LEASE_MARGIN times the longest its poll can take
    (its fetch, its parse and its pages' fetch budget)."""
    s = config.settings
    longest = (1 + FULLTEXT_DEADLINES) * s.limits.deadline + s.parse_timeout
    return timedelta(seconds=LEASE_MARGIN * longest)


async def work(
    db: Database,
    config: Config,
    options: PollOptions,
    worker: WorkOptions,
    progress: Progress | None = None,
) -> PollReport:
    """A poller: claim due feeds (store.claims) as slots free up and poll each, until none is
    due (``until_idle``) or ``stop`` is set. Any number of pollers share one PostgreSQL store;
    each feed's poll is written in one transaction with its real next due time. The report
    has a feed's last poll, with the new articles of all its polls: a worker that runs for
    months keeps one outcome per feed, not one per poll."""
    feeds.sync_feeds(db, config.feeds)
    settings = config.settings
    slots = settings.limits.concurrency
    unchanged: list[NotModified] = []
    latest: dict[str, PollOutcome] = {}  # by feed
    polls = 0
    async with (
        Fetcher(settings.limits, options.resolve) as fetcher,
        WorkerPool(settings.parse_workers) as pool,
    ):
        run = _Run(db, config, fetcher, pool, options, unchanged)
        running: dict[asyncio.Task[PollOutcome], _Claim] = {}  # each poll, its feed's claim
        in_hand = _in_hand(settings.limits)
        beating = asyncio.create_task(_beat(worker.alive))
        stopping = asyncio.create_task(_stopped(worker.stop))
        try:
            while not stopping.done():
                if free := slots - len(running):
                    held = collections.Counter(c.host for c in running.values())
                    now = options.now()
                    for s in claims.claim_due(db, now, worker.lease, free, held, in_hand):
                        claim = _Claim(s.url, _polled_host(s), s.next_due, worker.lease)
                        running[asyncio.create_task(_poll_one(run, s, claim))] = claim
                if not running and worker.until_idle:
                    break
                # Woken by a poll's end, a stop, or the idle time (when more may be due).
                done, _ = await asyncio.wait(
                    [*running, stopping], timeout=worker.idle, return_when=asyncio.FIRST_COMPLETED
                )
                for task in [t for t in running if t in done]:
                    del running[task]
                    outcome = task.result()
                    latest[outcome.url] = _with_earlier(outcome, latest.get(outcome.url))
                    polls += 1
                    if progress:
                        progress(outcome, polls, polls + len(running))
                # Unchanged feeds get their real next time now, not when a batch fills: a
                # claim's lease would otherwise run out first and the feed be polled again.
                _save_unchanged(db, unchanged)
        finally:
            beating.cancel()
            stopping.cancel()
            for task in running:
                task.cancel()
            # Stopped with feeds unpolled: due again now, for any poller, not when their leases
            # end. A store that is gone keeps them until then.
            with contextlib.suppress(AggregatorError):
                unpolled = [(c.url, c.until) for c in running.values() if c.until]
                claims.give_back(db, unpolled, options.now())
            _finish(run)
    _, waiting = due_feeds(db, config, options.now(), force=False)
    return _report(config, list(latest.values()), [w for w in waiting if w.url not in latest])


def _in_hand(limits: FetchLimits) -> int:
    """The most feeds of one host a poller has in hand at once."""
    return FEEDS_PER_PLACE * limits.per_host


def _with_earlier(outcome: PollOutcome, before: PollOutcome | None) -> PollOutcome:
    """A feed's latest poll, counting the new articles of its earlier ones (``before``) too."""
    if before is None:
        return outcome
    return replace(outcome, new_articles=before.new_articles + outcome.new_articles)


@contextlib.asynccontextmanager
async def _place(run: _Run, host: str, claim: _Claim | None = None) -> AsyncIterator[None]:
    """One of ``host``'s ``per_host`` places across every poller, held for the body: one fetch,
    so a fetch that waits for a place holds none and two pollers never wait for each other.
    Tried every HOST_WAIT seconds, by this poller's fetches at the host one after another in
    the order they came, the ``claim`` kept meanwhile; '' (an address the fetcher refuses)
    takes none."""
    if not host:
        yield
        return
    held, slots = run.held, run.config.settings.limits.per_host
    turn = object()
    queue = run.waiting.setdefault(host, collections.deque())
    queue.append(turn)
    try:
        while (
            queue[0] is not turn
            or (slot := claims.take_host_slot(run.db, host, slots, held.get(host, ()))) is None
        ):
            if claim is not None:
                claim.keep(run.db, run.options.now())
            await asyncio.sleep(HOST_WAIT)
    finally:
        queue.remove(turn)
        if not queue:
            del run.waiting[host]
    held.setdefault(host, []).append(slot)  # SQLite's one poller holds place 0 as often as asked
    try:
        yield
    finally:
        held[host].remove(slot)
        if not held[host]:  # a worker meets every feed's host; it keeps those it fetches from now
            del held[host]
        claims.release_host_slot(run.db, host, slot)


async def _beat(alive: Callable[[], None]) -> None:
    """``alive`` every ALIVE_EVERY seconds for as long as the event loop runs its tasks (a
    poll that blocks the loop stops it)."""
    while True:
        alive()
        await asyncio.sleep(ALIVE_EVERY)


async def _stopped(stop: threading.Event | None) -> None:
    """Return once ``stop`` is set, looking every STOP_CHECK seconds; without one, never."""
    while not (stop and stop.is_set()):
        await asyncio.sleep(STOP_CHECK)


async def _poll_one(run: _Run, state: FeedState, claim: _Claim | None = None) -> PollOutcome:
    outcome = await _poll_feed(run, state, claim)
    if len(run.unchanged) >= NOT_MODIFIED_BATCH:
        _save_unchanged(run.db, run.unchanged)
    return outcome


def _finish(run: _Run) -> None:
    """What a poll leaves to its end: the unchanged polls not yet recorded, the search index."""
    _save_unchanged(run.db, run.unchanged)
    feeds.index_pending(run.db)


def _report(config: Config, outcomes: list[PollOutcome], waiting: list[Waiting]) -> PollReport:
    order = {f.url: i for i, f in enumerate(config.feeds)}
    return PollReport(
        tuple(sorted(outcomes, key=lambda o: order.get(o.url, 0))),
        tuple(sorted(waiting, key=lambda w: order.get(w.url, 0))),
    )


def _interval(config: Config, state: FeedState) -> int:
    return state.interval or config.settings.default_interval


def _save_unchanged(db: Database, unchanged: list[NotModified]) -> None:
    """Record the unchanged polls gathered so far (they only move schedules: if that fails, the
    feeds are polled again next time, and the poll goes on)."""
    rows = list(unchanged)
    unchanged.clear()
    with contextlib.suppress(AggregatorError):
        feeds.save_not_modified(db, rows)


@dataclass(frozen=True)
class _Run:
    """What every feed of one poll shares: the store, the settings, the HTTP client, the parse
    workers, the options, the unchanged polls waiting to be recorded together, and the places
    at hosts the poller holds."""

    db: Database
    config: Config
    fetcher: Fetcher
    pool: WorkerPool
    options: PollOptions
    unchanged: list[NotModified]
    held: dict[str, list[int]] = field(default_factory=dict)  # host -> the places this poller holds
    # host -> this poller's fetches waiting for a place there, the next to try first
    waiting: dict[str, collections.deque[object]] = field(default_factory=dict)


@dataclass
class _Claim:
    """A poller's claim on a feed whose polls go to ``host`` (``until``: its lease's end as
    stored; None once another poller has claimed the feed), renewed while the feed's fetch waits
    for a place: a queue at a busy host does not outlast the lease, for another poller to claim
    the feed and poll it too."""

    url: str
    host: str
    until: str | None
    lease: timedelta

    def keep(self, db: Database, now: datetime) -> None:
        """The lease renewed to a full one from ``now`` once less than RENEW_BELOW of it is
        left."""
        if self.until is None:
            return
        end = parse_iso(self.until)
        if end is not None and end - now < RENEW_BELOW * self.lease:
            self.until = claims.renew(db, self.url, self.until, now + self.lease)


async def _poll_feed(run: _Run, state: FeedState, claim: _Claim | None) -> PollOutcome:
    """Poll one feed (``claim``: this poller's on it, if it claimed it) and record what
    happened. Any failure is this feed's: recorded with its kind (``internal_error`` and the
    exception's class for the unexpected), never raised."""
    status: list[int] = []  # the HTTP status, once known
    try:
        return await _attempt(run, state, status, claim)
    except FetchError as e:
        failed = Failed(e.kind, e.message, e.status or _first(status), e.retry_after)
    except ParseError as e:
        failed = Failed(e.kind, e.message, _first(status))
    except Exception as e:  # a bug, or a library failing on hostile input: data, not a crash
        failed = Failed("internal_error", f"{type(e).__name__}: {e}"[:300], _first(status))
    try:
        return _failure(run.db, run.config, state, failed, run.options.now())
    except Exception as e:  # the store refused even the failure: report it, poll the rest
        return PollOutcome(state.url, False, 0, None, "internal_error", f"{type(e).__name__}: {e}")


def _first(values: list[int]) -> int | None:
    return values[0] if values else None


@dataclass(frozen=True)
class Failed:
    """Why one feed's poll failed: a machine-readable kind, a message for people, the HTTP
    status when there was one, and the seconds the server asked us to wait."""

    kind: str
    message: str
    status: int | None = None
    retry_after: float | None = None


async def _attempt(
    run: _Run, state: FeedState, status: list[int], claim: _Claim | None
) -> PollOutcome:
    """One feed's poll (``status`` gets the HTTP status once there is one); raises on failure."""
    db, config, fetcher, pool, options = run.db, run.config, run.fetcher, run.pool, run.options
    s = config.settings
    url = fetch_url(state)
    async with _place(run, urls.host(url), claim):
        result = await fetcher.fetch(url, state.etag, state.last_modified)
    status.append(result.status)
    now = options.now()
    redirect_to, redirect_count = _redirect(state, result)
    host = urls.host(_polled_at(state.url, redirect_to, redirect_count))  # from now on

    def next_due(ttl_minutes: int | None) -> datetime:
        return schedule.next_success(
            now,
            _interval(config, state),
            result.max_age,
            ttl_minutes,
            s.min_interval,
            s.max_interval,
        )

    body_hash = hashlib.sha256(result.body).hexdigest() if result.body is not None else None
    if result.body is None or body_hash == state.body_hash:
        if state.fulltext:  # pages an earlier poll had no time for
            await _page_texts(run, state, (), now)
        run.unchanged.append(
            NotModified(
                state.url,
                result.status,
                now,
                next_due(state.ttl_minutes),
                redirect_to,
                redirect_count,
                host,
            )
        )
        return PollOutcome(state.url, True, 0, result.status, not_modified=True)
    parsed: ParsedFeed = await pool.run(
        parse_feed,
        (result.body, dict(result.headers), result.final_url, state.language, now),
        s.parse_timeout,
    )
    fulltexts = await _page_texts(run, state, parsed.articles, now) if state.fulltext else None
    update = FeedUpdate(
        url=state.url,
        status=result.status,
        now=now,
        next_due=next_due(parsed.ttl_minutes),
        etag=result.etag,
        last_modified=result.last_modified,
        body_hash=body_hash,
        ttl_minutes=parsed.ttl_minutes,
        title=parsed.title or None,
        redirect_to=redirect_to,
        redirect_count=redirect_count,
        host=host,
    )
    new = feeds.save_success(db, update, state.outlet, parsed.articles, fulltexts)
    return PollOutcome(state.url, True, new, result.status)


def fetch_url(state: FeedState) -> str:
    """The configured URL, or where it moved once the move has been confirmed (the feed keeps
    its configured URL as its identity; `aggregator feeds` reports the move)."""
    return _polled_at(state.url, state.redirect_to, state.redirect_count)


def _polled_host(state: FeedState) -> str:
    """The host a feed's polls go to, which pollers count their feeds by (store.claims)."""
    return urls.host(fetch_url(state))


def _polled_at(url: str, redirect_to: str | None, redirect_count: int) -> str:
    if redirect_to and redirect_count >= schedule.REDIRECT_CONFIRMATIONS:
        return redirect_to
    return url


def _redirect(state: FeedState, result: FetchResult) -> tuple[str | None, int]:
    """The permanent-redirect target and how many polls in a row have seen it."""
    moved = fetch_url(state) != state.url
    target = result.permanent_redirect
    if moved and (target is None or target == state.redirect_to):
        return state.redirect_to, state.redirect_count  # still where it moved to
    if not target or target == state.url:
        return None, 0
    count = state.redirect_count + 1 if state.redirect_to == target else 1
    return target, count


def _failure(
    db: Database, config: Config, state: FeedState, e: Failed, now: datetime
) -> PollOutcome:
    s = config.settings
    gone = e.kind == "gone"
    retry_until = None
    next_due = None
    st = e.status
    if not gone:
        wait = e.retry_after
        if wait is not None:
            retry_until = schedule.retry_after(now, wait, s.min_interval, s.max_interval)
            next_due = retry_until
        else:
            next_due = schedule.next_failure(
                now, _interval(config, state), state.failures + 1, s.max_interval
            )
    # A message may quote what a server sent: one line, no control characters, for terminals.
    message = sanitize.plain_line(e.message)[:MAX_ERROR]
    feeds.save_failure(db, state.url, st, e.kind, message, now, next_due, retry_until, gone)
    return PollOutcome(state.url, False, 0, st, e.kind, message)


async def _fulltexts(run: _Run, pages: Mapping[T, str], budget: float) -> dict[T, str]:
    """The text of each page fetched and extracted within ``budget`` seconds, all at once
    (the fetcher keeps to its per-host limit), each fetched within a place at its address's
    host; by the caller's key, '' for a page tried in vain. Pages not done when the budget is
    spent are left out, to be tried next poll."""
    timeout = run.config.settings.parse_timeout

    async def one(url: str) -> str:
        try:
            async with _place(run, urls.host(url)):
                page = await run.fetcher.fetch(url, accept=ACCEPT_PAGE)
            if page.body:
                return str(await run.pool.run(extract, (page.body, page.final_url), timeout) or "")
        except AggregatorError:
            pass  # the item keeps its summary for matching
        return ""

    tasks = {key: asyncio.ensure_future(one(url)) for key, url in pages.items()}
    if not tasks:
        return {}
    done, pending = await asyncio.wait(tasks.values(), timeout=budget)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return {key: task.result() for key, task in tasks.items() if task in done}


async def _page_texts(
    run: _Run, state: FeedState, articles: tuple[Article, ...], now: datetime
) -> dict[str, str]:
    """A full-text feed's page texts for this poll: those of articles still waiting from earlier
    polls first (stored here), then those of its new ``articles`` (returned by key, for the
    store; a new article without a page to fetch gets ''). At most MAX_FULLTEXT_PER_POLL pages,
    all within FULLTEXT_DEADLINES fetch deadlines."""
    db, settings = run.db, run.config.settings
    waiting = feeds.awaiting_text(db, state.url)
    known = feeds.known_keys(db, state.url, [a.key for a in articles])
    new = [a for a in articles if a.key not in known]
    out = {a.key: "" for a in new if not urls.is_http(a.url)}
    # Pages by the waiting article's id (an int) or the new article's key (a str).
    pages: dict[int | str, str] = {}
    for w in waiting:
        if w.url and urls.is_http(w.url) and len(pages) < MAX_FULLTEXT_PER_POLL:
            pages[w.id] = w.url
    for a in new:
        if a.url and a.key not in out and len(pages) < MAX_FULLTEXT_PER_POLL:
            pages[a.key] = a.url
    texts = await _fulltexts(run, pages, FULLTEXT_DEADLINES * settings.limits.deadline)
    given_up = now - FULLTEXT_WAIT
    done = {
        w.id: texts.get(w.id, "")
        for w in waiting
        if w.id in texts or not urls.is_http(w.url) or (parse_iso(w.first_seen) or now) < given_up
    }
    if done:
        feeds.save_fulltexts(db, done)
    out.update({key: text for key, text in texts.items() if isinstance(key, str)})
    return out
