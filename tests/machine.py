"""A second machine on this one, for tests of what a server sees when a client's machine goes
silent: a network namespace joined to this one by a veth pair. Processes started in it reach
this machine at ``host``; ``cut`` takes the link down at its end, so nothing it was sent is
answered, as from a machine that lost power or its network. Needs root and ``ip``; where they
are missing the test skips."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Machine:
    def __init__(self) -> None:
        tag = os.getpid() % 10_000
        self.namespace = f"aggregator-{tag}"
        self.inner, self.outer = f"agg{tag}in", f"agg{tag}out"
        self.network = f"10.213.{tag % 250}.0/24"
        self.host = f"10.213.{tag % 250}.1"  # this machine, as the other reaches it
        self.address = f"10.213.{tag % 250}.2"  # the other
        try:
            _ip("netns", "add", self.namespace)
            _ip("link", "add", self.outer, "type", "veth", "peer", "name", self.inner,
                "netns", self.namespace)
            _ip("addr", "add", f"{self.host}/24", "dev", self.outer)
            _ip("link", "set", self.outer, "up")
            self._inside("addr", "add", f"{self.address}/24", "dev", self.inner)
            self._inside("link", "set", self.inner, "up")
        except subprocess.CalledProcessError:
            self.remove()  # whatever was made before the step that failed
            raise

    def _inside(self, *args: str) -> None:
        _ip("netns", "exec", self.namespace, "ip", *args)

    def command(self, *args: str) -> list[str]:
        """``args`` as a command run on the other machine."""
        return ["ip", "netns", "exec", self.namespace, *args]

    def cut(self) -> None:
        self._inside("link", "set", self.inner, "down")

    def remove(self) -> None:
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True)
        subprocess.run(["ip", "link", "del", self.outer], capture_output=True)


@contextmanager
def other_machine() -> Iterator[Machine]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("a second machine needs root and iproute2's ip (network namespaces)")
    try:
        machine = Machine()
    except subprocess.CalledProcessError as e:
        pytest.skip(f"no network namespace here: {e.stderr.strip()}")
    try:
        yield machine
    finally:
        machine.remove()
