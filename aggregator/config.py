"""Load and validate feeds.toml into a Config. The only place that reads the config file.

A bad file raises ConfigError naming the file, the entry and the key; nothing else runs.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomli

from aggregator import USER_AGENT
from aggregator.errors import ConfigError
from aggregator.model import Config, EmailSettings, FeedConfig, FetchLimits, Settings

# Control characters (line breaks included) and the invisible ones that reorder or hide text.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
# Any white space, as str.isspace tells it.
_SPACE = re.compile(r"\s")

DEFAULT_CONFIG = "feeds.toml"
CONFIG_ENV = "AGGREGATOR_CONFIG"
# A PostgreSQL server's URL, used instead of [settings] database when set (it may hold a password).
DATABASE_ENV = "AGGREGATOR_DATABASE_URL"
# How a database on a server is written; anything else is a SQLite file's path.
SERVER_SCHEMES = ("postgresql://", "postgres://")

ROLES = (
    "wire",
    "national",
    "international",
    "local",
    "public",
    "state",
    "opinion",
    "aggregator",
    "business",
    "magazine",
    "blog",
)

_FEED_KEYS: dict[str, type | tuple[type, ...]] = {
    "url": str,
    "outlet": str,
    "language": str,
    "country": str,
    "owner": str,
    "role": str,
    "fulltext": bool,
    "interval": int,
}
_SETTING_KEYS: dict[str, type | tuple[type, ...]] = {
    "database": str,
    "site_dir": str,
    "mail_dir": str,
    "templates": str,
    "timeout": (int, float),
    "connect_timeout": (int, float),
    "max_bytes": int,
    "max_redirects": int,
    "concurrency": int,
    "per_host": int,
    "allowed_private_networks": list,
    "user_agent": str,
    "default_interval": int,
    "min_interval": int,
    "max_interval": int,
    "parse_timeout": (int, float),
    "parse_workers": int,
    "window_hours": (int, float),
    "story_threshold": (int, float),
    "single_source": bool,
    "partition_by": str,
    "site_title": str,
    "site_days": int,
}
_EMAIL_KEYS: dict[str, type | tuple[type, ...]] = {
    "smtp_host": str,
    "smtp_port": int,
    "security": str,
    "username": str,
    "sender": str,
    "recipients": list,
    "subject_prefix": str,
    "unsubscribe_url": str,
    "list_name": str,
    "maildir": str,
    "send_hour": int,
}


# The range each number may take (both ends included; documented in README, "Configuration").
# A value outside it, NaN or an infinity is refused with the file, the entry and the key.
MINUTES_IN_A_YEAR = 525_600
RANGES: dict[str, tuple[float, float]] = {
    "timeout": (0.1, 3600),
    "connect_timeout": (0.1, 600),
    "max_bytes": (1024, 1024**3),
    "max_redirects": (0, 20),
    "concurrency": (1, 1024),
    "per_host": (1, 64),
    "default_interval": (1, MINUTES_IN_A_YEAR),
    "min_interval": (1, MINUTES_IN_A_YEAR),
    "max_interval": (1, MINUTES_IN_A_YEAR),
    "parse_timeout": (0.1, 600),
    "parse_workers": (1, 64),
    "window_hours": (0.1, 8760),
    "site_days": (1, 3650),
    "smtp_port": (1, 65535),
    "send_hour": (0, 23),
    "interval": (1, MINUTES_IN_A_YEAR),
}


def config_path(explicit: str | None) -> Path:
    """The config file to use: --config, else $AGGREGATOR_CONFIG, else ./feeds.toml."""
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_config(path: str | os.PathLike[str]) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"{p}: no such file (use --config or {CONFIG_ENV})") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read: {e}") from e
    return config_from_text(text, p)


def config_from_text(text: str, path: Path) -> Config:
    """feeds.toml's ``text`` (``path`` names it in errors) parsed and checked. Every command
    reads it, so it is parsed by tomli's compiled wheels rather than the standard library's
    tomllib, its pure-Python twin (docs/tuning.md, "Reading feeds.toml")."""
    try:
        raw = tomli.loads(text)
    except tomli.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    return parse_config(raw, path)


def parse_config(raw: Mapping[str, Any], path: Path) -> Config:
    unknown = set(raw) - {"settings", "feeds", "email"}
    if unknown:
        raise ConfigError(f"{path}: unknown table {sorted(unknown)[0]!r}")
    base = path.resolve().parent
    settings = _settings(_table(raw, "settings", path), path, base)
    feeds_raw = raw.get("feeds", [])
    if not isinstance(feeds_raw, list):
        raise ConfigError(f"{path}: 'feeds' must be an array of tables ([[feeds]])")
    feeds: list[FeedConfig] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(feeds_raw, start=1):
        feed = _feed(entry, i, path)
        if feed.url in seen:
            raise ConfigError(
                f"{path}: feeds entry {i} ({feed.outlet}): key 'url': duplicate of entry {seen[feed.url]}"
            )
        seen[feed.url] = i
        feeds.append(feed)
    email = _email(_table(raw, "email", path), path, base)
    return Config(path=str(path.resolve()), settings=settings, feeds=tuple(feeds), email=email)


def _table(raw: Mapping[str, Any], name: str, path: Path) -> Mapping[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: [{name}] must be a table")
    return value


def _check(
    where: str, table: Mapping[str, Any], keys: Mapping[str, type | tuple[type, ...]]
) -> None:
    for key, value in table.items():
        if key not in keys:
            raise ConfigError(
                f"{where}: key {key!r}: unknown key (expected one of {', '.join(sorted(keys))})"
            )
        expected = keys[key]
        # bool is an int in Python; refuse true/false where a number is expected
        if isinstance(value, bool) and expected is not bool:
            raise ConfigError(
                f"{where}: key {key!r}: expected {_type_name(expected)}, got a boolean"
            )
        if not isinstance(value, expected):
            raise ConfigError(
                f"{where}: key {key!r}: expected {_type_name(expected)}, got {type(value).__name__}"
            )
        if isinstance(value, str) and _CONTROL.search(value):
            raise ConfigError(f"{where}: key {key!r}: must be one line without control characters")
        if key in RANGES and isinstance(value, int | float):
            _in_range(where, key, value)


def _in_range(where: str, key: str, value: float) -> None:
    low, high = RANGES[key]
    if not math.isfinite(value) or not low <= value <= high:
        raise ConfigError(f"{where}: key {key!r}: must be from {low:g} to {high:g}, got {value!r}")


def _type_name(t: type | tuple[type, ...]) -> str:
    names = {
        "str": "a string",
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "list": "a list",
    }
    if isinstance(t, tuple):
        return "a number"
    return names.get(t.__name__, t.__name__)


def _feed(entry: Any, i: int, path: Path) -> FeedConfig:
    return feed_entry(entry, f"{path}: feeds entry {i}")


def feed_entry(entry: Any, where: str) -> FeedConfig:
    """One feed checked with feeds.toml's rules (``where`` names it in errors: the file and the
    entry), whatever it comes from: a [[feeds]] table, an OPML outline."""
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: must be a table")
    label = " ".join(str(entry.get("outlet") or entry.get("url") or "?").split())[:80]
    where = f"{where} ({label})"
    _check(where, entry, _FEED_KEYS)
    for key in ("url", "outlet"):
        if not entry.get(key, "").strip():
            raise ConfigError(f"{where}: key {key!r}: required and must not be empty")
    url = entry["url"].strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - a port out of range raises here
    except ValueError as e:
        raise ConfigError(f"{where}: key 'url': not a valid URL ({e}): {url!r}") from e
    if parts.scheme not in ("http", "https") or not host or _SPACE.search(url):
        raise ConfigError(f"{where}: key 'url': must be an http(s) URL with a host, got {url!r}")
    role = entry.get("role")
    if role is not None and role not in ROLES:
        raise ConfigError(f"{where}: key 'role': {role!r} is not one of {', '.join(ROLES)}")
    interval = entry.get("interval")
    return FeedConfig(
        url=url,
        outlet=entry["outlet"].strip(),
        language=entry.get("language"),
        country=entry.get("country"),
        owner=entry.get("owner"),
        role=role,
        fulltext=entry.get("fulltext", False),
        interval=interval,
    )


def _settings(t: Mapping[str, Any], path: Path, base: Path) -> Settings:
    where = f"{path}: [settings]"
    _check(where, t, _SETTING_KEYS)
    if "story_threshold" in t and not 0 < t["story_threshold"] < 1:
        raise ConfigError(f"{where}: key 'story_threshold': must be between 0 and 1")
    if t.get("partition_by", "language") != "language":
        raise ConfigError(
            f"{where}: key 'partition_by': must be language, got {t['partition_by']!r}"
        )
    low = t.get("min_interval", Settings.min_interval)
    if low > t.get("max_interval", Settings.max_interval):
        raise ConfigError(f"{where}: key 'min_interval': must not exceed max_interval")
    nets = t.get("allowed_private_networks", [])
    for n in nets:
        try:
            if not isinstance(n, str):
                raise TypeError(n)
            ipaddress.ip_network(n, strict=False)
        except (ValueError, TypeError) as e:
            raise ConfigError(
                f"{where}: key 'allowed_private_networks': {n!r} is not a CIDR range"
            ) from e
    limits = FetchLimits(
        deadline=float(t.get("timeout", FetchLimits.deadline)),
        connect_timeout=float(t.get("connect_timeout", FetchLimits.connect_timeout)),
        max_bytes=t.get("max_bytes", FetchLimits.max_bytes),
        max_redirects=t.get("max_redirects", FetchLimits.max_redirects),
        concurrency=t.get("concurrency", FetchLimits.concurrency),
        per_host=t.get("per_host", FetchLimits.per_host),
        allowed_private_networks=tuple(nets),
        user_agent=t.get("user_agent", USER_AGENT),
    )

    def resolve(key: str, default: str) -> str:
        # The folder resolved, not the last part: site_dir is a link that each build switches.
        path = base / t.get(key, default)
        return str(path.parent.resolve() / path.name)

    templates = t.get("templates")
    server = os.environ.get(DATABASE_ENV) or t.get("database", "")
    return Settings(
        database=server
        if server.startswith(SERVER_SCHEMES)
        else resolve("database", "aggregator.db"),
        site_dir=resolve("site_dir", "site"),
        mail_dir=resolve("mail_dir", "mail"),
        templates=str((base / templates).resolve()) if templates else None,
        limits=limits,
        default_interval=t.get("default_interval", Settings.default_interval),
        min_interval=t.get("min_interval", Settings.min_interval),
        max_interval=t.get("max_interval", Settings.max_interval),
        parse_timeout=float(t.get("parse_timeout", Settings.parse_timeout)),
        parse_workers=t.get("parse_workers", os.cpu_count() or 2),
        window_hours=float(t.get("window_hours", Settings.window_hours)),
        story_threshold=float(t["story_threshold"]) if "story_threshold" in t else None,
        single_source=t.get("single_source", Settings.single_source),
        partition_by=t.get("partition_by"),
        site_title=t.get("site_title", Settings.site_title),
        site_days=t.get("site_days", Settings.site_days),
    )


def _email(t: Mapping[str, Any], path: Path, base: Path) -> EmailSettings:
    where = f"{path}: [email]"
    if "password" in t:
        raise ConfigError(
            f"{where}: key 'password': never store it here; set AGGREGATOR_SMTP_PASSWORD"
        )
    _check(where, t, _EMAIL_KEYS)
    security = t.get("security", "starttls")
    if security not in ("starttls", "tls", "none"):
        raise ConfigError(
            f"{where}: key 'security': must be starttls, tls or none, got {security!r}"
        )
    recipients = t.get("recipients", [])
    for r in [*recipients, t.get("sender", EmailSettings.sender)]:
        if not isinstance(r, str) or "@" not in r or _CONTROL.search(r) or " " in r.strip():
            key = "sender" if r is t.get("sender") else "recipients"
            raise ConfigError(f"{where}: key {key!r}: {r!r} is not an e-mail address")
    unsub = t.get("unsubscribe_url")
    if unsub is not None and urlsplit(unsub).scheme not in ("http", "https", "mailto"):
        raise ConfigError(f"{where}: key 'unsubscribe_url': must be an http(s) or mailto URL")
    hour = t.get("send_hour", EmailSettings.send_hour)
    maildir = t.get("maildir")
    return EmailSettings(
        smtp_host=t.get("smtp_host", EmailSettings.smtp_host),
        smtp_port=t.get("smtp_port", 465 if security == "tls" else EmailSettings.smtp_port),
        security=security,
        username=t.get("username"),
        sender=t.get("sender", EmailSettings.sender),
        recipients=tuple(recipients),
        subject_prefix=t.get("subject_prefix", EmailSettings.subject_prefix),
        unsubscribe_url=unsub,
        list_name=t.get("list_name", EmailSettings.list_name),
        maildir=str((base / maildir).resolve()) if maildir else None,
        send_hour=hour,
    )
