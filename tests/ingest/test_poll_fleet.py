"""One poll of a fleet: 30+ healthy feeds next to 30+ hostile ones, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import FeedServer, healthy_feed, respond, rss, stub_resolve, write_config
from hostile import (
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    changing_guids,
    drip,
    endless,
    gzip_bomb,
    huge_feed,
    redirect,
    stall,
    status,
)
from resident import peak, start_peak

from aggregator.config import load_config
from aggregator.ingest.poll import PollOptions, poll
from aggregator.store import open_db

DEADLINE = 3.0
PARSE_LIMIT = 3.0
HEALTHY = 32


def hostile_fleet(server: FeedServer) -> dict[str, tuple[str, tuple[str, ...]]]:
    """path -> (url, acceptable outcomes: 'ok' or error kinds)."""
    port = server.port
    good = rss([{"title": "Target feed item", "guid": "t-1", "link": "https://example.org/t"}])
    server.routes["/target.xml"] = respond(good)
    long_author = "a" * 32_000 + "@" + "b" * 100
    cases: dict[str, tuple[object, tuple[str, ...]]] = {
        "/stall": (stall(), ("timeout",)),
        "/drip": (drip(), ("timeout",)),
        "/oversized": (respond(b"<rss>" + b" " * (9 * 1024 * 1024), conditional=False), ("too_large",)),
        "/endless": (endless(), ("too_large",)),
        "/gzip-bomb": (gzip_bomb(), ("too_large",)),
        "/loop": (redirect("/loop"), ("too_many_redirects",)),
        "/to-private": (redirect(f"http://127.0.0.2:{port}/target.xml"), ("blocked_address",)),
        "/to-private-name": (redirect(f"http://private.test:{port}/target.xml"), ("blocked_address",)),
        "/to-mapped": (redirect(f"http://[::ffff:127.0.0.2]:{port}/target.xml"), ("blocked_address",)),
        "/to-cgnat": (redirect(f"http://cgnat.test:{port}/target.xml"), ("blocked_address",)),
        "/to-file": (redirect("file:///etc/passwd"), ("bad_scheme",)),
        "/to-ftp": (redirect("ftp://example.org/feed"), ("bad_scheme",)),
        "/404": (status(404), ("http_4xx",)),
        "/410": (status(410), ("gone",)),
        "/429": (status(429, {"Retry-After": "120"}), ("http_429",)),
        "/503": (status(503, {"Retry-After": "Wed, 21 Oct 2037 07:28:00 GMT"}), ("http_5xx",)),
        "/500": (status(500), ("http_5xx",)),
        "/html": (respond(b"<!doctype html><html><body><p>Hello</p></body></html>",
                          content_type="text/html"), ("not_a_feed",)),
        "/local-path": (respond(b"/etc/passwd", content_type="text/plain"), ("not_a_feed",)),
        "/empty-body": (respond(b"", conditional=False), ("not_a_feed",)),
        "/billion-laughs": (respond(BILLION_LAUGHS), ("ok", "not_a_feed", "parse_error", "too_large")),
        "/xxe": (respond(EXTERNAL_ENTITY), ("ok", "not_a_feed", "parse_error")),
        "/long-author": (respond(rss([{"title": "x", "guid": "la", "author": long_author}])),
                         ("ok", "parse_timeout")),
        "/charset-lie": (respond(b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0">'
                                 b"<channel><title>caf\xe9</title><item><title>Caf\xe9 cr\xe8me</title>"
                                 b"<guid>cl</guid></item></channel></rss>"), ("ok",)),
        "/controls": (respond(rss([{"title": "bell\x07 and \x1b escape", "guid": "c1",
                                    "description": "nul\x0b tab\tend"}]).replace(b"&#", b"&#")),
                      ("ok", "not_a_feed", "parse_error")),
        "/dup-guids": (respond(rss([{"title": "one", "guid": "same"}, {"title": "two", "guid": "same"}])), ("ok",)),
        "/no-guids": (respond(rss([{"title": "a", "link": "https://example.org/a"},
                                   {"title": "b", "link": "https://example.org/b"}])), ("ok",)),
        "/changing-guids": (changing_guids(), ("ok",)),
        "/bad-dates": (respond(rss([{"title": "bad date", "guid": "bd", "pubDate": "yesterday-ish"}])), ("ok",)),
        "/future-dates": (respond(rss([{"title": "future", "guid": "fd",
                                        "pubDate": "Mon, 01 Jan 2099 00:00:00 GMT"}])), ("ok",)),
        "/huge": (respond(huge_feed()), ("ok",)),
        "/empty-feed": (respond(rss([])), ("ok",)),
        "/truncated": (respond(rss([{"title": "cut", "guid": "cut"}] * 3)[:150]), ("ok", "not_a_feed", "parse_error")),
        "/bad-gzip": (respond(b"not gzip at all", headers={"Content-Encoding": "gzip"}, conditional=False),
                      ("bad_encoding",)),
        "/moved": (redirect("/target.xml", 301), ("ok",)),
    }
    out = {}
    for path, (fn, kinds) in cases.items():
        server.routes[path] = fn  # type: ignore[assignment]
        host = f"h{len(out) % 16}.test"
        out[path] = (server.url(path, host), kinds)
    out["/refused"] = ("http://127.0.0.1:9/closed", ("connection_error",))
    return out


def test_fleet(server: FeedServer, tmp_path: Path) -> None:
    hostile = hostile_fleet(server)
    feeds = []
    for n in range(HEALTHY):
        path = f"/good/{n}.xml"
        server.routes[path] = respond(healthy_feed(n, f"outlet{n}"))
        feeds.append({"url": server.url(path, f"h{n % 16}.test"), "outlet": f"Outlet {n}"})
    for path, (url, _) in hostile.items():
        feeds.append({"url": url, "outlet": f"Hostile {path}"})
    assert len(hostile) >= 30
    cfg = load_config(write_config(tmp_path, feeds, {"timeout": DEADLINE,
                                                     "parse_timeout": PARSE_LIMIT,
                                                     "per_host": 4}))
    db = open_db(cfg.settings.database)
    rss_before = start_peak()
    started = time.monotonic()
    report = asyncio.run(poll(db, cfg, PollOptions(resolve=stub_resolve)))
    elapsed = time.monotonic() - started
    rss_after = peak()

    by_url = {o.url: o for o in report.outcomes}
    assert len(by_url) == len(feeds)
    for n in range(HEALTHY):
        o = by_url[feeds[n]["url"]]
        assert o.ok and o.new_articles == 5, o
    for path, (url, kinds) in hostile.items():
        o = by_url[url]
        got = "ok" if o.ok else o.error_kind
        assert got in kinds, f"{path}: {got} ({o.error}) not in {kinds}"

    # Bounded: every slow feed stops at its own deadline (4 per host, spread over 16 hosts:
    # at most two rounds of deadlines), plus parse limits and a margin for a loaded machine.
    assert elapsed < DEADLINE * 2 + PARSE_LIMIT * 2 + 20, elapsed
    assert rss_after - rss_before < 400 * 2**20, "poller memory grew by more than 400 MiB"

    conn = sqlite3.connect(cfg.settings.database)
    stored = dict(conn.execute("SELECT feed_url, COUNT(*) FROM articles GROUP BY feed_url"))
    for n in range(HEALTHY):
        assert stored[feeds[n]["url"]] == 5
    # Nothing from /etc/passwd or a billion laughs ended up stored.
    for (title, summary) in conn.execute("SELECT title, summary FROM articles"):
        assert "root:" not in title + summary
        assert len(title) <= 400 and "lollol" not in title
        assert not any(ord(c) < 32 and c not in "\n\t" for c in title + summary)
    huge = hostile["/huge"][0]
    assert stored[huge] == 500  # capped per feed
    assert stored[hostile["/dup-guids"][0]] == 1
    assert stored[hostile["/no-guids"][0]] == 2
    (pub,) = conn.execute("SELECT published FROM articles WHERE feed_url=?",
                          (hostile["/future-dates"][0],)).fetchone()
    assert pub is None
    gone = conn.execute("SELECT gone, next_due FROM feeds WHERE url=?",
                        (hostile["/410"][0],)).fetchone()
    assert gone == (1, None)
    retry = conn.execute("SELECT retry_until FROM feeds WHERE url=?",
                         (hostile["/429"][0],)).fetchone()[0]
    assert retry is not None
    moved = conn.execute("SELECT redirect_to, redirect_count FROM feeds WHERE url=?",
                         (hostile["/moved"][0],)).fetchone()
    assert moved[0].endswith("/target.xml") and moved[1] == 1
    # Only the permanent redirect to an allowed address reached the target: the redirects to
    # 127.0.0.2, ::ffff:127.0.0.2 and private names were refused before connecting.
    assert len(server.hits("/target.xml")) == 1


@pytest.mark.parametrize("target", ["http://127.0.0.2:{port}/x", "http://loop2.test:{port}/x",
                                    "http://[::ffff:127.0.0.2]:{port}/x", "http://mixed.test:{port}/x"])
def test_blocked_before_connecting(server: FeedServer, tmp_path: Path, target: str) -> None:
    cfg = load_config(write_config(tmp_path, [{"url": target.format(port=server.port),
                                               "outlet": "blocked"}]))
    db = open_db(cfg.settings.database)
    report = asyncio.run(poll(db, cfg, PollOptions(resolve=stub_resolve)))
    assert report.outcomes[0].error_kind == "blocked_address"
    assert server.requests == []
