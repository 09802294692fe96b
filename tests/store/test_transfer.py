"""`aggregator copy`: a whole store copied into an empty one (store/transfer.py), from SQLite into
a new SQLite file or into PostgreSQL and back, after which the copy carries on as the original
does."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import FeedServer, healthy_feed, respond, write_config

from aggregator.cli import main
from aggregator.config import load_config
from aggregator.demo import DATA, DEMO_DAY, SnapshotServer, _moment
from aggregator.demo import write_config as write_demo_config
from aggregator.ingest.poll import PollOptions
from aggregator.jobs import copy_database, feed_health, list_stories, run_cluster, run_poll
from aggregator.lock import run_lock
from aggregator.model import Config, Copied
from aggregator.store import open_db, transfer, vectors
from aggregator.store.transfer import NOT_COPIED, TABLES, tables_of

pytestmark = pytest.mark.timeout(300)
SNAPSHOTS = sorted(p for p in (DATA / DEMO_DAY).iterdir() if p.is_dir())


def _on(config: Config, database: str) -> Config:
    return replace(config, settings=replace(config.settings, database=database))


def _capture(server: SnapshotServer, config: Config, snap: Path) -> list[tuple[str, bool, int]]:
    """One of the demo's captures polled and clustered; each feed's outcome."""
    at = _moment(snap.name)
    server.load(snap, at)
    report, _ = run_poll(config, PollOptions(now=lambda: at), cluster=False)
    run_cluster(config, now=lambda: at)
    return sorted((o.url, o.not_modified, o.new_articles) for o in report.outcomes)


def _state(config: Config) -> dict[str, Any]:
    """What a user sees of a store, and each article's story, keyed as both backends key it."""
    db = open_db(config.settings.database, create=False)
    try:
        links = sorted(
            tuple(r)
            for r in db.execute(
                "SELECT a.feed_url, a.key, l.story_id, l.kind FROM story_links l"
                " JOIN articles a ON a.id = l.article_id"
            )
        )
        (articles,) = db.execute("SELECT COUNT(*) FROM articles").fetchone()
    finally:
        db.close()
    return {
        "articles": articles,
        "links": links,
        "stories": [(s.id, s.title, s.outlets, s.article_count) for s in list_stories(config)],
        "search": [s.id for s in list_stories(config, search="oil")],
        "feeds": feed_health(config),
    }


