"""The records passed between layers: frozen dataclasses, each section saying from where to
where. No I/O and no logic here.

Times are timezone-aware UTC datetimes (or, where the store keeps them as text, sortable UTC
strings, see times.py); collections are tuples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from aggregator.times import epoch

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class FeedConfig:
    """One ``[[feeds]]`` entry of feeds.toml."""

    url: str
    outlet: str
    language: str | None = None
    country: str | None = None
    owner: str | None = None
    role: str | None = None
    fulltext: bool = False
    interval: int | None = None  # minutes; None means the settings' default


@dataclass(frozen=True)
class FetchLimits:
    """Safety and politeness limits for every HTTP request."""

    deadline: float = 30.0  # seconds for a whole fetch, redirects and body included
    connect_timeout: float = 10.0
    max_bytes: int = 8 * 1024 * 1024  # decoded body bytes
    max_redirects: int = 5
    concurrency: int = 64  # requests in flight overall
    per_host: int = 4  # requests in flight per host
    allowed_private_networks: tuple[str, ...] = ()
    user_agent: str = ""


@dataclass(frozen=True)
class Settings:
    """The ``[settings]`` table. Paths are absolute (resolved against the config file)."""

    database: str
    site_dir: str
    mail_dir: str
    templates: str | None
    limits: FetchLimits
    default_interval: int = 60  # minutes between polls of a feed
    min_interval: int = 5  # minutes; a feed's ttl/max-age cannot push polls closer than this
    max_interval: int = 24 * 60  # minutes; the longest any schedule or backoff may wait
    parse_timeout: float = 10.0  # seconds of CPU a single feed may take to parse
    parse_workers: int = 2
    window_hours: float = 72.0
    story_threshold: float | None = None  # None: the measured default (stories.STORY_THRESHOLD)
    single_source: bool = True
    # "language": one clusterer per feeds.toml language (README, "Running on several machines")
    partition_by: str | None = None
    site_title: str = "aggregator"
    site_days: int = 2  # days of stories on the front page


@dataclass(frozen=True)
class EmailSettings:
    """The ``[email]`` table; the password comes from AGGREGATOR_SMTP_PASSWORD only."""

    smtp_host: str = "localhost"
    smtp_port: int = 587
    security: str = "starttls"  # starttls | tls | none
    username: str | None = None
    sender: str = "aggregator@localhost"
    recipients: tuple[str, ...] = ()
    subject_prefix: str = "[news]"
    unsubscribe_url: str | None = None
    list_name: str = "default"
    maildir: str | None = None
    send_hour: int = 6  # UTC hour after which `run` sends the day's digest


@dataclass(frozen=True)
class Config:
    path: str
    settings: Settings
    feeds: tuple[FeedConfig, ...]
    email: EmailSettings = field(default_factory=EmailSettings)


@dataclass(frozen=True)
class Article:
    """One feed item, normalised and sanitised, as the parser returns it."""

    key: str  # stable per feed: GUID, else canonical link, else hash of link+title+date
    url: str | None  # canonical URL, tracking parameters removed; http(s) only
    title: str  # plain text
    summary: str  # plain text
    content_html: str  # sanitised with nh3
    author: str  # plain text
    published: datetime | None  # UTC; None when missing, unparseable or in the future
    published_raw: str  # the date string as the feed gave it
    language: str | None


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    articles: tuple[Article, ...]
    ttl_minutes: int | None
    link: str | None


@dataclass(frozen=True)
class FetchResult:
    """What a successful HTTP exchange produced (a 304 has ``body is None``)."""

    status: int
    final_url: str
    body: bytes | None
    headers: tuple[tuple[str, str], ...]
    etag: str | None
    last_modified: str | None
    permanent_redirect: str | None  # target of a 301/308 chain, when there was one
    max_age: int | None  # seconds from Cache-Control
    elapsed: float


@dataclass(frozen=True)
class FeedHealth:
    """A feed's state as `aggregator feeds` reports it."""

    url: str
    outlet: str
    ok: bool
    error_kind: str | None
    error: str | None
    failures: int
    articles: int
    last_polled: str | None
    last_status: int | None
    last_new_article: str | None
    next_due: str | None
    gone: bool
    redirect_to: str | None
    language: str | None = None
    country: str | None = None
    owner: str | None = None
    role: str | None = None

    @property
    def failing(self) -> bool:
        """Its last poll failed, and it is not gone: what `aggregator status` counts failing."""
        return not self.ok and not self.gone and self.last_polled is not None


