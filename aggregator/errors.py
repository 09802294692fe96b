"""The one exception tree of the package.

    AggregatorError
    ├── ConfigError      a bad feeds.toml (names the file, the entry and the key)
    ├── FetchError       a feed could not be fetched (carries an error kind)
    ├── ParseError       a body is not a feed we can read (carries an error kind)
    ├── StorageError     the database could not be opened or written
    ├── LockedError      another run holds the poll lock
    ├── PublishError     the site or a digest file could not be written where asked
    └── MailError        the digest could not be built or delivered

Third-party errors are wrapped where they cross into our code (``raise ... from e``); the CLI turns
any of these into one line on stderr and an exit code. A traceback means a bug.
"""

from __future__ import annotations


class AggregatorError(Exception):
    """Root of every error the package raises on purpose."""


class ConfigError(AggregatorError):
    """The configuration file is missing or invalid."""


class FetchError(AggregatorError):
    """A fetch failed; ``kind`` is machine-readable (timeout, too_large, blocked_address, ...)."""

    def __init__(
        self, kind: str, message: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after  # seconds the server asked us to wait


class ParseError(AggregatorError):
    """A body could not be read as a feed; ``kind`` is not_a_feed, parse_error or parse_timeout."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class StorageError(AggregatorError):
    """The database could not be opened, migrated or written."""


class LockedError(AggregatorError):
    """Another aggregator run is polling the same database."""


class PublishError(AggregatorError):
    """The site or a digest file could not be written (a path that is a file, no permission)."""


class MailError(AggregatorError):
    """The digest could not be delivered (connection, authentication, refused recipients)."""
