"""A throwaway PostgreSQL server for the tests: initdb and pg_ctl in a temporary folder,
listening on 127.0.0.1 and any other local addresses given (as root, through ``runuser -u
postgres``).

Where no PostgreSQL binaries exist the tests that need it skip, unless
AGGREGATOR_REQUIRE_POSTGRES=1 (``.ci/run`` sets it): then they fail.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRED = os.environ.get("AGGREGATOR_REQUIRE_POSTGRES") == "1"
_NAMES = itertools.count()


def binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


class PgServer:
    def __init__(self, bin_dir: Path, also: tuple[str, ...] = (),
                 clients: tuple[str, ...] = ()) -> None:
        """``also``: addresses to listen on beside 127.0.0.1; ``clients``: the networks their
        clients connect from, trusted as 127.0.0.1 is."""
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="aggregator-pg-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        data = self.dir / "data"
        self._run(self.bin / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        with open(data / "pg_hba.conf", "a", encoding="ascii") as hba:
            hba.writelines(f"host all all {network} trust\n" for network in clients)
        addresses = ",".join(("127.0.0.1", *also))
        options = (f"-c listen_addresses={addresses} -p {self.port} -k {self.dir} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(self.bin / "pg_ctl", "-D", data, "-l", self.dir / "log", "-w", "-o", options,
                  "start")

    def _run(self, *args: object) -> None:
        subprocess.run([*self.as_user, *map(str, args)], check=True, capture_output=True)

    def url(self, name: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        import psycopg

        name = f"t{os.getpid()}_{next(_NAMES)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"),
                        "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def server(also: tuple[str, ...] = (), clients: tuple[str, ...] = ()) -> Iterator[PgServer]:
    bin_dir = binaries()
    if bin_dir is None:
        if REQUIRED:
            pytest.fail("no PostgreSQL binaries, and AGGREGATOR_REQUIRE_POSTGRES=1")
        pytest.skip("no PostgreSQL binaries (Debian: apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        if REQUIRED:
            pytest.fail("psycopg is not installed, and AGGREGATOR_REQUIRE_POSTGRES=1")
        pytest.skip("psycopg is not installed (pip install 'aggregator[postgresql]')")
    pg = PgServer(bin_dir, also, clients)
    try:
        yield pg
    finally:
        pg.stop()
