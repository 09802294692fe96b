"""What a long-running command tells the supervisor that started it, by systemd's notify
protocol (sd_notify(3)): that it is ready, what it is doing, and, as long as its work goes on,
that it is alive. With ``WatchdogSec=`` in its unit, systemd kills a service that stops saying
it is alive and starts it again: a clusterer that hangs without dying (its machine still
answering, so its connection and its lock live on) then lets go of the lock, and its standby
takes over. Outside systemd ($NOTIFY_SOCKET unset) every call does nothing.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

# Parts of the watchdog's interval between two "alive" messages at most (systemd asks for at
# least two an interval).
ALIVE_PER_INTERVAL = 4


def _address(value: str) -> str | None:
    """Where $NOTIFY_SOCKET says to send: a path, or (``@name``) an abstract socket."""
    if value.startswith("/"):
        return value
    if value.startswith("@"):
        return "\0" + value[1:]
    return None  # unset, or a kind of socket (vsock) a service of ours is not run under


class Supervisor:
    """``with Supervisor() as supervisor:`` around a service's work (ready as it starts,
    stopping as it ends); ``status(line)`` on a change of role (``say`` prints it too),
    ``alive()`` wherever the work makes progress (it sends at most ALIVE_PER_INTERVAL messages
    a watchdog interval)."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self._address = _address(environ.get("NOTIFY_SOCKET", ""))
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        ours = not pid.isdigit() or int(pid) == os.getpid()
        watched = self._address is not None and usec.isdigit() and ours
        self._every = int(usec) / 1e6 / ALIVE_PER_INTERVAL if watched else None
        self._last = float("-inf")

    def __enter__(self) -> Supervisor:
        self.ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping()

    @property
    def watched(self) -> bool:
        """Whether a watchdog expects ``alive()``."""
        return self._every is not None

    def ready(self) -> None:
        self._send("READY=1")

    def status(self, line: str) -> None:
        self._send("STATUS=" + line.replace("\n", " "))

    def say(self, line: str) -> None:
        """``line`` printed, and the status ``systemctl status`` shows."""
        print(line, flush=True)
        self.status(line)

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def alive(self) -> None:
        if self._every is None:
            return
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self._send("WATCHDOG=1")

    def _send(self, message: str) -> None:
        if self._address is None:
            return
        # Never waits: a supervisor that stopped listening, or whose queue is full, is no
        # reason to stop working.
        kind = socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
        with socket.socket(socket.AF_UNIX, kind) as s:
            try:
                s.sendto(message.encode(), self._address)
            except OSError:
                pass