def _rows(database: str) -> dict[str, int]:
    db = open_db(database, create=False)
    try:
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        db.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_copied_store_carries_on_as_the_original_does(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's first two polls into SQLite, the store copied, then the last two polls on the
    original and on the copy: each feed answers both alike (conditional GETs: nothing is fetched
    or stored anew that the original had), and both end with the same stories, article by
    article. On PostgreSQL the copy is then copied back into a SQLite file, alike again."""
    target = str(tmp_path / "copy.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    with SnapshotServer() as server:
        path = write_demo_config(tmp_path, server.port)
        config = load_config(path)
        for snap in SNAPSHOTS[:2]:
            _capture(server, config, snap)
        assert main(["--config", str(path), "copy", target]) == 0
        out = capsys.readouterr().out
        copy = _on(config, target)
        assert _rows(target) == _rows(config.settings.database)
        assert f"articles: {_rows(target)['articles']:,} rows" in out
        assert _state(copy) == _state(config)
        for snap in SNAPSHOTS[2:]:
            assert _capture(server, copy, snap) == _capture(server, config, snap)
    after = _state(config)
    assert _state(copy) == after
    assert after["search"] and len(after["links"]) == after["articles"] > 200
    if backend == "postgresql":
        back = str(tmp_path / "back.db")
        monkeypatch.setenv("AGGREGATOR_DATABASE_URL", target)
        assert main(["--config", str(path), "copy", back]) == 0
        assert _state(_on(config, back)) == after


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_every_table_a_store_holds_is_copied_or_made_again(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A migration that adds a table must say whether `copy` copies it."""
    database = str(tmp_path / "a.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    db = open_db(database)
    try:
        assert tables_of(db) - NOT_COPIED == set(TABLES)
    finally:
        db.close()


def _source(server: FeedServer, tmp_path: Path) -> Path:
    """A SQLite store of two polled feeds."""
    server.routes["/a"] = respond(healthy_feed(1, "A", items=8))
    server.routes["/b"] = respond(healthy_feed(2, "B", items=8))
    path = write_config(tmp_path, [{"url": server.url("/a"), "outlet": "A"},
                                   {"url": server.url("/b"), "outlet": "B"}])
    assert main(["--config", str(path), "poll"]) == 0
    return path


def test_a_copy_that_fails_leaves_the_target_empty_and_a_second_copies_once(
    server: FeedServer, tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _source(server, tmp_path)
    database = str(tmp_path / "aggregator.db")
    db = open_db(database)
    (last,) = db.execute("SELECT MAX(id) FROM articles").fetchone()
    # A value PostgreSQL refuses (text in a number's column, which SQLite keeps), in the fourth
    # table copied.
    score = db.execute("SELECT score FROM story_links WHERE article_id = ?", (last,)).fetchone()[0]
    db.execute("UPDATE story_links SET score = 'high' WHERE article_id = ?", (last,))
    # What earlier versions could store: a NUL in a text, a term vector as JSON text.
    db.execute("UPDATE articles SET author = 'a' || char(0) || 'b' WHERE id = ?", (last,))
    stored = db.execute("SELECT terms FROM article_sketches WHERE article_id = ?", (last,))
    vector = vectors.loads(stored.fetchone()[0])
    db.execute("UPDATE article_sketches SET terms = ? WHERE article_id = ?",
               (orjson.dumps(vector).decode(), last))
    db.close()
    capsys.readouterr()

    assert main(["--config", str(path), "copy", pg_url]) == 1
    error = capsys.readouterr().err
    assert "copying story_links:" in error and "double precision" in error
    assert set(_rows(pg_url).values()) == {0}  # the three tables copied first are gone too

    db = open_db(database)
    db.execute("UPDATE story_links SET score = ? WHERE article_id = ?", (score, last))
    db.close()
    assert main(["--config", str(path), "copy", pg_url]) == 0
    assert "articles: 16 rows (1 without the NUL characters of their texts)" in capsys.readouterr().out
    copied = _rows(pg_url)
    assert copied == _rows(database) and copied["articles"] == 16
    target = open_db(pg_url)
    (author,) = target.execute("SELECT author FROM articles WHERE id = ?", (last,)).fetchone()
    (terms,) = target.execute("SELECT terms FROM article_sketches WHERE article_id = ?",
                              (last,)).fetchone()
    target.close()
    assert author == "ab"
    assert isinstance(terms, bytes)
    assert vectors.loads(terms) == pytest.approx(vector, rel=1e-6)

    assert main(["--config", str(path), "copy", pg_url]) == 1
    error = capsys.readouterr().err
    assert "is not empty (it holds feeds, articles" in error
    assert _rows(pg_url) == copied


def test_a_copy_refuses_its_own_source_and_a_source_in_use(
    server: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _source(server, tmp_path)
    database = str(tmp_path / "aggregator.db")
    capsys.readouterr()
    assert main(["--config", str(path), "copy", database]) == 1
    assert "is the configured database" in capsys.readouterr().err
    with run_lock(database):  # a daily job polling
        assert main(["--config", str(path), "copy", str(tmp_path / "new.db")]) == 1
    assert "another aggregator run is using" in capsys.readouterr().err
    monkeypatch.setattr(transfer, "PROGRESS_ROWS", 5)
    heard: list[Copied] = []
    copy_database(load_config(path), str(tmp_path / "new.db"), heard.append)
    copied = _rows(str(tmp_path / "new.db"))
    assert copied == _rows(database) and copied["articles"] == 16
    # Each table told every 5 rows, then once done.
    articles = [(c.rows, c.total, c.finished) for c in heard if c.table == "articles"]
    assert articles == [(5, 16, False), (10, 16, False), (15, 16, False), (16, 16, True)]
    assert [c.table for c in heard if c.finished] == list(TABLES)


def test_a_copy_killed_midway_leaves_the_target_empty_and_a_second_copies_once(
    server: FeedServer, tmp_path: Path, pg_url: str
) -> None:
    path = _source(server, tmp_path)
    database = str(tmp_path / "aggregator.db")
    db = open_db(database)
    # Term statistics enough for a copy to take a few seconds.
    db.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000000)"
               " INSERT INTO term_df (term, df) SELECT 'term' || i, i FROM n")
    db.close()
    command = [sys.executable, "-m", "aggregator", "--config", str(path), "copy", pg_url]
    copying = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watch = open_db(pg_url)
    try:
        deadline = time.monotonic() + 60
        while not watch.execute("SELECT 1 FROM pg_stat_activity WHERE query LIKE 'COPY \"term_df\"%'"
                                " AND state = 'active'").fetchone():
            assert copying.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        copying.kill()
        copying.wait(10)
        assert set(_rows(pg_url).values()) == {0}
    finally:
        watch.close()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _rows(pg_url) == _rows(database)
