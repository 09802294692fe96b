"""Every user mistake is one line on stderr, a non-zero exit, no traceback, and changes nothing.

The table walks paths that are files or folders in the way, numbers out of range in feeds.toml
and in flags (NaN and infinities included), malformed values, and read-only commands on a
database that does not exist."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import FeedServer, healthy_feed, respond, write_config

from aggregator.cli import main

Setup = Callable[[Path], list[str]]


def _feed(url: str = "https://a.example/rss", **more: object) -> dict[str, object]:
    return {"url": url, "outlet": "A", **more}


def _bad_config(settings: dict[str, object] | None = None, feed: dict[str, object] | None = None,
                email: dict[str, object] | None = None, command: str = "clusters") -> Setup:
    def setup(tmp: Path) -> list[str]:
        cfg = write_config(tmp, [feed or _feed()], settings, email)
        return ["--config", str(cfg), *command.split()]

    return setup


def _raw_config(text: str, command: str = "clusters") -> Setup:
    def setup(tmp: Path) -> list[str]:
        (tmp / "feeds.toml").write_text(text, encoding="utf-8")
        return ["--config", str(tmp / "feeds.toml"), *command.split()]

    return setup


def _with_file(make: Callable[[Path, Path], list[str]]) -> Setup:
    """A command that meets a file where it wants a folder (``make(config, file)``)."""

    def setup(tmp: Path) -> list[str]:
        blocker = tmp / "a-file"
        blocker.write_text("not a folder", encoding="utf-8")
        return make(tmp / "feeds.toml", blocker)

    return setup


def _args(*args: str) -> Setup:
    return lambda tmp: ["--config", str(tmp / "feeds.toml"), *args]


# (name, setup, exit code, what the one line must say)
MISTAKES: list[tuple[str, Setup, int, str]] = [
    ("build --out under a file", _with_file(lambda c, f: ["--config", str(c), "build", "--out",
                                                          str(f / "site")]), 1, "a-file"),
    ("build --out onto a folder", _with_file(lambda c, f: ["--config", str(c), "build", "--out",
                                                           str(c.parent / "stories")]),
     1, "exists and is not a site link made by aggregator"),
    ("email --dry-run --out a file", _with_file(lambda c, f: ["--config", str(c), "email",
                                                              "--dry-run", "--out", str(f)]),
     1, "cannot write the digest there"),
    ("clusters --since a million years", _args("clusters", "--since", "99999999999d"), 1,
     "is more than 36525 days"),
    ("clusters --since not a date", _args("clusters", "--since", "2026-13-45"), 1,
     "expected e.g. 24h"),
    ("clusters --limit 0", _args("clusters", "--limit", "0"), 2, "is not a whole number"),
    ("clusters --min-outlets -3", _args("clusters", "--min-outlets", "-3"), 2,
     "is not a whole number"),
    ("eval --window-hours inf", _args("eval", "x.jsonl", "--window-hours", "inf"), 2,
     "is not a number of hours"),
    ("eval --window-hours nan", _args("eval", "x.jsonl", "--window-hours", "nan"), 2,
     "is not a number of hours"),
    ("eval --threshold 1e999", _args("eval", "x.jsonl", "--threshold", "1e999"), 2,
     "is not a number between 0 and 1"),
    ("eval of a missing file", _args("eval", "missing.jsonl"), 1, "cannot read"),
    ("feeds import of a missing file", _args("feeds", "import", "missing.opml"), 1,
     "cannot read"),
    ("unknown command", _args("clusterz"), 2, "invalid choice"),
    ("interval of 10^20", _bad_config(feed=_feed(interval=10**20)), 1,
     "key 'interval': must be from 1 to 525600"),
    ("interval of 0", _bad_config(feed=_feed(interval=0)), 1, "key 'interval'"),
    ("timeout = nan", _raw_config("[settings]\ntimeout = nan\n"), 1, "key 'timeout'"),
    ("timeout = inf", _raw_config("[settings]\ntimeout = inf\n"), 1, "key 'timeout'"),
    ("window_hours = -inf", _raw_config("[settings]\nwindow_hours = -inf\n"), 1,
     "key 'window_hours'"),
    ("max_bytes of 10^30", _raw_config("[settings]\nmax_bytes = 1000000000000000000000000000000\n"),
     1, "key 'max_bytes'"),
    ("concurrency of 10^6", _bad_config({"concurrency": 10**6}), 1, "key 'concurrency'"),
    ("min_interval above max_interval", _bad_config({"min_interval": 600, "max_interval": 60}),
     1, "key 'min_interval'"),
    ("smtp_port 70000", _bad_config(email={"smtp_port": 70000}), 1, "key 'smtp_port'"),
    ("send_hour 24", _bad_config(email={"send_hour": 24}), 1, "key 'send_hour'"),
    ("subject with a line break", _bad_config(email={"subject_prefix": "a\nBcc: x@y.z"}), 1,
     "key 'subject_prefix': must be one line"),
    ("recipient with a line break", _bad_config(email={"recipients": ["a@b.c\nBcc: x@y.z"]}), 1,
     "key 'recipients'"),
    ("outlet with a line break", _bad_config(feed=_feed(outlet="A\nB")), 1,
     "key 'outlet': must be one line"),
    ("url with an open bracket", _bad_config(feed=_feed("http://[::1/feed")), 1,
     "key 'url': not a valid URL"),
    ("url with a port out of range", _bad_config(feed=_feed("http://a.example:99999/feed")), 1,
     "key 'url': not a valid URL"),
    ("allowed network that is a number", _raw_config("[settings]\nallowed_private_networks = [7]\n"),
     1, "key 'allowed_private_networks'"),
    ("database under a file", _with_file(lambda c, f: ["--config", str(write_config(
        c.parent, [_feed()], {"database": str(f / "x.db")})), "poll"]), 1, "a-file"),
    ("site_dir under a file", _with_file(lambda c, f: ["--config", str(write_config(
        c.parent, [_feed()], {"site_dir": str(f / "site")})), "build"]), 1, "a-file"),
    ("--config is a folder", lambda tmp: ["--config", str(tmp), "clusters"], 1, "cannot read"),
    ("--config is missing", lambda tmp: ["--config", str(tmp / "nope.toml"), "clusters"], 1,
     "no such file"),
]


@pytest.fixture
def polled(server: FeedServer, tmp_path: Path) -> Path:
    """A folder with a feeds.toml, a database with stories, and nothing else in the way."""
    server.routes["/a.xml"] = respond(healthy_feed(1, "a"))
    cfg = write_config(tmp_path, [{"url": server.url("/a.xml"), "outlet": "A"}],
                       email={"sender": "d@example.org", "recipients": ["r@example.org"]})
    assert main(["--config", str(cfg), "poll"]) == 0
    (tmp_path / "stories").mkdir()
    return tmp_path


def _run(argv: list[str]) -> int:
    """The exit status of ``aggregator ARGV`` (usage errors exit from argparse)."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code or 0)


def _listing(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


@pytest.mark.parametrize(("name", "setup", "code", "says"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_mistake_is_one_line_and_changes_nothing(
    polled: Path, capsys: pytest.CaptureFixture[str], name: str, setup: Setup, code: int,
    says: str,
) -> None:
    argv = setup(polled)
    capsys.readouterr()
    before = _listing(polled)
    assert _run(argv) == code
    out = capsys.readouterr()
    lines = out.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("aggregator"), out.err
    assert says in lines[0]
    assert "Traceback" not in out.err + out.out
    written = {p for p in _listing(polled) - before if p.name != "feeds.toml"}
    assert not written, f"{name} left {sorted(map(str, written))}"


@pytest.mark.parametrize("command", ["clusters", "feeds", "build", "email", "email --dry-run",
                                     "cluster", "clusters --explain s123"])
def test_a_read_only_command_on_a_missing_database_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    cfg = write_config(tmp_path, [_feed()], {"database": "typo/aggregator.db"})
    assert main(["--config", str(cfg), *command.split()]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"aggregator: no database at {tmp_path / 'typo' / 'aggregator.db'} "
                   "(run aggregator poll first)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feeds.toml"]
