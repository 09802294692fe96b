"""Full text: a feed's pages are fetched at once (within the per-host limit) and within a time
budget per poll; the pages a poll had no time for are fetched by the next one, and their
articles wait for their text before they are clustered."""

from __future__ import annotations

import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from conftest import FeedServer, respond, rss, write_config

from aggregator.cli import main
from aggregator.ingest.poll import FULLTEXT_DEADLINES

PAGES = 16
SLOW = 1.2  # seconds each page takes to arrive
TIMEOUT = 1.5  # the fetch deadline: a page fits, two in a row would not


def test_slow_pages_are_fetched_at_once_within_a_budget_and_the_rest_next_poll(
    server: FeedServer, tmp_path: Path
) -> None:
    in_flight = {"now": 0, "most": 0}
    lock = threading.Lock()

    def page(n: int):  # type: ignore[no-untyped-def]
        def fn(h: BaseHTTPRequestHandler) -> None:
            with lock:
                in_flight["now"] += 1
                in_flight["most"] = max(in_flight["most"], in_flight["now"])
            time.sleep(SLOW)
            with lock:
                in_flight["now"] -= 1
            body = (f"<html><body><article><h1>Story {n}</h1><p>Full text of story number {n}, "
                    f"about the harbour of town {n} and its {n} cranes.</p></article></body>"
                    "</html>").encode()
            respond(body, content_type="text/html", conditional=False)(h)

        return fn

    items = []
    for n in range(PAGES):
        server.routes[f"/p/{n}"] = page(n)
        items.append({"title": f"Story {n}", "guid": f"s{n}", "link": server.url(f"/p/{n}"),
                      "description": f"Summary {n}."})
    server.routes["/ft.xml"] = respond(rss(items))
    cfg = write_config(tmp_path, [{"url": server.url("/ft.xml"), "outlet": "Pages",
                                   "fulltext": True}], {"timeout": TIMEOUT, "per_host": 4})
    db = sqlite3.connect(tmp_path / "aggregator.db")

    started = time.monotonic()
    assert main(["--config", str(cfg), "poll"]) == 0
    took = time.monotonic() - started
    budget = FULLTEXT_DEADLINES * TIMEOUT
    # One after another the pages took PAGES x SLOW (19 s); the budget bounds the poll.
    assert took < budget + 2 * TIMEOUT + 5
    assert in_flight["most"] > 1
    (texts,) = db.execute("SELECT COUNT(*) FROM articles WHERE fulltext != ''").fetchone()
    (linked,) = db.execute("SELECT COUNT(*) FROM story_links").fetchone()
    assert 0 < texts < PAGES and linked == texts  # the others wait for their text

    for _ in range(PAGES):  # the next polls (nothing new in the feed) fetch the rest
        (waiting,) = db.execute("SELECT COUNT(*) FROM articles WHERE fulltext IS NULL").fetchone()
        if not waiting:
            break
        assert main(["--config", str(cfg), "poll", "--force"]) == 0
    assert db.execute("SELECT COUNT(*) FROM articles WHERE fulltext LIKE '%Full text of story%'"
                      ).fetchone() == (PAGES,)
    assert db.execute("SELECT COUNT(*) FROM story_links").fetchone() == (PAGES,)