@dataclass(frozen=True)
class PollOutcome:
    """The result of polling one feed."""

    url: str
    ok: bool
    new_articles: int
    status: int | None
    error_kind: str | None = None
    error: str | None = None
    not_modified: bool = False


@dataclass(frozen=True)
class Waiting:
    """A feed a poll left alone, and why: ``scheduled`` (not due yet), ``backoff`` (after
    failures), ``retry_after`` (the server asked us to wait) or ``gone`` (410: never again)."""

    url: str
    reason: str
    next_attempt: datetime | None  # None for a gone feed


@dataclass(frozen=True)
class PollReport:
    outcomes: tuple[PollOutcome, ...]
    waiting: tuple[Waiting, ...] = ()

    @property
    def ok(self) -> int:
        return sum(1 for o in self.outcomes if o.ok)

    @property
    def failed(self) -> int:
        return sum(1 for o in self.outcomes if not o.ok)

    @property
    def new_articles(self) -> int:
        return sum(o.new_articles for o in self.outcomes)

    @property
    def all_failed(self) -> bool:
        """Feeds were due and every one of them failed: nothing works (offline, blocked)."""
        return bool(self.outcomes) and not self.ok


# -- Feed state: from the store to the poller, and what a poll writes back (ingest -> store).


@dataclass(frozen=True)
class FeedState:
    """What the poller needs to know about a feed between runs."""

    url: str
    outlet: str
    language: str | None
    fulltext: bool
    interval: int | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    failures: int
    next_due: str | None
    retry_until: str | None
    gone: bool
    redirect_to: str | None
    redirect_count: int
    ttl_minutes: int | None = None


@dataclass(frozen=True)
class FeedUpdate:
    """Everything one successful poll changes about a feed, written in one transaction."""

    url: str
    status: int
    now: datetime
    next_due: datetime
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    ttl_minutes: int | None
    title: str | None
    redirect_to: str | None
    redirect_count: int
    host: str | None = None  # the host its polls go to from now on; None: as before


@dataclass(frozen=True)
class NotModified:
    """A poll that found nothing new (304, or the same body as last time)."""

    url: str
    status: int
    now: datetime
    next_due: datetime
    redirect_to: str | None = None
    redirect_count: int = 0
    host: str | None = None  # the host its polls go to from now on; None: as before


@dataclass(frozen=True)
class AwaitingText:
    """An article of a full-text feed stored before its page was fetched."""

    id: int
    key: str
    url: str | None
    first_seen: str


# -- Clustering: what the clusterer reads from the store and writes back (store <-> matching).


# (sort_time, feed_url, key): the order in which articles are clustered.
Cursor = tuple[str, str, str]


def body_text(summary: str, fulltext: str | None) -> str:
    """An article's text as clustering reads it, its title apart: the summary, then the text
    extracted from its page. One definition for a batch's articles and for a feed's sample of
    earlier ones: the lines stored of an article stand for this text."""
    return f"{summary}\n{fulltext or ''}"


@dataclass(frozen=True)
class PendingArticle:
    id: int
    key: str  # globally unique: feed URL + article key
    outlet: str
    url: str | None
    title: str
    summary: str
    fulltext: str | None
    language: str | None
    sort_time: str
    dated: bool
    feed_url: str
    cursor: Cursor

    @cached_property
    def time(self) -> float:
        """``sort_time`` in epoch seconds (read once: batches are cut and placed by it)."""
        return epoch(self.sort_time)


@dataclass(frozen=True)
class StoredSketch:
    id: int
    key: str
    outlet: str
    url: str | None
    vec: tuple[list[str], np.ndarray]  # its terms and their weights (year marks weigh 0)
    copy_sig: bytes | None  # None when made by another sketch version: never mixed with ours
    story_sig: bytes | None
    time: float
    dated: bool
    story_id: str
    copy_root: int | None
    neighbour: int | None = None
    neighbour_score: float = 0.0
    neighbour_vec: tuple[list[str], np.ndarray] | None = None  # when the neighbour is not loaded
    story_first_seen: str | None = None


@dataclass(frozen=True)
class NewSketch:
    article_id: int
    vec: dict[str, float]
    copy_sig: bytes
    story_sig: bytes
    time: float
    dated: bool
    lines: bytes  # text.line_hashes of its text: what the feed's later articles sample of it


@dataclass(frozen=True)
class Link:
    """Why an article is in its story."""

    article_id: int
    story_id: str
    kind: str  # seed | same_url | copy | version | story
    score: float
    matched_article_id: int | None
    shared_terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class CopyOf:
    article_id: int
    source_id: int
    same_outlet: bool  # a new version of the outlet's own article, not another outlet's report
    score: float


