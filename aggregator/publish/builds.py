"""Publishing a folder of files atomically, with complete builds kept for rollback.

Every build is written into ``.<name>-builds/partial-*`` beside the target, renamed to
``build-*`` once complete, and the target (a symbolic link) is switched to it with one rename,
so a web server never sees half a site. Builds hold a lock on their builds folder: partial
builds found there belong to a build that died (a crash, a kill) and are removed; a build that
fails removes its own. The KEEP_BUILDS newest complete builds before the live one stay.

A target that exists and is not a link into its builds folder is refused before anything is
written.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from aggregator.errors import PublishError

# Complete builds kept beside the live one, for rollback (switch the link back by hand).
KEEP_BUILDS = 2
_PARTIAL = "partial-"
_COMPLETE = "build-"


def builds_folder(target: Path) -> Path:
    return target.parent / f".{target.name}-builds"


def publish(target: Path, files: Mapping[str, str]) -> Path:
    """Write ``files`` (relative path -> text) as a new build and switch ``target`` to it."""
    target = Path(os.path.abspath(target))
    builds = builds_folder(target)
    _check_target(target, builds)
    try:
        builds.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PublishError(f"{target}: cannot create {builds}: {e.strerror or e}") from e
    with _locked(builds):
        _check_target(target, builds)  # again, now that no other build can switch it
        for old in builds.glob(_PARTIAL + "*"):
            shutil.rmtree(old, ignore_errors=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        partial = builds / f"{_PARTIAL}{stamp}-{os.getpid()}"
        try:
            _write(partial, files)
            complete = builds / f"{_COMPLETE}{stamp}-{os.getpid()}"
            partial.rename(complete)
            link = target.parent / f".{target.name}.link-{os.getpid()}"
            if link.is_symlink():
                link.unlink()
            link.symlink_to(complete.relative_to(target.parent))
            os.replace(link, target)  # the one atomic switch
        except OSError as e:
            shutil.rmtree(partial, ignore_errors=True)
            raise PublishError(f"{target}: cannot write the build: {e.strerror or e}") from e
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        _prune(builds, complete)
    return target


def _check_target(target: Path, builds: Path) -> None:
    if target.is_symlink():
        pointed = Path(os.readlink(target))
        if pointed.parts[:1] == (builds.name,) and pointed.name.startswith(_COMPLETE):
            return
        raise PublishError(
            f"{target} is a link not made by aggregator (to {pointed}); "
            "remove it or choose another --out"
        )
    if target.exists():
        raise PublishError(
            f"{target} exists and is not a site link made by aggregator; "
            "move it away or choose another --out"
        )


def _write(folder: Path, files: Mapping[str, str]) -> None:
    folder.mkdir()
    root = folder.resolve()
    for rel, content in files.items():
        path = (folder / rel).resolve()
        if not path.is_relative_to(root):
            raise PublishError(f"refusing to write outside the build folder: {rel!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


def _prune(builds: Path, live: Path) -> None:
    """Keep the live build and the KEEP_BUILDS newest complete builds before it."""
    others = sorted(p for p in builds.glob(_COMPLETE + "*") if p != live)
    for old in others[: max(0, len(others) - KEEP_BUILDS)]:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def _locked(builds: Path) -> Iterator[None]:
    """One build at a time per target (a second waits for the first)."""
    fd = os.open(builds / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
