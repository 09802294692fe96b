"""A feed's sample of its earlier articles, from which its boilerplate is told: the line hashes
the store keeps of each clustered article, read instead of its text, with the same outcome."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aggregator.matching.clusterer import Clusterer
from aggregator.model import Article, FeedConfig, FeedUpdate
from aggregator.store import open_db
from aggregator.store.clustering import ClusterState
from aggregator.store.feeds import save_success, sync_feeds
from aggregator.store.vectors import loads

T0 = datetime(2026, 11, 1, tzinfo=UTC)
FEEDS = [FeedConfig(url=f"https://o{i}.example/rss", outlet=f"Outlet {i}") for i in range(2)]
BOILER = "Follow us on Telegram for the latest updates.\nShare this article."


def _put(path: Path, feed: int, articles: list[tuple[str, str, str]], minutes: int) -> None:
    db = open_db(path)
    when = T0 + timedelta(minutes=minutes)
    save_success(db, FeedUpdate(FEEDS[feed].url, 200, when, when, None, None, None, None, None,
                                None, 0), FEEDS[feed].outlet,
                 [Article(key, f"https://o{feed}.example/{key}", title, text, "", "",
                          when + timedelta(seconds=i), "", "en")
                  for i, (key, title, text) in enumerate(articles)])
    db.close()


def _cluster(path: Path) -> None:
    db = open_db(path)
    Clusterer(ClusterState(db), 72).run()
    db.close()


def _terms(path: Path, key: str) -> set[str]:
    db = sqlite3.connect(path)
    (stored,) = db.execute("SELECT s.terms FROM article_sketches s JOIN articles a"
                           " ON a.id = s.article_id WHERE a.key = ?", (key,)).fetchone()
    db.close()
    return set(loads(stored))


def _stories(path: Path) -> set[frozenset[str]]:
    db = sqlite3.connect(path)
    by_story: dict[str, set[str]] = {}
    for key, story in db.execute("SELECT a.key, l.story_id FROM articles a"
                                 " JOIN story_links l ON l.article_id = a.id"):
        by_story.setdefault(story, set()).add(key)
    db.close()
    return {frozenset(keys) for keys in by_story.values()}


def _sample(path: Path, feed: int, minutes: int) -> list[bytes | str]:
    db = open_db(path)
    when = (T0 + timedelta(minutes=minutes)).isoformat()
    (found,) = ClusterState(db).preceding_lines([(when, FEEDS[feed].url, "~")], 50)
    db.close()
    return found


def test_a_feeds_boilerplate_is_told_from_the_lines_kept_of_its_clustered_articles(
        tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    sync_feeds(open_db(path), FEEDS)
    _put(path, 0, [(f"boiler{i}", f"Item {i} of the day",
                    f"Story number {i} text about district {i}.\n{BOILER}") for i in range(5)], 0)
    _cluster(path)
    # Clustered: the sample is their line hashes, 8 bytes a distinct line, no text.
    assert [len(s) for s in _sample(path, 0, 10) if isinstance(s, bytes)] == [24] * 5

    _put(path, 0, [("a", "Port workers strike over pay in Rotterdam",
                    f"Dockers walked out at Europe's largest port on Monday.\n{BOILER}")], 30)
    _put(path, 1, [("b", "Flooding closes schools across Bavaria",
                    f"Heavy rain flooded towns in southern Germany.\n{BOILER}")], 40)
    # The same database with the lines unknown, as for articles clustered by an earlier
    # version: the sample is then their texts.
    texts = tmp_path / "texts.db"
    with sqlite3.connect(path) as source, sqlite3.connect(texts) as db:
        source.backup(db)
        db.execute("UPDATE article_sketches SET lines = NULL")
    assert all(isinstance(s, str) and BOILER in s for s in _sample(texts, 0, 10))

    _cluster(path)
    _cluster(texts)
    # a's feed told its boilerplate from the sample and left it out of a's terms; b's feed has
    # no earlier articles, so b's stay.
    assert not any("telegram" in t for t in _terms(path, "a"))
    assert any("telegram" in t for t in _terms(path, "b"))
    for key in ("a", "b", "boiler0"):
        assert _terms(path, key) == _terms(texts, key)
    assert _stories(path) == _stories(texts)
    assert {"a", "b"} not in _stories(path)


def test_a_changed_article_is_sampled_by_its_new_text(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    sync_feeds(open_db(path), FEEDS)
    _put(path, 0, [("x", "Harbour bridge closed", "Inspectors found cracks.\nShare this article.")],
         0)
    _cluster(path)
    assert [type(s) for s in _sample(path, 0, 10)] == [bytes]
    # The feed changes the item: its stored lines no longer say what its text does.
    _put(path, 0, [("x", "Harbour bridge closed", "Inspectors found cracks.\nSubscribe now.")], 0)
    assert _sample(path, 0, 10) == ["Inspectors found cracks.\nSubscribe now.\n"]