@dataclass(frozen=True)
class Neighbour:
    """An article's most similar article so far and their similarity."""

    article_id: int
    neighbour_id: int
    score: float


@dataclass(frozen=True)
class Assignment:
    links: tuple[Link, ...]
    copies: tuple[CopyOf, ...]
    merges: tuple[tuple[str, str], ...]  # (absorbed id, surviving id)
    # Articles with a new or closer nearest neighbour, which they are scored with from now on.
    neighbours: tuple[Neighbour, ...] = ()
    # (story id, id of a part split off it under a new id). Articles that move between two
    # stories that both go on show in ``relinked`` alone.
    splits: tuple[tuple[str, str], ...] = ()
    # The window's articles in stories that fell apart, each with its story now and its best
    # evidence inside it (the store keeps an article's earlier evidence if that still holds).
    relinked: tuple[Link, ...] = ()


# -- Stories as the outputs show them: from the store to the site, the digest and the terminal (store -> publish).


@dataclass(frozen=True)
class Member:
    article_id: int
    outlet: str
    title: str
    summary: str
    url: str | None
    published: str | None  # UTC ISO; None when the feed gave no usable date
    sort_time: str
    kind: str  # seed | story | copy | version | same_url
    score: float
    matched_article_id: int | None
    shared_terms: tuple[str, ...]
    copy_of: int | None
    country: str | None = None
    owner: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class StoryView:
    id: str
    title: str
    lead: str
    first_seen: str
    updated: str
    outlets_updated: str
    outlets: tuple[str, ...]
    independent_reports: int
    article_count: int
    rank: float
    members: tuple[Member, ...]

    @property
    def independent_outlets(self) -> int:
        return len({m.outlet for m in self.members if m.kind in ("seed", "story")})

    @property
    def single_outlet(self) -> bool:
        """Told by one outlet only: listed after the stories several outlets tell."""
        return len(self.outlets) < 2


@dataclass(frozen=True)
class StoryQuery:
    """Which stories an output wants (publish and jobs -> store); every filter is optional."""

    since: str | None = None  # updated at or after (UTC ISO)
    ids: tuple[str, ...] | None = None
    outlet: str | None = None  # told by this outlet (any case)
    search: str | None = None  # words in an article's title or summary
    min_outlets: int = 1
    linked_since: str | None = None  # gained an article after (UTC ISO)


# -- Digests: one record per list and period (publish <-> store).


@dataclass(frozen=True)
class DigestRecord:
    list_name: str
    period: str
    status: str
    message_id: str
    since: str
    until: str
    message: bytes


# -- A store copied into another (store -> jobs and cli).


@dataclass(frozen=True)
class Copied:
    """One table's rows copied, so far or in all."""

    table: str
    rows: int
    total: int  # the rows the source holds
    cleaned: int = 0  # rows whose texts held NUL characters, which PostgreSQL does not store
    finished: bool = False  # every row of the table is copied


# -- The pipeline at a glance (store -> jobs -> cli).


@dataclass(frozen=True)
class Queue:
    """The articles waiting for one clusterer, and on PostgreSQL who holds its lock."""

    partition: str | None  # a feed language, with partition_by; else None
    waiting: int  # articles stored and not yet clustered
    waiting_since: str | None  # when the longest-waiting of them was stored
    clusterer: str | None = None  # PostgreSQL: the holder of its lock, None when none holds it


@dataclass(frozen=True)
class Overview:
    """Whether the pollers and the clusterer keep up, from the store alone (so from any
    machine): feeds due and not yet taken by a poller, and articles waiting for the clusterer,
    each with how long the longest has waited. Times are stored timestamps."""

    server: bool  # PostgreSQL, where each queue's clusterer holds a lock
    database: str
    workers: tuple[tuple[str, int], ...]  # PostgreSQL: the workers connected, by address
    feeds: int  # listed in feeds.toml
    failing: int  # not gone, and the last poll failed
    failures: tuple[tuple[str, int], ...]  # the failing by error kind, most first
    gone: int
    never_polled: int
    due: int  # due now (or never polled), not gone, not taken by a poller
    due_since: str | None  # when the longest-due of those polled before came due
    articles: int
    newest: str | None  # when the last article stored was first seen
    queues: tuple[Queue, ...]  # the clusterer's queue, one per partition
    digest_until: str | None  # the end of the last digest sent
