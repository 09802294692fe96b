"""A per-database run lock (flock), so two polls never run at once."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from aggregator.errors import LockedError, StorageError


@contextmanager
def run_lock(database: str) -> Iterator[None]:
    path = database + ".lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise StorageError(f"{database}: cannot create its lock file: {e.strerror or e}") from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(
                f"another aggregator run is using {database}; try again when it ends"
            ) from None
        yield
    finally:
        os.close(fd)
