"""What a service tells systemd (its notify protocol), heard on a real datagram socket as
systemd listens: a path or an abstract name in $NOTIFY_SOCKET."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import NotifySocket

from aggregator.supervisor import ALIVE_PER_INTERVAL, Supervisor


@pytest.fixture(params=["path", "abstract"])
def notify(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NotifySocket]:
    listening = NotifySocket(tmp_path / "notify" if request.param == "path" else None)
    try:
        yield listening
    finally:
        listening.close()


def test_ready_status_alive_and_stopping_reach_the_supervisor(notify: NotifySocket) -> None:
    interval = 0.4
    supervisor = Supervisor({"NOTIFY_SOCKET": notify.where,
                             "WATCHDOG_USEC": str(int(interval * 1e6))})
    assert supervisor.watched
    supervisor.ready()
    supervisor.status("clustering: holding\nthe lock")
    supervisor.alive()
    supervisor.alive()  # at once again: not sent
    assert notify.heard(wait=1) == ["READY=1", "STATUS=clustering: holding the lock", "WATCHDOG=1"]
    time.sleep(interval / ALIVE_PER_INTERVAL + 0.02)
    supervisor.alive()
    supervisor.stopping()
    assert notify.heard(wait=1) == ["WATCHDOG=1", "STOPPING=1"]


def test_without_a_watchdog_or_for_another_process_alive_says_nothing(
        notify: NotifySocket) -> None:
    for environ in ({"NOTIFY_SOCKET": notify.where},
                    {"NOTIFY_SOCKET": notify.where, "WATCHDOG_USEC": "1000000",
                     "WATCHDOG_PID": str(os.getpid() + 1)}):
        supervisor = Supervisor(environ)
        assert not supervisor.watched
        supervisor.alive()
        supervisor.ready()
        assert notify.heard(wait=1) == ["READY=1"]


def test_outside_systemd_or_when_it_stopped_listening_nothing_fails(tmp_path: Path) -> None:
    for environ in ({}, {"NOTIFY_SOCKET": str(tmp_path / "nobody-listens"),
                         "WATCHDOG_USEC": "1000000"}):
        supervisor = Supervisor(environ)
        supervisor.ready()
        supervisor.alive()
        supervisor.status("standby")
        supervisor.stopping()
    assert not (tmp_path / "nobody-listens").exists()


def test_a_supervisor_that_reads_nothing_never_holds_the_service_up() -> None:
    # The kernel keeps a few datagrams for a socket that reads none (10 here); past them a
    # waiting send would stop the service where it stands.
    deaf = NotifySocket(reading=False)
    try:
        supervisor = Supervisor({"NOTIFY_SOCKET": deaf.where})
        for n in range(100):
            supervisor.status(f"line {n}")
        kept = deaf.waiting()
    finally:
        deaf.close()
    assert kept[0] == "STATUS=line 0"
    assert 0 < len(kept) < 100
