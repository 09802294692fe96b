"""kill -9 leaves nothing running: `poll` killed while a parse worker is busy on a feed that
takes long to parse, and `cluster` killed while its extraction workers run. Every process they
started (workers, and what multiprocessing starts for them) is found by an environment marker
that they inherit."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FeedServer, respond, rss, write_config

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")


def _marked(mark: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes()
            except OSError:
                continue
            if f"AGGREGATOR_TEST_MARK={mark}".encode() in environ.split(b"\0"):
                found.append(int(entry))
    return found


def _kill_when(command: list[str], mark: str, processes: int) -> list[int]:
    """Start ``command``, SIGKILL it once ``processes`` marked processes run, and return the
    marked processes still there a moment later (killing them, so none outlives the test)."""
    env = {**os.environ, "AGGREGATOR_TEST_MARK": mark,
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(_marked(mark)) < processes and time.monotonic() < deadline:
        assert proc.poll() is None, "the command ended before its workers were busy"
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for _ in range(40):  # the kernel needs a moment to deliver the parent's death
        left = _marked(mark)
        if not left:
            return []
        time.sleep(0.05)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


def test_no_worker_outlives_a_killed_poll_or_cluster(server: FeedServer, tmp_path: Path) -> None:
    slow = rss([{"title": "x", "guid": "la", "author": "a" * 32_000 + "@" + "b" * 100}])
    server.routes["/slow.xml"] = respond(slow)  # its author field costs feedparser seconds
    many = rss([{"title": f"Report {i} on topic {i % 40}", "guid": f"g{i}",
                 "description": " ".join(f"word{(i * 7 + j) % 800}" for j in range(150))}
                for i in range(3000)])
    server.routes["/many.xml"] = respond(many)
    cfg = write_config(tmp_path, [{"url": server.url("/slow.xml"), "outlet": "Slow"}],
                       {"parse_timeout": 60})
    python = [sys.executable, "-m", "aggregator", "--config", str(cfg)]
    # poll: the main process and its parse workers
    assert _kill_when([*python, "poll", "--no-cluster"], secrets.token_hex(8), 3) == []

    cfg = write_config(tmp_path, [{"url": server.url("/many.xml"), "outlet": "Many"}])
    done = subprocess.run([*python, "poll", "--no-cluster"], capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 0, done.stderr
    # cluster: the main process and its extraction workers
    assert _kill_when([*python, "cluster"], secrets.token_hex(8), 3) == []
