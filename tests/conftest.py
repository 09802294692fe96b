"""Shared fixtures: a real HTTP server on 127.0.0.1 with scripted behaviours, configs, feeds."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DATA = Path(__file__).resolve().parent / "data"

Behaviour = Callable[[BaseHTTPRequestHandler], None]


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default 5 drops connections under a concurrent poll
    daemon_threads = True


class FeedServer:
    """Serves scripted behaviours by path; records every request's headers."""

    def __init__(self) -> None:
        self.routes: dict[str, Behaviour] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with server.lock:
                    server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                fn = server.routes.get(self.path)
                if fn is None:
                    self.send_error(404)
                    return
                try:
                    fn(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def hits(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.requests if p == path]


@pytest.fixture
def server() -> Iterator[FeedServer]:
    s = FeedServer()
    yield s
    s.close()


def respond(body: bytes, status: int = 200, content_type: str = "application/rss+xml",
            headers: dict[str, str] | None = None, conditional: bool = True,
            modified_at: datetime | None = None) -> Behaviour:
    """A static response that honours If-None-Match / If-Modified-Since when ``conditional``
    (Last-Modified: ``modified_at``, by default 2026-11-01)."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    modified = format_datetime(modified_at or datetime(2026, 11, 1, tzinfo=UTC), usegmt=True)

    def fn(h: BaseHTTPRequestHandler) -> None:
        if conditional and (h.headers.get("If-None-Match") == etag
                            or h.headers.get("If-Modified-Since") == modified):
            h.send_response(304)
            h.send_header("ETag", etag)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        if conditional:
            h.send_header("ETag", etag)
            h.send_header("Last-Modified", modified)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    return fn


def rss(items: list[dict[str, str]], title: str = "Test feed", extra: str = "") -> bytes:
    from xml.sax.saxutils import escape

    parts = []
    for it in items:
        fields = "".join(
            f"<{k}>{escape(v)}</{k}>" for k, v in it.items() if k != "raw")
        parts.append(f"<item>{fields}{it.get('raw', '')}</item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>https://example.org/</link>{extra}"
            + "".join(parts) + "</channel></rss>").encode()


def healthy_feed(n: int, outlet: str, items: int = 5) -> bytes:
    return rss([{
        "title": f"{outlet} report {i} on harbour bridge closure number {n}",
        "link": f"https://example.org/{outlet}/{n}/{i}",
        "guid": f"{outlet}-{n}-{i}",
        "description": f"The harbour bridge in city {n} closed after inspectors found cracks {i}.",
        "pubDate": f"Mon, 0{1 + i % 9} Nov 2026 10:00:00 GMT",
    } for i in range(items)], title=outlet)


def late(answer: Behaviour, seconds: float) -> Behaviour:
    """``answer``, given ``seconds`` late."""

    def fn(h: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        answer(h)

    return fn


def busy_host_feeds(server: FeedServer, seconds: float) -> list[dict[str, Any]]:
    """Three feeds of a busy host, h1.test, each answering in ``seconds`` (paths /busy0-2),
    listed first; then twelve feeds of h2-h4.test answering at once (/other0-11)."""
    at = [("busy", i, "h1.test") for i in range(3)]
    at += [("other", i, f"h{2 + i % 3}.test") for i in range(12)]
    feeds = []
    for name, i, host in at:
        answer = respond(rss([{"title": f"{name} {i}", "guid": f"{name}{i}",
                               "link": f"https://example.org/{name}/{i}"}]))
        server.routes[f"/{name}{i}"] = late(answer, seconds) if name == "busy" else answer
        feeds.append({"url": server.url(f"/{name}{i}", host), "outlet": f"{name} {i}"})
    return feeds


def others_fetched_beside_busy_host(server: FeedServer) -> bool:
    """Whether the server had every other host's feed asked for (busy_host_feeds) before the busy
    host's second feed: polled while the first was fetched, not behind the busy host's queue."""
    paths = [p for p, _ in server.requests]
    busy = [i for i, p in enumerate(paths) if p.startswith("/busy")]
    others = [i for i, p in enumerate(paths) if p.startswith("/other")]
    assert len(busy) == 3 and len(others) == 12, paths
    return max(others) < busy[1]


STUB_HOSTS = {f"h{i}.test": ["127.0.0.1"] for i in range(16)}
STUB_HOSTS.update({
    "private.test": ["10.0.0.1"], "mapped.test": ["::ffff:127.0.0.2"],
    "loop2.test": ["127.0.0.2"], "cgnat.test": ["100.64.0.1"], "mixed.test": ["192.168.1.1"],
})


async def stub_resolve(host: str) -> list[str]:
    if host in STUB_HOSTS:
        return STUB_HOSTS[host]
    if host in ("127.0.0.1", "localhost"):
        return ["127.0.0.1"]
    raise OSError(f"stub resolver: unknown host {host}")


def write_config(tmp: Path, feeds: list[dict[str, Any]], settings: dict[str, Any] | None = None,
                 email: dict[str, Any] | None = None) -> Path:
    s = {"database": "aggregator.db", "allowed_private_networks": ["127.0.0.1/32"],
         "timeout": 5, "parse_timeout": 5, "site_dir": "site", "mail_dir": "mail"}
    s.update(settings or {})
    lines = ["[settings]"] + [f"{k} = {_toml(v)}" for k, v in s.items()]
    if email:
        lines += ["", "[email]"] + [f"{k} = {_toml(v)}" for k, v in email.items()]
    for f in feeds:
        lines += ["", "[[feeds]]"] + [f"{k} = {_toml(v)}" for k, v in f.items()]
    path = tmp / "feeds.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml(v: Any) -> str:
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(v)


class Sink:
    def __init__(self, refuse: str | None = None) -> None:
        self.messages: list[bytes] = []
        self.refuse = refuse

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: Any) -> str:
        if self.refuse and address == self.refuse:
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.original_content or envelope.content)
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Any:
    sink = Sink(refuse="nobody@example.org")
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    sink.port = port  # type: ignore[attr-defined]
    yield sink
    controller.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """One throwaway PostgreSQL server for the session (tests/pgserver.py)."""
    from pgserver import server as start

    yield from start()


@pytest.fixture
def pg_url(pg_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new, empty PostgreSQL database on the session's server. The connections this process
    opens during the test are closed as it ends, and one left open fails the test: left to the
    garbage collector (a failing test's, which its traceback holds), its warning would fail
    whichever later test it was collected in."""
    from aggregator.store import postgres

    opened: list[Any] = []
    connect = postgres.connect

    def recorded(url: str, *args: Any) -> Any:
        opened.append(connect(url, *args))
        return opened[-1]

    monkeypatch.setattr(postgres, "connect", recorded)
    yield str(pg_server.new_database())
    left = [db.location for db in opened if not db.conn.closed]
    for db in opened:
        db.close()
    assert not left, f"connections left open: {left}"


class NotifySocket:
    """A datagram socket listening as systemd does for a service's notify messages, read as they
    come unless made ``reading=False``; ``where`` is the value of $NOTIFY_SOCKET that names it
    (a path, or @ and an abstract name)."""

    def __init__(self, path: Path | None = None, reading: bool = True) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if path is not None:
            self.listener.bind(str(path))
            self.where = str(path)
        else:
            name = f"aggregator-test-{os.getpid()}-{time.monotonic_ns()}"
            self.listener.bind("\0" + name)
            self.where = "@" + name
        self.messages: list[str] = []
        self._seen = 0
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        if reading:
            self.listener.settimeout(0.05)
            self._reader.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                self.messages.append(self.listener.recv(4096).decode())
            except TimeoutError:
                continue

    def heard(self, wait: float = 0.0) -> list[str]:
        """The messages that came since the last call: after up to ``wait`` seconds for one,
        until none has come for a twentieth of a second."""
        deadline = time.monotonic() + wait
        while len(self.messages) == self._seen and time.monotonic() < deadline:
            time.sleep(0.01)
        count = -1
        while count != len(self.messages):
            count = len(self.messages)
            time.sleep(0.05)
        new, self._seen = self.messages[self._seen : count], count
        return new

    def waiting(self) -> list[str]:
        """The messages the socket holds, of one made ``reading=False``."""
        out = []
        self.listener.setblocking(False)
        try:
            while True:
                out.append(self.listener.recv(4096).decode())
        except BlockingIOError:
            return out

    def close(self) -> None:
        self._closed.set()
        if self._reader.is_alive():
            self._reader.join()
        self.listener.close()
