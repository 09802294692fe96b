"""Polling behaviour over real loopback HTTP: conditional GET, schedules, lock, redirects."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    FeedServer,
    busy_host_feeds,
    healthy_feed,
    others_fetched_beside_busy_host,
    respond,
    rss,
    stub_resolve,
    write_config,
)
from hostile import redirect

from aggregator.cli import main
from aggregator.config import load_config
from aggregator.errors import LockedError
from aggregator.ingest.fetch import Fetcher
from aggregator.ingest.poll import PollOptions, poll
from aggregator.jobs import run_worker
from aggregator.lock import run_lock
from aggregator.model import FetchLimits
from aggregator.store import open_db
from aggregator.store.claims import claim_due
from aggregator.store.feeds import sync_feeds


def _poll(cfg_path: Path, **kw: object) -> object:
    cfg = load_config(cfg_path)
    db = open_db(cfg.settings.database)
    try:
        return asyncio.run(poll(db, cfg, PollOptions(resolve=stub_resolve, **kw)))  # type: ignore[arg-type]
    finally:
        db.close()


def test_conditional_get_second_poll_writes_nothing(server: FeedServer, tmp_path: Path) -> None:
    server.routes["/a.xml"] = respond(healthy_feed(1, "a"))
    cfg_path = write_config(tmp_path, [{"url": server.url("/a.xml"), "outlet": "A"}])
    first = _poll(cfg_path)
    assert first.new_articles == 5  # type: ignore[attr-defined]
    db = sqlite3.connect(tmp_path / "aggregator.db")
    before = db.execute("SELECT COUNT(*), MAX(updated), SUM(LENGTH(title)) FROM articles").fetchone()
    changes_before = db.total_changes
    second = _poll(cfg_path, force=True)
    o = second.outcomes[0]  # type: ignore[attr-defined]
    assert o.ok and o.not_modified and o.status == 304 and o.new_articles == 0
    hdrs = server.hits("/a.xml")[-1]
    assert hdrs.get("if-none-match") and hdrs.get("if-modified-since")
    assert "aggregator/" in hdrs["user-agent"]
    after = db.execute("SELECT COUNT(*), MAX(updated), SUM(LENGTH(title)) FROM articles").fetchone()
    assert before == after and db.total_changes == changes_before


def test_validators_stored_independently(server: FeedServer, tmp_path: Path) -> None:
    body = healthy_feed(2, "b")

    def only_last_modified(h: object) -> None:
        respond(body, headers={"Last-Modified": "Sun, 01 Nov 2026 00:00:00 GMT"},
                conditional=False)(h)  # type: ignore[arg-type]

    server.routes["/b.xml"] = only_last_modified
    cfg_path = write_config(tmp_path, [{"url": server.url("/b.xml"), "outlet": "B"}])
    _poll(cfg_path)
    _poll(cfg_path, force=True)
    hdrs = server.hits("/b.xml")[-1]
    assert hdrs.get("if-modified-since") == "Sun, 01 Nov 2026 00:00:00 GMT"
    assert "if-none-match" not in hdrs


def test_unchanged_body_is_not_parsed_again(server: FeedServer, tmp_path: Path) -> None:
    server.routes["/c.xml"] = respond(healthy_feed(3, "c"), conditional=False)
    cfg_path = write_config(tmp_path, [{"url": server.url("/c.xml"), "outlet": "C"}])
    _poll(cfg_path)
    second = _poll(cfg_path, force=True)
    assert second.outcomes[0].not_modified  # type: ignore[attr-defined]


def test_schedule_and_force(server: FeedServer, tmp_path: Path) -> None:
    server.routes["/d.xml"] = respond(rss([{"title": "x", "guid": "1"}], extra="<ttl>120</ttl>"))
    cfg_path = write_config(tmp_path, [{"url": server.url("/d.xml"), "outlet": "D"}])
    _poll(cfg_path)
    assert _poll(cfg_path).outcomes == ()  # type: ignore[attr-defined]  # not due yet
    assert len(_poll(cfg_path, force=True).outcomes) == 1  # type: ignore[attr-defined]
    db = sqlite3.connect(tmp_path / "aggregator.db")
    (due, ttl) = db.execute("SELECT next_due, ttl_minutes FROM feeds").fetchone()
    assert ttl == 120
    assert datetime.strptime(due, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) > \
        datetime.now(UTC) + timedelta(minutes=110)


def test_gone_and_retry_after_are_not_forced(server: FeedServer, tmp_path: Path) -> None:
    server.routes["/gone"] = respond(b"", status=410, conditional=False)
    server.routes["/busy"] = respond(b"", status=429, headers={"Retry-After": "3600"},
                                     conditional=False)
    cfg_path = write_config(tmp_path, [{"url": server.url("/gone"), "outlet": "G"},
                                       {"url": server.url("/busy"), "outlet": "R"}])
    first = _poll(cfg_path)
    assert {o.error_kind for o in first.outcomes} == {"gone", "http_429"}  # type: ignore[attr-defined]
    again = _poll(cfg_path, force=True)
    assert again.outcomes == ()  # type: ignore[attr-defined]
    assert len(server.hits("/gone")) == 1 and len(server.hits("/busy")) == 1


def test_failures_back_off_and_count(server: FeedServer, tmp_path: Path) -> None:
    server.routes["/err"] = respond(b"", status=500, conditional=False)
    cfg_path = write_config(tmp_path, [{"url": server.url("/err"), "outlet": "E"}])
    for _ in range(3):
        _poll(cfg_path, force=True)
    db = sqlite3.connect(tmp_path / "aggregator.db")
    fails, kind, due = db.execute("SELECT failures, error_kind, next_due FROM feeds").fetchone()
    assert fails == 3 and kind == "http_5xx"
    assert datetime.strptime(due, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) > datetime.now(UTC)


def test_permanent_redirect_is_followed_after_repeats(server: FeedServer, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    server.routes["/new.xml"] = respond(healthy_feed(4, "n"), conditional=False)
    server.routes["/old.xml"] = redirect("/new.xml", 301)
    old, new = server.url("/old.xml"), server.url("/new.xml")
    cfg_path = write_config(tmp_path, [{"url": old, "outlet": "Moved"}])
    db = sqlite3.connect(tmp_path / "aggregator.db")
    for polls in range(1, 4):
        _poll(cfg_path, force=True)
        assert db.execute("SELECT redirect_to, redirect_count FROM feeds").fetchone() == (new, polls)
    assert len(server.hits("/old.xml")) == 3
    # Confirmed three times: the next polls go straight to the new address.
    for _ in range(2):
        _poll(cfg_path, force=True)
    assert len(server.hits("/old.xml")) == 3 and len(server.hits("/new.xml")) == 5
    assert db.execute("SELECT url, redirect_to, redirect_count FROM feeds").fetchone() == (old, new, 3)
    (n,) = db.execute("SELECT COUNT(*) FROM articles WHERE feed_url=?", (old,)).fetchone()
    assert n == 5  # the feed keeps its identity and its articles
    assert main(["--config", str(cfg_path), "feeds"]) == 0
    assert f"moved permanently to {new}" in capsys.readouterr().out


def test_a_feed_moved_for_good_counts_at_the_host_its_polls_go_to(
        server: FeedServer, tmp_path: Path) -> None:
    """Pollers count their feeds by host (claims take a few of one host at a time): a feed moved
    to another host counts there once the move is confirmed, and a poller starting again keeps
    it there."""
    server.routes["/new.xml"] = respond(healthy_feed(2, "n"), conditional=False)
    server.routes["/old.xml"] = redirect(f"http://h2.test:{server.port}/new.xml", 301)
    old = f"http://h1.test:{server.port}/old.xml"
    cfg_path = write_config(tmp_path, [{"url": old, "outlet": "Moved"}])
    db = sqlite3.connect(tmp_path / "aggregator.db")
    hosts = []
    for _ in range(4):
        _poll(cfg_path, force=True)
        hosts.append(db.execute("SELECT host FROM feeds").fetchone()[0])
    assert hosts == ["h1.test", "h1.test", "h2.test", "h2.test"]
    assert len(server.hits("/old.xml")) == 3 and len(server.hits("/new.xml")) == 4
    store = open_db(str(tmp_path / "aggregator.db"))
    try:
        sync_feeds(store, load_config(cfg_path).feeds)  # as a poller does when it starts
        later = datetime.now(UTC) + timedelta(days=1)
        lease = timedelta(minutes=5)
        assert not claim_due(store, later, lease, 1, {"h2.test": 2}, 2)
        assert [s.url for s in claim_due(store, later, lease, 1, {"h1.test": 2}, 2)] == [old]
    finally:
        store.close()
    assert db.execute("SELECT host FROM feeds").fetchone()[0] == "h2.test"


def test_second_run_exits_at_once_when_locked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg_path = write_config(tmp_path, [{"url": "http://127.0.0.1:9/x", "outlet": "X"}])
    cfg = load_config(cfg_path)
    with run_lock(cfg.settings.database):
        with pytest.raises(LockedError), run_lock(cfg.settings.database):
            pass
        code = main(["--config", str(cfg_path), "poll"])
    assert code == 1
    assert "another aggregator run" in capsys.readouterr().err


def test_poll_cli_says_why_and_exits_by_what_worked(server: FeedServer, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    server.routes["/ok.xml"] = respond(healthy_feed(5, "ok"))
    dead = [{"url": f"http://127.0.0.1:9/x{i}", "outlet": f"X{i}"} for i in range(3)]
    cfg_path = write_config(tmp_path, dead)
    # Every due feed failed: exit 3, and the line names the kind, counts it and quotes one.
    assert main(["--config", str(cfg_path), "poll"]) == 3
    out = capsys.readouterr().out
    assert "0 feeds ok, 3 failed" in out and "connection_error x3 (cannot connect" in out
    assert "see `aggregator feeds --failing -v`" in out
    # The next poll has nothing due and says when the next attempt is.
    assert main(["--config", str(cfg_path), "poll"]) == 0
    out = capsys.readouterr().out
    assert "3 waiting: 3 backing off after failures, next attempt 20" in out
    assert main(["--config", str(cfg_path), "feeds", "--json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["ok"] is False and rows[0]["error_kind"] == "connection_error"
    assert {"url", "outlet", "ok", "error_kind", "error", "failures", "articles", "last_polled"} <= rows[0].keys()
    # One feed that works among failing ones: the poll ran, exit 0.
    mixed = write_config(tmp_path, [*dead, {"url": server.url("/ok.xml"), "outlet": "OK"}])
    assert main(["--config", str(mixed), "poll", "--force"]) == 0
    assert "1 feeds ok, 3 failed, 5 new articles" in capsys.readouterr().out


def test_edited_item_is_updated_in_place_and_reindexed(server: FeedServer, tmp_path: Path) -> None:
    def feed(title: str) -> bytes:
        return rss([{"title": title, "link": "https://example.org/e/1", "guid": "e-1",
                     "description": "Crews worked through the night.",
                     "pubDate": "Mon, 02 Nov 2026 10:00:00 GMT"}])

    server.routes["/e.xml"] = respond(feed("Harbour bridge closes for repairs"))
    cfg_path = write_config(tmp_path, [{"url": server.url("/e.xml"), "outlet": "E"}])
    _poll(cfg_path)
    server.routes["/e.xml"] = respond(
        feed("Harbour bridge reopens after overnight welding"), conditional=False)
    assert _poll(cfg_path, force=True).new_articles == 0  # type: ignore[attr-defined]
    db = sqlite3.connect(tmp_path / "aggregator.db")
    assert db.execute("SELECT id, title FROM articles").fetchall() == [
        (1, "Harbour bridge reopens after overnight welding")
    ]
    found = db.execute("SELECT rowid FROM articles_fts WHERE articles_fts MATCH 'welding'")
    assert found.fetchall() == [(1,)]


def test_cookies_a_feed_sets_are_never_sent_back(server: FeedServer, tmp_path: Path) -> None:
    body = healthy_feed(6, "k")
    server.routes["/k.xml"] = respond(body, headers={"Set-Cookie": "track=me; Path=/"},
                                      conditional=False)
    server.routes["/other.xml"] = respond(healthy_feed(7, "o"), conditional=False)
    # A host name (the stub resolver's h0.test is 127.0.0.1): jars refuse cookies of IP hosts.
    cfg_path = write_config(tmp_path, [{"url": server.url("/k.xml", "h0.test"), "outlet": "K"},
                                       {"url": server.url("/other.xml", "h0.test"), "outlet": "O"}],
                            {"concurrency": 1})
    _poll(cfg_path)
    _poll(cfg_path, force=True)
    assert all("cookie" not in h for _, h in server.requests)


def test_a_worker_on_sqlite_polls_feeds_of_one_host_at_once(server: FeedServer,
                                                           tmp_path: Path) -> None:
    """`aggregator worker` on SQLite, its one poller's place at a host taken by several polls
    at once: three slow full-text feeds of one host, their pages at another, all polled and
    stored (the place of the first poll to end was dropped for all of them, and the next one's
    end failed)."""
    body = b"<html><body><article><p>" + b"The page's own text. " * 30 + b"</p></article></body></html>"

    def slow(answer: Any) -> Any:
        def fn(h: BaseHTTPRequestHandler) -> None:
            time.sleep(0.3)
            answer(h)
        return fn

    feeds = []
    for i in range(3):
        server.routes[f"/{i}.xml"] = slow(respond(rss([
            {"title": f"Item {i}-{j}", "guid": f"g{i}-{j}",
             "link": server.url(f"/page{i}-{j}", "h1.test")} for j in range(2)])))
        for j in range(2):
            server.routes[f"/page{i}-{j}"] = slow(respond(body, content_type="text/html"))
        feeds.append({"url": server.url(f"/{i}.xml", "h0.test"), "outlet": f"Outlet {i}",
                      "fulltext": True})
    config = load_config(write_config(tmp_path, feeds, {"per_host": 4}))
    report = run_worker(config, PollOptions(resolve=stub_resolve))
    assert [(o.ok, o.error_kind, o.new_articles) for o in report.outcomes] == [(True, None, 2)] * 3
    db = sqlite3.connect(tmp_path / "aggregator.db")
    assert db.execute("SELECT COUNT(*) FROM articles WHERE fulltext LIKE '%own text%'"
                      ).fetchone() == (6,)
    db.close()


def test_a_busy_hosts_feeds_leave_the_other_slots_free(server: FeedServer, tmp_path: Path) -> None:
    """Three feeds of one host answering in 3 s each, listed first, then twelve of other hosts;
    per_host = 1 and three feeds at once. The busy host's third feed waits outside the poll's
    slots (two feeds of a host in hand a place), so the other hosts' feeds are all polled while
    its first is fetched: taken in order, its three feeds held all three slots."""
    feeds = busy_host_feeds(server, 3.0)
    report = _poll(write_config(tmp_path, feeds, {"per_host": 1, "concurrency": 3}))
    assert all(o.ok for o in report.outcomes) and len(report.outcomes) == 15  # type: ignore[attr-defined]
    assert others_fetched_beside_busy_host(server)


def test_per_host_bounds_fetches_at_once_and_keeps_no_idle_host(server: FeedServer) -> None:
    """Four fetches on each of 16 hosts at once, two places a host: no host serves more than
    two at a time, and the fetcher holds no host once its fetches are done (a worker that runs
    for months meets a great many hosts)."""
    body = healthy_feed(8, "slow")
    at_once: dict[str, int] = {}
    most: dict[str, int] = {}
    lock = threading.Lock()

    def slow(h: BaseHTTPRequestHandler) -> None:
        host = h.headers["Host"]
        with lock:
            at_once[host] = at_once.get(host, 0) + 1
            most[host] = max(most.get(host, 0), at_once[host])
        time.sleep(0.3)
        with lock:
            at_once[host] -= 1
        respond(body, conditional=False)(h)

    server.routes["/slow.xml"] = slow
    hosts = [f"h{n}.test" for n in range(16)]

    async def fetch_all() -> tuple[int, int, list[int]]:
        limits = FetchLimits(per_host=2, allowed_private_networks=("127.0.0.1/32",))
        async with Fetcher(limits, stub_resolve) as fetcher:
            tasks = [asyncio.create_task(fetcher.fetch(server.url("/slow.xml", host)))
                     for host in hosts for _ in range(4)]
            await asyncio.sleep(0.15)
            during = fetcher.hosts_in_use
            results = await asyncio.gather(*tasks)
            return during, fetcher.hosts_in_use, [r.status for r in results]

    during, after, statuses = asyncio.run(fetch_all())
    assert statuses == [200] * 64
    assert {host.split(":")[0]: n for host, n in most.items()} == dict.fromkeys(hosts, 2)
    assert during == 16
    assert after == 0
