"""Frozen dataclasses that cross module boundaries. No I/O here.

Times are timezone-aware UTC datetimes; collections are tuples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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
