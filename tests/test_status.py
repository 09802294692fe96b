"""`aggregator status`: whether the pollers and the clusterer keep up, read from the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import FeedServer, healthy_feed, respond, write_config

from aggregator.cli import main
from aggregator.config import load_config
from aggregator.jobs import overview
from aggregator.model import FeedConfig
from aggregator.store import open_db
from aggregator.store.claims import claim_due
from aggregator.store.feeds import sync_feeds

pytestmark = pytest.mark.timeout(120)


def _feeds(server: FeedServer, tmp_path: Path, database: str = "aggregator.db") -> Path:
    """Two feeds of five items and one answering 404."""
    server.routes["/a"] = respond(healthy_feed(1, "A"))
    server.routes["/b"] = respond(healthy_feed(2, "B"))
    server.routes["/c"] = respond(b"not here", status=404, content_type="text/plain")
    return write_config(
        tmp_path,
        [{"url": server.url(f"/{name}"), "outlet": name.upper()} for name in "abc"],
        {"database": database},
    )


def test_status_tells_feeds_due_and_failing_and_articles_waiting(
    server: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _feeds(server, tmp_path)
    assert main(["--config", str(path), "poll", "--no-cluster"]) == 0
    db = open_db(tmp_path / "aggregator.db")
    (newest,) = db.execute("SELECT MAX(first_seen) FROM articles").fetchone()
    (oldest,) = db.execute("SELECT MIN(first_seen) FROM articles").fetchone()
    (first_due,) = db.execute("SELECT MIN(next_due) FROM feeds").fetchone()
    sync_feeds(db, [*load_config(path).feeds, FeedConfig("https://new.example/rss", "New")])
    db.close()
    capsys.readouterr()

    assert main(["--config", str(path), "status", "--json"]) == 0
    seen = json.loads(capsys.readouterr().out)
    assert seen == {
        "database": str(tmp_path / "aggregator.db"),
        "feeds": 4,
        "failing": 1,
        "failures": [["http_4xx", 1]],
        "gone": 0,
        "never_polled": 1,
        "due": 1,  # the feed added since: never polled
        "due_since": None,
        "articles": 10,
        "newest": newest,
        "waiting": 10,
        "waiting_since": oldest,
        "digest_until": None,
    }
    later = datetime.now(UTC) + timedelta(days=2)
    o = overview(load_config(path), now=lambda: later)
    assert (o.due, o.due_since) == (4, first_due)  # every feed due; the longest since first_due

    assert main(["--config", str(path), "cluster"]) == 0
    capsys.readouterr()
    assert main(["--config", str(path), "status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "feeds       4 listed: 2 ok, 1 failing (http_4xx x1), 0 gone, 1 never polled; 1 due"
    assert lines[2].startswith("articles    10 stored, the newest ")
    assert lines[3] == "clustering  0 articles waiting"
    assert lines[4] == "digest      none sent yet"


def test_status_on_postgresql_leaves_out_the_feeds_a_poller_has_taken(
    server: FeedServer, tmp_path: Path, pg_url: str
) -> None:
    path = _feeds(server, tmp_path, pg_url)
    assert main(["--config", str(path), "poll"]) == 0
    config = load_config(path)
    later = datetime.now(UTC) + timedelta(days=2)
    assert overview(config, now=lambda: later).due == 3
    db = open_db(pg_url)
    try:
        taken = claim_due(db, later, timedelta(minutes=5), 2)
    finally:
        db.close()
    o = overview(config, now=lambda: later)
    assert len(taken) == 2 and o.due == 1
    assert (o.feeds, o.failing, o.articles, o.waiting) == (3, 1, 10, 0)
