"""Writing feeds.toml's entries to the store."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from aggregator.model import FeedConfig
from aggregator.store import open_db
from aggregator.store.feeds import sync_feeds
from aggregator.store.sqlite import SqliteDatabase


def test_a_sync_writes_only_what_feeds_toml_changed(tmp_path: Path) -> None:
    db = open_db(tmp_path / "a.db")
    assert isinstance(db, SqliteDatabase)
    feeds = [FeedConfig(url=f"https://f{i}.example/rss", outlet=f"Outlet {i}", fulltext=i == 1,
                        language="en", interval=30) for i in range(5)]
    sync_feeds(db, feeds)
    before = db.conn.total_changes
    sync_feeds(db, feeds)  # every poller start with the same feeds.toml
    assert db.conn.total_changes == before

    edited = [replace(feeds[0], outlet="Renamed"), *feeds[2:], FeedConfig("https://n.example/", "N")]
    sync_feeds(db, edited)
    assert db.conn.total_changes == before + 3  # one renamed, one dropped, one added
    rows = db.query("SELECT url, outlet, fulltext, interval, listed FROM feeds ORDER BY url")
    assert [(r["url"], r["outlet"], r["listed"]) for r in rows] == [
        ("https://f0.example/rss", "Renamed", 1),
        ("https://f1.example/rss", "Outlet 1", 0),
        ("https://f2.example/rss", "Outlet 2", 1),
        ("https://f3.example/rss", "Outlet 3", 1),
        ("https://f4.example/rss", "Outlet 4", 1),
        ("https://n.example/", "N", 1),
    ]
    sync_feeds(db, feeds)  # back to the first list: the dropped feed is listed again
    assert {r["url"] for r in db.query("SELECT url FROM feeds WHERE listed = 1")} == {
        f.url for f in feeds}
    db.close()
