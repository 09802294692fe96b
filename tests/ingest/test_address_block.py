"""No spelling of a host reaches an address the block refuses: a canary server on 127.0.0.2,
while only 127.0.0.1/32 is allowed, is asked for by every way of writing its address (Unicode
full stops, percent-encoding, trailing dots, case, decimal/octal/hex, IPv6 forms, IDNA), as a
feed, through a redirect and as a full-text link. Zero requests may arrive."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import FeedServer, respond, rss, write_config
from hostile import redirect

from aggregator.config import load_config
from aggregator.ingest.poll import PollOptions, poll
from aggregator.store import open_db


class Canary:
    """An HTTP server on 127.0.0.2 that counts every request that reaches it."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        canary = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                canary.requests.append(self.path)
                body = rss([{"title": "canary", "guid": "c"}])
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def canary() -> Iterator[Canary]:
    c = Canary()
    yield c
    c.close()


FULL_STOPS = ["\u3002", "\uff0e", "\uff61", "\u2024", "\ufe52"]
# Ways of writing 127.0.0.2 (the port is added after each).
HOSTS = (
    ["127.0.0.2", "127.0.0.2.", "127.000.000.002", "127.2", "127.0.2"]
    + ["127" + s + "0" + s + "0" + s + "2" for s in FULL_STOPS]
    + ["127%2E0%2E0%2E2", "127%2e0%2e0%2e2", "%31%32%37.0.0.2"]
    + ["2130706434", "0177.0.0.2", "0x7f.0.0.2", "0x7F000002", "0x7f.0x0.0x0.0x2", "017700000002"]
    + ["\uff11\uff12\uff17.\uff10.\uff10.\uff12"]  # full-width digits
    + ["[::ffff:127.0.0.2]", "[::FFFF:7F00:2]", "[0:0:0:0:0:ffff:127.0.0.2]", "[::127.0.0.2]",
       "[::ffff:127.0.0.2%25lo]", "[64:ff9b::127.0.0.2]", "[2002:7f00:2::]"]
    + ["xn--127.0.0.2", "127.0.0.2%00.example", "127.0.0.2%2F@x"]
)


def _urls(port: int) -> list[str]:
    out = []
    for h in HOSTS:
        out.append(f"http://{h}:{port}/feed.xml")
        out.append(f"HTTP://{h.upper()}:{port}/feed.xml")
    out.append(f"http://x@127.0.0.2:{port}/feed.xml")
    out.append(f"http://127.0.0.1:1@127.0.0.2:{port}/feed.xml")
    return list(dict.fromkeys(out))


def _poll(cfg: Path) -> dict[str, str | None]:
    config = load_config(cfg)
    db = open_db(config.settings.database)
    try:
        report = asyncio.run(poll(db, config, PollOptions(force=True)))
    finally:
        db.close()
    return {o.url: o.error_kind for o in report.outcomes}


def _feeds(urls: list[str]) -> list[dict[str, object]]:
    return [{"url": u, "outlet": f"Spelling {i}"} for i, u in enumerate(urls)]


def test_no_spelling_reaches_the_canary_directly(canary: Canary, tmp_path: Path) -> None:
    urls = [u for u in _urls(canary.port) if not u.startswith("HTTP://") or "%" not in u]
    cfg = write_config(tmp_path, _feeds(urls), {"allowed_private_networks": ["127.0.0.1/32"]})
    kinds = _poll(cfg)
    assert canary.requests == []
    assert len(kinds) == len(urls) and None not in kinds.values()


def test_no_spelling_reaches_the_canary_through_redirects(canary: Canary, server: FeedServer,
                                                          tmp_path: Path) -> None:
    urls = _urls(canary.port)
    feeds = []
    for i, target in enumerate(urls):
        server.routes[f"/r{i}"] = redirect(target)
        server.routes[f"/q{i}"] = redirect(quote(target, safe=":/?=&@[]%"))  # percent-encoded
        feeds += [{"url": server.url(f"/r{i}"), "outlet": f"R{i}"},
                  {"url": server.url(f"/q{i}"), "outlet": f"Q{i}"}]
    cfg = write_config(tmp_path, feeds, {"allowed_private_networks": ["127.0.0.1/32"]})
    kinds = _poll(cfg)
    assert canary.requests == []
    assert len(kinds) == len(feeds) and None not in kinds.values()


def test_no_full_text_link_reaches_the_canary(canary: Canary, server: FeedServer,
                                              tmp_path: Path) -> None:
    items = [{"title": f"Item {i}", "guid": f"i{i}", "link": u,
              "description": f"Summary of item {i}."}
             for i, u in enumerate(_urls(canary.port))]
    server.routes["/ft.xml"] = respond(rss(items))
    cfg = write_config(tmp_path, [{"url": server.url("/ft.xml"), "outlet": "FT", "fulltext": True}],
                       {"allowed_private_networks": ["127.0.0.1/32"]})
    assert _poll(cfg) == {server.url("/ft.xml"): None}  # the feed itself is fine
    assert canary.requests == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        return int(s.getsockname()[1])


def test_a_blocked_address_tells_nothing_about_its_ports(canary: Canary, tmp_path: Path) -> None:
    urls = [f"http://127.0.0.2:{canary.port}/open", f"http://127.0.0.2:{_closed_port()}/closed",
            f"http://10.255.255.1:{canary.port}/unroutable"]
    cfg = write_config(tmp_path, _feeds(urls), {"allowed_private_networks": ["127.0.0.1/32"]})
    kinds = _poll(cfg)
    assert set(kinds.values()) == {"blocked_address"}
    assert canary.requests == []
