"""PostgreSQL as the store, against a real server the suite starts (tests/pgserver.py): the same
stories as SQLite, pollers in parallel, claims, a killed poller, two clusterers, search and the
digest."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import select
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pgserver as pg
import pytest
from conftest import (
    FeedServer,
    NotifySocket,
    Sink,
    busy_host_feeds,
    healthy_feed,
    late,
    others_fetched_beside_busy_host,
    respond,
    rss,
    stub_resolve,
    write_config,
)
from machine import other_machine
from pgserver import REQUIRED

from aggregator.config import load_config
from aggregator.demo import DATA, DEMO_DAY, SnapshotServer, _moment
from aggregator.demo import write_config as write_demo_config
from aggregator.ingest.poll import PollOptions, WorkOptions, lease_for, poll, work
from aggregator.jobs import list_stories, run_cluster, run_worker
from aggregator.model import Config, FeedConfig
from aggregator.publish.sending import send_digest
from aggregator.store import Database, open_db
from aggregator.store.claims import claim_due, release_host_slot, renew, take_host_slot
from aggregator.store.feeds import sync_feeds
from aggregator.times import iso

pytestmark = pytest.mark.timeout(600)
SNAPSHOTS = sorted(p for p in (DATA / DEMO_DAY).iterdir() if p.is_dir())
SPAWN = multiprocessing.get_context("spawn")


def _on(config: Config, database: str, **settings: Any) -> Config:
    limits = replace(config.settings.limits, **settings)
    return replace(config, settings=replace(config.settings, database=database, limits=limits))


def _worker(config: Config, moment: str, polled: Any = None) -> None:
    """One poller process: polls what it can claim at ``moment`` until nothing is due (and puts
    how many feeds it polled on the queue ``polled``)."""
    at = datetime.fromisoformat(moment)
    report = run_worker(config, PollOptions(now=lambda: at))
    if polled is not None:
        polled.put(len(report.outcomes))


def _membership(db: Database) -> set[frozenset[tuple[str, str]]]:
    """The stories as sets of (feed URL, article key): comparable across databases."""
    stories: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for story, feed, key in db.execute(
        "SELECT l.story_id, a.feed_url, a.key FROM story_links l JOIN articles a "
        "ON a.id = l.article_id"
    ):
        stories[story].add((feed, key))
    return {frozenset(s) for s in stories.values()}


def _replay(server: SnapshotServer, config: Config, pollers: int,
            shares: list[list[int]] | None = None) -> set[frozenset[tuple[str, str]]]:
    """The demo's four captures polled in turn (by ``pollers`` processes at once on
    PostgreSQL, by one poll on SQLite), each followed by clustering; ``shares`` gets how many
    feeds each poller polled, capture by capture."""
    for snap in SNAPSHOTS:
        moment = _moment(snap.name)
        server.load(snap, moment)
        if pollers:
            polled = SPAWN.Queue()
            procs = [SPAWN.Process(target=_worker, args=(config, moment.isoformat(), polled))
                     for _ in range(pollers)]
            for p in procs:
                p.start()
            for p in procs:
                p.join(300)
                assert p.exitcode == 0
            if shares is not None:
                shares.append(sorted((polled.get(timeout=10) for _ in procs), reverse=True))
        else:
            db = open_db(config.settings.database)
            asyncio.run(poll(db, config, PollOptions(now=lambda at=moment: at)))
            db.close()
        run_cluster(config, now=lambda at=moment: at)
    db = open_db(config.settings.database)
    try:
        (articles,) = db.execute("SELECT COUNT(*) FROM articles").fetchone()
        (queued,) = db.execute("SELECT COUNT(*) FROM cluster_pending").fetchone()
        assert queued == 0
        found = _membership(db)
        assert sum(len(s) for s in found) == articles  # every article in exactly one story
        return found
    finally:
        db.close()


def test_the_demo_gives_the_same_stories_on_postgresql_with_one_or_four_pollers(
        pg_server: Any, tmp_path: Path) -> None:
    with SnapshotServer() as server:
        base = load_config(write_demo_config(tmp_path, server.port))
        lite = _replay(server, base, pollers=0)
        one = _replay(server, _on(base, pg_server.new_database()), pollers=1)
        # One feed per claim, so the four pollers share the five feeds.
        shares: list[list[int]] = []
        four = _replay(server, _on(base, pg_server.new_database(), concurrency=1), pollers=4,
                       shares=shares)
    articles = sum(len(s) for s in lite)
    wide = sum(1 for s in lite if len({f for f, _ in s}) >= 3)
    print(f"\nsqlite, one process: {articles} articles in {len(lite)} stories, {wide} told by 3+ feeds")
    print(f"postgresql, 1 poller: {'the same stories' if one == lite else 'DIFFERENT'}")
    print(f"postgresql, 4 pollers at once: {'the same stories' if four == lite else 'DIFFERENT'}"
          f" (feeds polled by each, capture by capture: {shares})")
    assert all(sum(s) == 5 for s in shares)  # every feed polled once per capture, by one poller
    assert articles > 200
    assert one == lite
    assert four == lite


def test_search_finds_the_same_stories_as_sqlite(pg_server: Any, tmp_path: Path) -> None:
    with SnapshotServer() as server:
        base = load_config(write_demo_config(tmp_path, server.port))
        pg = _on(base, pg_server.new_database())
        _replay(server, base, pollers=0)
        _replay(server, pg, pollers=1)
    for words in ("oil", "Russian oil", "TRUMP", "tariffs trade", "nothing-like-this"):
        lite = {s.title for s in list_stories(base, search=words)}
        found = {s.title for s in list_stories(pg, search=words)}
        assert found == lite, words
    assert list_stories(pg, search="oil")
    # Words are words, never query syntax.
    assert list_stories(pg, search="oil & !( ' :*") == list_stories(pg, search="oil")


def test_eight_claimers_claim_each_due_feed_exactly_once(pg_url: str) -> None:
    """Eight claimers at once over 10,000 due feeds of 100 hosts, each claim taking at most 8 of
    a host (as a worker whose earlier polls are done): each feed is claimed once a due period."""
    feeds = [FeedConfig(url=f"https://h{i // 100}.example/{i}", outlet=f"Outlet {i % 50}")
             for i in range(10_000)]
    db = open_db(pg_url)
    sync_feeds(db, feeds)
    db.close()
    now = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    lease = timedelta(hours=1)

    def period(at: datetime) -> Counter[str]:
        claimed: Counter[str] = Counter()
        lock = threading.Lock()
        start = threading.Barrier(8)

        def claimer() -> None:
            own = open_db(pg_url)
            start.wait()
            while batch := claim_due(own, at, lease, 100, {}, 8):
                with lock:
                    claimed.update(s.url for s in batch)
            own.close()

        threads = [threading.Thread(target=claimer) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return claimed

    first = period(now)
    assert len(first) == 10_000 and set(first.values()) == {1}
    assert not period(now + lease - timedelta(seconds=1))  # still leased: nobody claims
    second = period(now + lease)  # the lease has ended: each feed is due once more
    assert len(second) == 10_000 and set(second.values()) == {1}


def test_a_claim_is_renewed_only_by_its_holder(pg_url: str) -> None:
    db = open_db(pg_url)
    try:
        sync_feeds(db, [FeedConfig(url="https://a.example/rss", outlet="A")])
        now = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
        lease = timedelta(minutes=5)
        (mine,) = claim_due(db, now, lease, 10)
        assert mine.next_due == iso(now + lease)
        later = now + timedelta(minutes=4)
        renewed = renew(db, mine.url, mine.next_due, later + lease)
        assert renewed == iso(later + lease)
        assert not claim_due(db, now + lease, lease, 10)  # the first lease's end: still held
        # A claim that has moved on (renewed, or taken by another poller) is not renewed.
        assert renew(db, mine.url, mine.next_due, later + 2 * lease) is None
        (theirs,) = claim_due(db, later + lease, lease, 10)
        assert renew(db, mine.url, renewed, later + 2 * lease) is None
        assert theirs.next_due == iso(later + 2 * lease)
        assert renew(db, theirs.url, theirs.next_due, later + 3 * lease) == iso(later + 3 * lease)
    finally:
        db.close()


def test_pollers_starting_together_write_feeds_toml_in_turn(pg_url: str) -> None:
    """Eight pollers start at once, half of them with an edited feeds.toml: each one's
    configuration is written whole, none deadlocks, and the last one written is what is listed."""
    old = [FeedConfig(url=f"https://f{i}.example/rss", outlet=f"Outlet {i}") for i in range(2_000)]
    new = [replace(f, outlet=f.outlet + " (edited)") for f in old[500:]]
    new += [FeedConfig(url=f"https://g{i}.example/rss", outlet=f"New {i}") for i in range(500)]
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def poller(feeds: list[FeedConfig]) -> None:
        own = open_db(pg_url)
        start.wait()
        try:
            for _ in range(5):
                sync_feeds(own, feeds)
        except BaseException as e:
            failures.append(e)
        own.close()

    threads = [threading.Thread(target=poller, args=(old if i % 2 else new,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    db = open_db(pg_url)
    sync_feeds(db, new)
    listed = dict(db.execute("SELECT url, outlet FROM feeds WHERE listed = 1").fetchall())
    assert listed == {f.url: f.outlet for f in new}
    assert db.execute("SELECT count(*) FROM feeds WHERE listed = 0").fetchone()[0] == 500
    versions = db.execute("SELECT url, xmin::text FROM feeds ORDER BY url").fetchall()
    sync_feeds(db, new)  # the same feeds.toml again: no row written
    assert db.execute("SELECT url, xmin::text FROM feeds ORDER BY url").fetchall() == versions
    db.close()


def _fast_and_slow(server: FeedServer, seconds: float) -> None:
    """Two feeds of one item each: /a answers at once, /b ``seconds`` late."""
    server.routes["/a"] = respond(rss([{"title": "One item", "guid": "a",
                                        "link": "https://example.org/a"}]))
    server.routes["/b"] = _slow(rss([{"title": "Other", "guid": "b",
                                      "link": "https://example.org/b"}]), seconds)


def _slow(body: bytes, seconds: float) -> Any:
    return late(respond(body), seconds)


def test_a_poller_killed_mid_lease_loses_nothing_and_stores_nothing_twice(
        pg_url: str, server: FeedServer, tmp_path: Path) -> None:
    items = 4
    feeds = []
    for i in range(12):
        server.routes[f"/f{i}"] = (respond if i < 6 else lambda b: _slow(b, 4.0))(
            rss([{"title": f"Outlet {i} reports harbour story {j} in town {i}",
                  "link": f"https://example.org/{i}/{j}", "guid": f"g{i}-{j}",
                  "description": f"Harbour news number {j} from town {i}.",
                  "pubDate": f"Mon, 02 Nov 2026 0{j}:00:00 GMT"} for j in range(items)]))
        feeds.append({"url": f"http://127.0.0.1:{server.port}/f{i}", "outlet": f"Outlet {i}"})
    config = load_config(write_config(tmp_path, feeds, {"database": pg_url, "timeout": 10}))
    moment = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    poller = SPAWN.Process(target=_worker, args=(config, moment.isoformat()))
    poller.start()
    db = open_db(pg_url)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            (done,) = db.execute(
                "SELECT COUNT(*) FROM feeds WHERE last_success IS NOT NULL").fetchone()
            if done >= 6:
                break
            time.sleep(0.05)
        assert done >= 6
        os.kill(poller.pid, signal.SIGKILL)  # type: ignore[arg-type]
        poller.join()
        # Six or so are stored; the others are in flight (the slow ones among them, and a fast
        # one that waited for a place behind slow ones).
        stored = {u for (u,) in db.execute(
            "SELECT url FROM feeds WHERE last_success IS NOT NULL").fetchall()}
        in_flight = sorted(f["url"] for f in feeds if f["url"] not in stored)
        assert in_flight
        # Their leases hold: another poller at the same moment finds nothing due.
        assert run_worker(config, PollOptions(now=lambda: moment)).outcomes == ()
        after = moment + (claimed_until := _lease_end(db) - moment)
        report = run_worker(config, PollOptions(now=lambda: after))
        assert sorted(o.url for o in report.outcomes) == in_flight
        assert all(o.ok for o in report.outcomes)
        assert claimed_until > timedelta(0)
        run_cluster(config, now=lambda: after)
        (articles, unique) = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT (feed_url, key)) FROM articles").fetchone()
        (linked,) = db.execute("SELECT COUNT(DISTINCT article_id) FROM story_links").fetchone()
        (queued,) = db.execute("SELECT COUNT(*) FROM cluster_pending").fetchone()
    finally:
        db.close()
    assert articles == unique == 12 * items
    assert linked == articles and queued == 0


def _lease_end(db: Database) -> datetime:
    (latest,) = db.execute("SELECT MAX(next_due) FROM feeds WHERE last_success IS NULL").fetchone()
    return datetime.fromisoformat(latest)


class _Lines:
    """A process's output lines, read as they come."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc, self.lines = proc, []  # type: list[str]
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines if text in line]
            if found:
                return found[-1]
            time.sleep(0.05)
        raise AssertionError(f"no line with {text!r} in {self.lines}")

    def end(self) -> None:
        """Kill the process if it still runs, and close its output."""
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def clustered(self, since: int, total: int, timeout: float) -> bool:
        """Whether the runs reported after line ``since`` clustered ``total`` articles in all
        within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = [line for line in self.lines[since:] if "articles clustered" in line]
            if sum(int(line.split()[1]) for line in runs) >= total:
                return True
            time.sleep(0.05)
        return False


def test_two_clusterers_one_works_the_other_takes_over_when_it_is_killed(
        pg_url: str, tmp_path: Path) -> None:
    started: list[_Lines] = []

    def clusterer(config: Config) -> _Lines:
        command = [sys.executable, "-m", "aggregator", "--config", str(config.path),
                   "cluster", "--follow", "--fallback", "30"]
        env = {**os.environ, "AGGREGATOR_DATABASE_URL": pg_url}  # the URL as a secret is given
        started.append(_Lines(subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                               text=True)))
        return started[-1]

    with SnapshotServer() as server:
        config = _on(load_config(write_demo_config(tmp_path, server.port)), pg_url)
        first, second = SNAPSHOTS[:2]
        moment = _moment(first.name)
        server.load(first, moment)
        run_worker(config, PollOptions(now=lambda: moment))
        try:
            a = clusterer(config)
            a.wait_for("holding the lock")
            b = clusterer(config)
            b.wait_for("standby")
            assert "247 articles clustered" in a.wait_for("articles clustered")
            a.proc.kill()
            a.proc.wait()
            b.wait_for("holding the lock", timeout=30)
            moment = _moment(second.name)
            server.load(second, moment)
            before = len(b.lines)
            run_worker(config, PollOptions(now=lambda: moment))
            # The new articles wake it (NOTIFY), well before its 30 s fallback.
            assert b.clustered(since=before, total=10, timeout=20)
            b.proc.send_signal(signal.SIGTERM)
            assert b.proc.wait(30) == 0
        finally:
            for lines in started:
                lines.end()


def test_a_standby_takes_over_from_a_clusterer_whose_machine_goes_silent(
        server: FeedServer, tmp_path: Path) -> None:
    # A machine that loses power or its network closes no connection: the server ends the
    # holder's session, and so its lock, only when its keepalives go unanswered.
    with other_machine() as machine, contextmanager(pg.server)(
            also=(machine.host,), clients=(machine.network,)) as pg_server:
        url = pg_server.new_database()
        server.routes["/a"] = respond(healthy_feed(1, "Post", items=3))
        config = _on(load_config(write_config(tmp_path, [
            {"url": server.url("/a"), "outlet": "Post"}])), url)
        follow = ["-m", "aggregator", "--config", str(config.path), "cluster", "--follow"]
        env = {**os.environ, "AGGREGATOR_DATABASE_URL": url.replace("127.0.0.1", machine.host)}
        started: list[_Lines] = []
        try:
            a = _Lines(subprocess.Popen(machine.command(sys.executable, *follow), env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            started.append(a)
            a.wait_for("holding the lock")
            b = _Lines(subprocess.Popen([sys.executable, *follow], env={
                **os.environ, "AGGREGATOR_DATABASE_URL": url}, stdout=subprocess.PIPE, text=True))
            started.append(b)
            b.wait_for("standby")
            machine.cut()
            cut = time.monotonic()
            b.wait_for("holding the lock", timeout=120)  # by the system's keepalives: hours
            print(f"a silent holder's lock taken over after {time.monotonic() - cut:.1f} s")
            before = len(b.lines)
            run_worker(config, PollOptions())
            assert b.clustered(since=before, total=3, timeout=30)
            # The silent machine's clusterer, for its part, notices it lost the server.
            assert a.proc.wait(120) == 1
            assert a.proc.stderr is not None
            assert "lost the connection: " in a.proc.stderr.read()
        finally:
            for lines in started:
                lines.end()


def _machines(tmp_path: Path, names: tuple[str, ...], pg_url: str, smtp: Sink,
              feeds: list[dict[str, Any]]) -> list[Config]:
    """A folder and a feeds.toml per machine, each with the same database and mail server."""
    email = {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "security": "none",  # type: ignore[attr-defined]
             "sender": "digest@example.org", "recipients": ["ana@example.org"]}
    machines = []
    for name in names:
        folder = tmp_path / name
        folder.mkdir()
        machines.append(load_config(write_config(folder, feeds, {"database": pg_url}, email)))
    return machines


def test_two_machines_sending_the_digest_at_once_send_it_once(
        pg_url: str, server: FeedServer, tmp_path: Path, smtp: Sink) -> None:
    server.routes["/a"] = respond(rss([{"title": "Harbour bridge closes after cracks found",
                                        "link": "https://example.org/a", "guid": "a",
                                        "description": "Inspectors closed the harbour bridge.",
                                        "pubDate": "Mon, 02 Nov 2026 07:00:00 GMT"}]))
    now = datetime(2026, 11, 2, 18, 0, tzinfo=UTC)
    machines = _machines(tmp_path, ("one", "two"), pg_url, smtp,
                         [{"url": f"http://127.0.0.1:{server.port}/a", "outlet": "Post"}])
    run_worker(machines[0], PollOptions(now=lambda: now))
    run_cluster(machines[1], now=lambda: now)
    start = threading.Barrier(2)
    results = []

    def send(config: Config) -> None:
        start.wait()
        results.append(send_digest(config, now=now))

    threads = [threading.Thread(target=send, args=(m,)) for m in machines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.sent for r in results) == [False, True]
    assert all(r.ok for r in results)
    assert len(smtp.messages) == 1


def _bilingual(server: FeedServer, tmp_path: Path, database: str, partitioned: bool) -> Config:
    """Two English feeds and a German one reporting the same events, by name."""
    texts = {
        "en": ("Zelensky meets Macron in Paris over Ukraine air defence",
               "Volodymyr Zelensky met Emmanuel Macron in Paris on Monday to ask for air defence."),
        "de": ("Selenskyj trifft Macron in Paris wegen Ukraine Luftabwehr",
               "Wolodymyr Selenskyj traf Emmanuel Macron am Montag in Paris wegen der Luftabwehr."),
    }
    feeds = []
    for i, language in enumerate(("en", "en", "de")):
        title, text = texts[language]
        server.routes[f"/{i}"] = respond(rss([{
            "title": f"{title} ({i})", "link": f"https://example.org/{i}", "guid": f"g{i}",
            "description": text, "pubDate": "Mon, 02 Nov 2026 07:00:00 GMT"}]))
        feeds.append({"url": f"http://127.0.0.1:{server.port}/{i}", "outlet": f"Outlet {i}",
                      "language": language})
    settings: dict[str, Any] = {"database": database}
    if partitioned:
        settings["partition_by"] = "language"
    return load_config(write_config(tmp_path, feeds, settings))


def test_language_partitions_cluster_apart_each_under_its_own_lock(
        pg_server: Any, server: FeedServer, tmp_path: Path) -> None:
    now = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    config = _bilingual(server, tmp_path, pg_server.new_database(), partitioned=True)
    run_worker(config, PollOptions(now=lambda: now))
    report = run_cluster(config, now=lambda: now)
    assert report.articles == 3
    db = open_db(config.settings.database)
    languages = defaultdict(set)
    for story, language in db.execute(
            "SELECT l.story_id, f.language FROM story_links l JOIN articles a "
            "ON a.id = l.article_id JOIN feeds f ON f.url = a.feed_url"):
        languages[story].add(language)
    db.close()
    assert all(len(found) == 1 for found in languages.values())  # no story crosses languages
    assert {lang for found in languages.values() for lang in found} == {"en", "de"}

    # One clusterer per partition, at once: neither stands by for the other.
    procs = []
    try:
        for language in ("en", "de"):
            command = [sys.executable, "-m", "aggregator", "--config", str(config.path),
                       "cluster", "--follow", "--partition", language]
            procs.append(_Lines(subprocess.Popen(command, stdout=subprocess.PIPE, text=True)))
        for lines in procs:
            lines.wait_for("holding the lock")
            assert not [line for line in lines.lines if "standby" in line]
    finally:
        for lines in procs:
            lines.end()


def test_a_server_that_does_not_answer_is_one_line_without_the_password(tmp_path: Path) -> None:
    if not REQUIRED:
        pytest.importorskip("psycopg")
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://news:s3cret@127.0.0.1:{port}/news"
    write_config(tmp_path, [{"url": "http://127.0.0.1:9/feed", "outlet": "Post"}], {"database": url})
    for command in (["clusters"], ["worker", "--until-idle"], ["cluster"]):
        done = subprocess.run([sys.executable, "-m", "aggregator", "--config",
                               str(tmp_path / "feeds.toml"), *command],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "cannot open the database" in done.stderr
        assert "s3cret" not in done.stderr and "***" in done.stderr


def test_a_users_days_on_postgresql_from_two_machines(
        pg_url: str, server: FeedServer, tmp_path: Path, smtp: Sink) -> None:
    from aggregator.jobs import run_all

    machines = _machines(tmp_path, ("poller", "publisher"), pg_url, smtp,
                         [{"url": f"http://127.0.0.1:{server.port}/{o}", "outlet": o}
                          for o in ("post", "times")])
    events = [("Harbour bridge closes after inspectors find cracks", "bridge cracks inspectors"),
              ("Dockers strike at the container port over pay", "dockers strike pay port"),
              ("Flood warning issued as river rises in the valley", "flood river valley warning")]
    for day, (title, words) in enumerate(events, start=1):
        now = datetime(2026, 11, day, 18, 0, tzinfo=UTC)
        for outlet in ("post", "times"):
            server.routes[f"/{outlet}"] = respond(rss([{
                "title": title, "link": f"https://example.org/{outlet}/{day}",
                "guid": f"{outlet}-{day}", "description": f"{title}: {words}.",
                "pubDate": now.strftime("%a, %d %b %Y 07:00:00 GMT")}]), modified_at=now)
        first = dict(run_all(machines[0], email=False, now=lambda at=now: at))
        assert all(first.values()), first
        second = dict(run_all(machines[1], poll=False, cluster=False, now=lambda at=now: at))
        assert all(second.values()), second
        again = dict(run_all(machines[1], poll=False, cluster=False, now=lambda at=now: at))
        assert any("already sent" in line for line in again), again
        assert len(smtp.messages) == day
        for config in machines[1:]:
            assert (Path(config.settings.site_dir) / "index.html").is_file()
    stories = list_stories(machines[1], since="2026-10-01", min_outlets=2)
    assert len(stories) == 3 and all(len(s.outlets) == 2 for s in stories)


def test_poll_and_poll_force_on_postgresql(pg_url: str, server: FeedServer, tmp_path: Path) -> None:
    server.routes["/a"] = respond(rss([{"title": "Harbour bridge closes after cracks found",
                                        "link": "https://example.org/a", "guid": "a",
                                        "description": "Inspectors closed the harbour bridge.",
                                        "pubDate": "Mon, 02 Nov 2026 07:00:00 GMT"}]))
    config = write_config(tmp_path, [{"url": f"http://127.0.0.1:{server.port}/a",
                                      "outlet": "Post"}], {"database": pg_url})
    for args, expected in ((["poll"], "1 new articles"), (["poll"], "0 new articles"),
                           (["poll", "--force"], "0 new articles")):
        done = subprocess.run([sys.executable, "-m", "aggregator", "--config", str(config), *args],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout, done.stdout
    assert len(server.requests) == 2  # the second poll found nothing due; --force polled anyway


def _three_pollers(poller: Any, config: Config) -> None:
    """Three ``poller`` processes at once (_worker or _stub_worker), each to its end."""
    moment = datetime(2026, 11, 2, 8, 0, tzinfo=UTC).isoformat()
    procs = [SPAWN.Process(target=poller, args=(config, moment)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0


class _AtOnce:
    """Counts the requests a behaviour serves at once (the most of them, ``most``) and in all
    (``served``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = self.served = 0

    def slow(self, answer: Any, seconds: float) -> Any:
        """``answer``, ``seconds`` late, counted."""

        def fn(h: Any) -> None:
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
            try:
                time.sleep(seconds)
                answer(h)
            finally:
                with self.lock:
                    self.now -= 1
                    self.served += 1

        return fn


def test_a_claim_outlasts_its_hosts_queue(pg_url: str, server: FeedServer, tmp_path: Path) -> None:
    """Another poller holds the one place of the feeds' host (per_host = 1) longer than a
    claim's lease (8 s with these timeouts). A worker on the real clock renews the claims of its
    feeds while they wait, so a poller claiming after the first lease's end finds none of them
    due, and each is fetched once."""
    feeds = []
    for i in range(2):
        server.routes[f"/{i}"] = respond(rss([
            {"title": f"Item {i}", "guid": f"g{i}", "link": f"https://example.org/{i}"}]))
        feeds.append({"url": f"http://127.0.0.1:{server.port}/{i}", "outlet": f"Outlet {i}"})
    config = load_config(write_config(tmp_path, feeds, {"database": pg_url, "per_host": 1,
                                                         "timeout": 1, "parse_timeout": 1}))
    lease = lease_for(config)
    assert lease == timedelta(seconds=8)
    reports: list[Any] = []
    polling = threading.Thread(target=lambda: reports.append(run_worker(config, PollOptions())))
    other = open_db(pg_url)
    assert take_host_slot(other, "127.0.0.1", 1, ()) == 0
    polling.start()
    try:
        time.sleep(lease.total_seconds() + 1)
        found = claim_due(other, datetime.now(UTC), lease, 10)
    finally:
        release_host_slot(other, "127.0.0.1", 0)
        polling.join(60)
        other.close()
    assert found == []  # the first lease's end has passed: renewed, the claims still hold
    assert sorted(o.url for o in reports[0].outcomes) == sorted(f["url"] for f in feeds)
    assert Counter(path for path, _ in server.requests) == {"/0": 1, "/1": 1}


def test_hosts_have_places_of_their_own(pg_url: str) -> None:
    """Two hosts never share their places, even hosts whose names have the same CRC-32: with
    one place each, two pollers hold one of each at once; a poller holding a host's every place
    keeps the others out until it lets one go."""
    one, two = open_db(pg_url), open_db(pg_url)
    try:
        assert zlib.crc32(b"plumless") == zlib.crc32(b"buckeroo")
        assert take_host_slot(one, "plumless", 1, ()) == 0
        assert take_host_slot(two, "buckeroo", 1, ()) == 0
        assert take_host_slot(two, "plumless", 1, ()) is None
        held: list[int] = []
        for _ in range(64):
            held.append(take_host_slot(one, "h1.test", 64, held))  # type: ignore[arg-type]
        assert sorted(held) == list(range(64))
        assert take_host_slot(two, "h1.test", 64, ()) is None
        release_host_slot(one, "h1.test", 63)
        assert take_host_slot(two, "h1.test", 64, ()) == 63
    finally:
        one.close()
        two.close()


def test_a_poller_lets_go_of_each_place_it_is_done_with(pg_url: str) -> None:
    """A poller holding some of a host's places takes another and lets each go: another poller
    can then take every place. A place's lock is re-entrant; once psycopg had prepared the
    statement, PostgreSQL's plan tried the lock before it left out the places held, stacking a
    second lock on a held place, which its one release left held for as long as the poller
    ran."""
    one, other = open_db(pg_url), open_db(pg_url)
    try:
        for _ in range(30):
            held: list[int] = []
            for _ in range(3):
                held.append(take_host_slot(one, "h1.test", 4, held))  # type: ignore[arg-type]
            assert None not in held  # the others are free
            for place in held:
                release_host_slot(one, "h1.test", place)
            taken: list[int] = []
            for _ in range(4):
                taken.append(take_host_slot(other, "h1.test", 4, taken))  # type: ignore[arg-type]
            assert sorted(taken) == [0, 1, 2, 3]
            for place in taken:
                release_host_slot(other, "h1.test", place)
    finally:
        one.close()
        other.close()


def test_a_pollers_fetches_at_a_host_take_its_places_in_turn(
        pg_url: str, server: FeedServer, tmp_path: Path) -> None:
    """Eight feeds of one host with one place (per_host = 1), due one after another, answering
    in 0.3 s: a worker fetches them in the order they were due. A fetch waiting for the place
    is served before one that came after it, where a feed claimed later could take the place
    while the waiting one slept between its tries."""
    feeds = []
    for i in range(8):
        server.routes[f"/f{i}"] = _slow(rss([
            {"title": f"Item {i}", "guid": f"g{i}", "link": f"https://example.org/{i}"}]), 0.3)
        feeds.append({"url": f"http://127.0.0.1:{server.port}/f{i}", "outlet": f"Outlet {i}"})
    config = load_config(write_config(tmp_path, feeds, {"database": pg_url, "per_host": 1}))
    db = open_db(pg_url)
    try:
        sync_feeds(db, config.feeds)
        for i, f in enumerate(feeds):
            db.execute("UPDATE feeds SET next_due = ? WHERE url = ?",
                       (iso(datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=i)), f["url"]))
    finally:
        db.close()
    run_worker(config, PollOptions())
    assert [path for path, _ in server.requests] == [f"/f{i}" for i in range(8)]


def test_a_busy_hosts_feeds_leave_a_pollers_other_slots_free(
        pg_url: str, server: FeedServer, tmp_path: Path) -> None:
    """Three feeds of one host answering in 3 s each, due first, then twelve of other hosts;
    per_host = 1 and three slots. A poller claims at most two feeds of a host a place, so the
    busy host's third stays unclaimed and the other hosts' feeds are all polled while its first
    is fetched. Claimed by due time alone, its three feeds took all three slots."""
    config = load_config(write_config(tmp_path, busy_host_feeds(server, 3.0),
                                      {"database": pg_url, "per_host": 1, "concurrency": 3}))
    db = open_db(pg_url)
    try:
        sync_feeds(db, config.feeds)
        db.execute("UPDATE feeds SET next_due = CASE WHEN url LIKE '%//h1.test:%' "
                   "THEN '2026-11-01T00:00:00+00:00' ELSE '2026-11-01T00:01:00+00:00' END")
    finally:
        db.close()
    report = run_worker(config, PollOptions(resolve=stub_resolve))
    assert len(report.outcomes) == 15 and all(o.ok for o in report.outcomes)
    assert others_fetched_beside_busy_host(server)


def _worker_thread(pg_url: str, config: Config, stop: threading.Event,
                   idle: float) -> threading.Thread:
    """A worker polling ``config``'s feeds on its own connection until ``stop`` is set, looking
    for due feeds every ``idle`` seconds; started."""

    def worker() -> None:
        own = open_db(pg_url)
        try:
            options = WorkOptions(lease_for(config), until_idle=False, idle=idle, stop=stop)
            asyncio.run(work(own, config, PollOptions(), options))
        finally:
            own.close()

    polling = threading.Thread(target=worker)
    polling.start()
    return polling


def test_a_stopped_worker_gives_back_the_feeds_it_had_not_polled(
        pg_url: str, server: FeedServer, tmp_path: Path) -> None:
    """A worker stopped (SIGTERM sets its stop) while three feeds' answers are late gives their
    claims back: they are due at once for another poller, not when their leases end (40 s
    here). The feed it had polled keeps its real next time."""
    server.routes["/done"] = respond(rss([{"title": "Done", "guid": "d",
                                           "link": "https://example.org/d"}]))
    late = [f"http://127.0.0.1:{server.port}/late{i}" for i in range(3)]
    for i in range(3):
        server.routes[f"/late{i}"] = _slow(rss([{"title": f"Late {i}", "guid": f"l{i}",
                                                 "link": f"https://example.org/l{i}"}]), 5)
    feeds = [{"url": u, "outlet": f"Outlet {i}"} for i, u in enumerate(late)]
    feeds.append({"url": f"http://127.0.0.1:{server.port}/done", "outlet": "Done"})
    config = load_config(write_config(tmp_path, feeds, {"database": pg_url}))
    stop = threading.Event()
    polling = _worker_thread(pg_url, config, stop, idle=0.2)
    db = open_db(pg_url)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
                len(server.requests) == 4 and db.execute(
                    "SELECT last_success FROM feeds WHERE url LIKE '%/done'").fetchone()[0]):
            time.sleep(0.05)
        stop.set()
        polling.join(60)
        assert not polling.is_alive()
        now = datetime.now(UTC)
        assert [s.url for s in claim_due(db, now, lease_for(config), 10)] == sorted(late)
    finally:
        db.close()


def test_a_worker_stops_at_once_while_its_polls_wait(
        pg_url: str, server: FeedServer, tmp_path: Path) -> None:
    """A stop (SIGTERM sets it) ends a worker whose polls wait for a late answer at its next
    look at the stop, not when a poll ends or its idle time (60 s here) runs out: a service
    manager's restart does not wait for the slowest feed."""
    server.routes["/late"] = _slow(rss([{"title": "Late", "guid": "l",
                                         "link": "https://example.org/l"}]), 30)
    feeds = [{"url": f"http://127.0.0.1:{server.port}/late", "outlet": "Late"}]
    config = load_config(write_config(tmp_path, feeds, {"database": pg_url, "timeout": 40}))
    stop = threading.Event()
    polling = _worker_thread(pg_url, config, stop, idle=60)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not server.requests:
            time.sleep(0.05)
        assert server.requests
        stop.set()
        polling.join(10)  # before the answer (30 s) or the idle time (60 s) could wake it
        assert not polling.is_alive()
    finally:
        stop.set()
        polling.join()


def test_a_worker_says_so_when_its_clock_is_off_the_database_servers(
        pg_url: str, server: FeedServer, tmp_path: Path) -> None:
    """Claims are timed by each worker's clock: a worker whose clock is minutes off the
    database server's says so as it starts, one that agrees says only what it polls."""
    server.routes["/f"] = respond(rss([{"title": "F", "guid": "f", "link": "https://example.org/f"}]))
    feeds = [{"url": f"http://127.0.0.1:{server.port}/f", "outlet": "F"}]
    config = load_config(write_config(tmp_path, feeds, {"database": pg_url}))
    said: list[str] = []
    started = (f"worker: polling the feeds of {config.path} (1 listed) as they come due,"
               f" for {pg_url}")
    run_worker(config, PollOptions(), say=said.append)
    assert said == [started]
    for minutes, side in ((5, "ahead of"), (-5, "behind")):
        said.clear()
        moment = datetime.now(UTC) + timedelta(minutes=minutes)
        run_worker(config, PollOptions(now=lambda moment=moment: moment), say=said.append)
        assert len(said) == 2 and f"clock is 300 s {side} the database server's" in said[0]
        assert said[1] == started


def test_a_claim_takes_at_most_per_host_feeds_of_a_host(pg_url: str, tmp_path: Path) -> None:
    """Claims count a poller's feeds by host: of six due feeds of one host and three of others,
    a claim for five with two a host takes the first two of that host and the three others; a
    poller holding two of it already is given none of them."""
    feeds = [{"url": f"https://busy.example/{i}", "outlet": f"Busy {i}"} for i in range(6)]
    feeds += [{"url": f"https://other{i}.example/", "outlet": f"Other {i}"} for i in range(3)]
    config = load_config(write_config(tmp_path, feeds, {"database": pg_url}))
    now, lease = datetime(2026, 11, 2, 8, 0, tzinfo=UTC), timedelta(minutes=5)
    db = open_db(pg_url)
    try:
        sync_feeds(db, config.feeds)
        for i, f in enumerate(feeds):  # due in the order listed
            db.execute("UPDATE feeds SET next_due = ? WHERE url = ?",
                       (iso(now - timedelta(minutes=60 - i)), f["url"]))
        claimed = [s.url for s in claim_due(db, now, lease, 5, {}, 2)]
        assert claimed == sorted([feeds[0]["url"], feeds[1]["url"]]
                                 + [f["url"] for f in feeds[6:]])
        assert not claim_due(db, now, lease, 5, {"busy.example": 2}, 2)
        assert [s.url for s in claim_due(db, now, lease, 5, {"busy.example": 1}, 2)] == [
            feeds[2]["url"]]
    finally:
        db.close()


def test_per_host_holds_across_pollers(pg_url: str, server: FeedServer, tmp_path: Path) -> None:
    requests = _AtOnce()
    feeds = []
    for i in range(8):
        server.routes[f"/{i}"] = requests.slow(respond(rss([
            {"title": f"Item {i}", "guid": f"g{i}", "link": f"https://example.org/{i}"}])), 0.3)
        feeds.append({"url": f"http://127.0.0.1:{server.port}/{i}", "outlet": f"Outlet {i}"})
    # One feed at a time per poller: three pollers would have three requests in flight.
    config = load_config(write_config(tmp_path, feeds, {"database": pg_url, "per_host": 2,
                                                         "concurrency": 1}))
    _three_pollers(_worker, config)
    db = open_db(pg_url)
    (polled,) = db.execute("SELECT COUNT(*) FROM feeds WHERE last_success IS NOT NULL").fetchone()
    db.close()
    assert polled == 8
    assert requests.most == 2  # three pollers, one host, per_host = 2: never more than two at once


def _stub_worker(config: Config, moment: str) -> None:
    """A poller process as _worker, its host names resolved by the tests' stub resolver."""
    at = datetime.fromisoformat(moment)
    run_worker(config, PollOptions(now=lambda: at, resolve=stub_resolve))


# An article page whose text the extractor finds.
_PAGE = respond(b"<html><body><article><p>" + b"Text of the page. " * 40
                + b"</p></article></body></html>", content_type="text/html")


def _page_texts_of_three_pollers(
        pg_url: str, tmp_path: Path, feeds: list[dict[str, Any]], concurrency: int) -> int:
    """How many page texts three pollers store, polling ``feeds`` ``concurrency`` at a time
    each, with per_host = 1."""
    config = load_config(write_config(tmp_path, feeds, {"database": pg_url, "per_host": 1,
                                                         "concurrency": concurrency}))
    _three_pollers(_stub_worker, config)
    db = open_db(pg_url)
    try:
        (texts,) = db.execute(
            "SELECT COUNT(*) FROM articles WHERE fulltext LIKE '%Text of the page%'").fetchone()
    finally:
        db.close()
    return int(texts)


def test_per_host_holds_across_pollers_for_full_text_pages(
        pg_url: str, server: FeedServer, tmp_path: Path) -> None:
    """Full-text feeds of six hosts, every article page at a seventh: three pollers fetch the
    feeds six at a time and never two pages of that host at once (per_host = 1)."""
    pages = _AtOnce()
    page = pages.slow(_PAGE, 0.2)
    feeds = []
    for i in range(1, 7):
        server.routes[f"/feed{i}"] = respond(rss([
            {"title": f"Item {i}-{j}", "guid": f"g{i}-{j}",
             "link": f"http://h0.test:{server.port}/page{i}-{j}"} for j in range(2)]))
        for j in range(2):
            server.routes[f"/page{i}-{j}"] = page
        feeds.append({"url": f"http://h{i}.test:{server.port}/feed{i}", "outlet": f"Outlet {i}",
                      "fulltext": True})
    texts = _page_texts_of_three_pollers(pg_url, tmp_path, feeds, concurrency=2)
    assert pages.served == texts == 12
    assert pages.most == 1  # one page of h0.test at a time, whichever poller fetches it


def test_pollers_whose_pages_are_at_each_others_hosts_do_not_wait_on_each_other(
        pg_url: str, server: FeedServer, tmp_path: Path) -> None:
    """Feed A at host h1.test has its pages at h2.test, and feed B at h2.test its pages at
    h1.test; per_host = 1. Two pollers that each held their feed's host for the whole poll
    would wait for each other until the page deadline and store no text. A fetch holds its host
    only for itself: every text is stored, and neither host ever serves two requests at once."""
    host = {"a": "h1.test", "b": "h2.test"}
    at_host = {"a": _AtOnce(), "b": _AtOnce()}
    feeds = []
    for feed, pages in (("a", "b"), ("b", "a")):
        server.routes[f"/feed-{feed}"] = at_host[feed].slow(respond(rss([
            {"title": f"Item {feed}{j}", "guid": f"{feed}{j}",
             "link": f"http://{host[pages]}:{server.port}/page-{feed}{j}"} for j in range(3)])),
            0.5)
        for j in range(3):
            server.routes[f"/page-{feed}{j}"] = at_host[pages].slow(_PAGE, 0.2)
        feeds.append({"url": f"http://{host[feed]}:{server.port}/feed-{feed}",
                      "outlet": f"Outlet {feed}", "fulltext": True})
    assert _page_texts_of_three_pollers(pg_url, tmp_path, feeds, concurrency=1) == 6
    assert [h.most for h in at_host.values()] == [1, 1]
    assert [h.served for h in at_host.values()] == [4, 4]  # its feed and the other's 3 pages


def test_every_reading_command_works_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    import json

    with SnapshotServer() as server:
        config = _on(load_config(write_demo_config(tmp_path, server.port)), pg_url)
        _replay(server, config, pollers=1)
    env = {**os.environ, "AGGREGATOR_DATABASE_URL": pg_url}

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "aggregator", "--config", str(config.path),
                               *args], capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout

    health = json.loads(run("feeds", "--json"))
    assert len(health) == 5 and all(f["ok"] for f in health)
    stories = json.loads(run("clusters", "--json", "--since", "2000-01-01", "--min-outlets", "2"))
    assert stories
    assert stories[0]["title"] in run("clusters", "--explain", stories[0]["id"])
    assert "site built in" in run("build")
    assert (tmp_path / "site" / "index.html").is_file()
    # The replay's stories are of 2025: by the wall clock none is new since yesterday.
    assert "no new or updated stories since" in run("email", "--dry-run")
    assert run("feeds", "export").count("<outline") == 5


def test_a_worker_that_loses_its_server_says_so_in_one_line(
        pg_url: str, server: FeedServer, tmp_path: Path) -> None:
    server.routes["/a"] = respond(rss([{"title": "One item", "guid": "a",
                                        "link": "https://example.org/a"}]))
    config = write_config(tmp_path, [{"url": f"http://127.0.0.1:{server.port}/a",
                                      "outlet": "Post"}], {"database": pg_url})
    worker = subprocess.Popen([sys.executable, "-m", "aggregator", "--config", str(config),
                               "worker"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        db = open_db(pg_url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            (done,) = db.execute("SELECT COUNT(*) FROM feeds WHERE last_success IS NOT NULL").fetchone()
            if done:
                break
            time.sleep(0.1)
        assert done == 1
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        db.close()
        _, err = worker.communicate(timeout=60)  # its next look for due feeds fails
    finally:
        worker.kill()
        worker.wait()
    assert worker.returncode == 1
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "***" not in err and "postgres" in err


def test_a_following_clusterer_that_loses_its_server_says_why_in_one_line(
        pg_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, [{"url": "http://127.0.0.1:9/a", "outlet": "Post"}],
                          {"database": pg_url})
    clusterer = subprocess.Popen([sys.executable, "-m", "aggregator", "--config", str(config),
                                  "cluster", "--follow"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    try:
        assert clusterer.stdout is not None
        assert "holding the lock" in clusterer.stdout.readline()
        db = open_db(pg_url)
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        db.close()
        _, err = clusterer.communicate(timeout=60)  # waiting for work, it hears the end
    finally:
        clusterer.kill()
        clusterer.wait()
    assert clusterer.returncode == 1  # for its supervisor to start it again
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    # What ended it, not what releasing the lock on the closed connection said after.
    assert "lost the connection: " in err and "the connection is closed" not in err, err


def _settings(db: Database, *names: str) -> list[str]:
    return [db.execute("SELECT current_setting(?)", (name,)).fetchone()[0] for name in names]


def test_both_ends_of_a_connection_notice_the_other_gone_within_half_a_minute(
        pg_url: str) -> None:
    # A session's advisory locks (the clusterer's, a worker's places at a host) end only when
    # the server notices its client gone: by the session's keepalives, not the system's.
    from aggregator.store.postgres import KEEPALIVE_COUNT, KEEPALIVE_IDLE, KEEPALIVE_INTERVAL

    db = open_db(pg_url)
    try:
        server = _settings(db, "tcp_keepalives_idle", "tcp_keepalives_interval",
                           "tcp_keepalives_count")
        client = db.conn.info.get_parameters()  # type: ignore[union-attr]
    finally:
        db.close()
    assert server == [str(KEEPALIVE_IDLE), str(KEEPALIVE_INTERVAL), str(KEEPALIVE_COUNT)]
    assert KEEPALIVE_IDLE + KEEPALIVE_INTERVAL * KEEPALIVE_COUNT <= 30
    assert (client["keepalives"], client["keepalives_idle"]) == ("1", f"{KEEPALIVE_IDLE}")


def test_the_urls_own_options_and_keepalives_are_kept(pg_url: str) -> None:
    url = f"{pg_url}?options=-c%20statement_timeout%3D7000%20-c%20tcp_keepalives_idle%3D40"
    db = open_db(url + "&keepalives_idle=50")
    try:
        assert _settings(db, "statement_timeout", "tcp_keepalives_idle",
                         "tcp_keepalives_count") == ["7s", "40", "3"]
        assert db.conn.info.get_parameters()["keepalives_idle"] == "50"  # type: ignore[union-attr]
        assert _settings(db, "application_name") == ["aggregator"]  # a session's role
    finally:
        db.close()
    db = open_db(url + "&application_name=mine", role="aggregator worker")
    try:
        assert _settings(db, "application_name") == ["mine"]  # the URL's own name
    finally:
        db.close()


def test_a_running_worker_gives_an_unchanged_feed_its_real_next_time(
        pg_url: str, server: FeedServer, tmp_path: Path) -> None:
    _fast_and_slow(server, 6.0)  # /b keeps the worker busy while /a, unchanged, is answered
    config = load_config(write_config(tmp_path, [
        {"url": f"http://127.0.0.1:{server.port}/{f}", "outlet": f, "interval": 60}
        for f in ("a", "b")], {"database": pg_url}))
    first = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    run_worker(config, PollOptions(now=lambda: first))
    later = first + timedelta(hours=2)
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(config, PollOptions(now=lambda: later)),
                              kwargs={"until_idle": False, "stop": stop})
    worker.start()
    try:
        db = open_db(pg_url)
        deadline = time.monotonic() + 5  # while /b is still in flight
        while time.monotonic() < deadline:
            (polled, due) = db.execute(
                "SELECT last_polled, next_due FROM feeds WHERE outlet = 'a'").fetchone()
            if polled == "2026-11-02T10:00:00Z" and due == "2026-11-02T11:00:00Z":
                break
            time.sleep(0.1)
        db.close()
        # Answered 304, and recorded while the worker runs on: due in its interval, not at the
        # end of its claim's lease.
        assert (polled, due) == ("2026-11-02T10:00:00Z", "2026-11-02T11:00:00Z")
        assert worker.is_alive()
    finally:
        stop.set()
        worker.join(30)


def test_a_worker_running_on_keeps_one_outcome_per_feed_not_one_per_poll(
        pg_url: str, server: FeedServer, tmp_path: Path) -> None:
    urls = [f"http://127.0.0.1:{server.port}/{f}" for f in ("a", "b")]
    for f in ("a", "b"):
        server.routes[f"/{f}"] = respond(rss([{"title": f"Item {f}", "guid": f,
                                               "link": f"https://example.org/{f}"}]))
    config = load_config(write_config(tmp_path, [{"url": u, "outlet": u[-1]} for u in urls],
                                      {"database": pg_url}))
    start, hours = datetime(2026, 11, 2, tzinfo=UTC), itertools.count()
    stop, polled = threading.Event(), []

    def progress(o: Any, done: int, total: int) -> None:
        polled.append(o.url)
        if done >= 20:
            stop.set()

    # An hour passes at each look at the clock: both feeds are due again at every claim.
    report = run_worker(config, PollOptions(now=lambda: start + timedelta(hours=next(hours))),
                        until_idle=False, stop=stop, progress=progress)
    assert len(polled) >= 20 and sorted(set(polled)) == urls
    assert sorted(o.url for o in report.outcomes) == urls
    assert (report.ok, report.failed, report.new_articles) == (2, 0, 2)


def test_a_running_worker_says_what_its_polls_did_every_few_minutes(
        pg_url: str, server: FeedServer, tmp_path: Path) -> None:
    # /b done 3 s after the others (within the 5 s fetch deadline): the report is due 2.4 s
    # after the first poll, and printed as the next one ends.
    _fast_and_slow(server, 3.0)
    config = write_config(tmp_path, [{"url": f"http://127.0.0.1:{server.port}/{f}",
                                      "outlet": f} for f in ("a", "b", "c")],
                          {"database": pg_url})  # /c answers 404
    worker = subprocess.Popen([sys.executable, "-m", "aggregator", "--config", str(config),
                               "worker", "--report-every", "0.04"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None
        started = worker.stdout.readline()
        assert select.select([worker.stdout], [], [], 30)[0], "no report within 30 s"
        line = worker.stdout.readline()
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    finally:
        worker.kill()
        worker.wait()
    assert started == (f"worker: polling the feeds of {config} (3 listed) as they come due,"
                       f" for {pg_url}\n")
    assert line.startswith("worker: in the last 0.04 min: 2 feeds ok, 1 failed, 2 new articles; "
                           "failed: http_4xx x1 (HTTP 404)"), line
    assert worker.returncode == 0 and out.startswith("worker: "), (out, err)


def test_a_restarted_clusterer_finds_a_copy_of_a_window_article_on_both_backends(
        pg_url: str, tmp_path: Path) -> None:
    """The window keeps no copy signatures: a copy lookup reads them from the store. A wire
    text republished after a restart is recorded as a copy of the window article it repeats,
    on PostgreSQL as on SQLite."""
    from aggregator.matching.clusterer import Clusterer
    from aggregator.model import Article, FeedUpdate
    from aggregator.store.clustering import ClusterState
    from aggregator.store.feeds import save_success

    wire = ("The central bank raised its main interest rate by a quarter point on Thursday, "
            "citing persistent inflation in services and a tight labour market, and said "
            "further increases could follow if price pressures did not ease by the spring.")
    t0 = datetime(2026, 11, 3, 9, tzinfo=UTC)
    found = []
    for database in (str(tmp_path / "lite.db"), pg_url):
        db = open_db(database)
        feeds = [FeedConfig(url=f"https://o{i}.example/rss", outlet=f"Outlet {i}") for i in range(3)]
        sync_feeds(db, feeds)
        items = [(0, Article("rate", "https://o0.example/rate", "Bank raises rates", wire, "", "",
                             t0, "", "en")),
                 (1, Article("quake", "https://o1.example/quake", "Quake in Chile",
                             "A strong earthquake shook central Chile on Thursday.", "", "",
                             t0, "", "en")),
                 (2, Article("rate-copy", "https://o2.example/r", "Central bank lifts rates", wire,
                             "", "", t0 + timedelta(hours=2), "", "en"))]
        for n, (o, a) in enumerate(items):
            save_success(db, FeedUpdate(feeds[o].url, 200, a.published, a.published, None, None,
                                        None, None, None, None, 0), feeds[o].outlet, [a])
            if n == 1:
                Clusterer(ClusterState(db), 72).run()  # the first two, then a restart
        Clusterer(ClusterState(db), 72).run()
        found.append(sorted(db.execute(
            "SELECT a.key, s.key FROM copies c JOIN articles a ON a.id = c.article_id "
            "JOIN articles s ON s.id = c.source_id").fetchall()))
        db.close()
    assert found[0] == [("rate-copy", "rate")]
    assert [tuple(r) for r in found[1]] == found[0]


def test_feeds_samples_are_read_alike_on_both_backends(pg_url: str, tmp_path: Path) -> None:
    """A batch's samples of its feeds' earlier articles: one statement for every feed on
    PostgreSQL, a feed at a time on SQLite; the same articles in the same order, as line hashes
    where the store keeps them and as text where it does not."""
    from aggregator.matching.clusterer import Clusterer
    from aggregator.model import Article, FeedUpdate
    from aggregator.store.clustering import ClusterState
    from aggregator.store.feeds import save_success

    t0 = datetime(2026, 11, 3, 9, tzinfo=UTC)
    feeds = [FeedConfig(url=f"https://o{i}.example/rss", outlet=f"Outlet {i}") for i in range(4)]
    found = []
    for database in (str(tmp_path / "lite.db"), pg_url):
        db = open_db(database)
        sync_feeds(db, feeds)
        # Four articles a minute: the key orders those of a minute. Odd keys come after the
        # clusterer's run.
        for batch in (range(0, 12, 2), range(1, 12, 2)):
            for o, feed in enumerate(feeds[:3]):
                save_success(db, FeedUpdate(feed.url, 200, t0, t0, None, None, None, None, None,
                                            None, 0), feed.outlet,
                             [Article(f"k{i:02}", f"https://o{o}.example/{i}", f"Title {o} {i}",
                                      f"Line {i} of feed {o}.\nShare this.", "", "",
                                      t0 + timedelta(minutes=i // 4), "", "en") for i in batch])
            if batch.start == 0:
                Clusterer(ClusterState(db), 72).run()
        firsts = [(iso(t0 + timedelta(hours=1)), feeds[0].url, "k00"),
                  (iso(t0 + timedelta(minutes=2)), feeds[1].url, "k09"),
                  (iso(t0), feeds[2].url, "k03"),
                  (iso(t0 + timedelta(hours=1)), feeds[3].url, "k00"),
                  (iso(t0 + timedelta(minutes=2)), feeds[1].url, "k09")]
        found.append(ClusterState(db).preceding_lines(firsts, 5))
        assert ClusterState(db).preceding_lines([], 5) == []
        db.close()
    lite, postgresql = found
    assert [[type(x).__name__ for x in s] for s in lite] == [
        ["str", "bytes", "str", "bytes", "str"], ["bytes", "str", "bytes", "str", "bytes"],
        ["bytes", "str", "bytes"], [], ["bytes", "str", "bytes", "str", "bytes"]]
    assert lite[0][0] == "Line 11 of feed 0.\nShare this.\n"
    assert lite[1][1] == "Line 7 of feed 1.\nShare this.\n"
    assert postgresql == lite


def test_a_partitions_batch_is_written_while_anothers_is_being_written(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every partition's clusterer adds to the same term statistics and article count. A batch
    writes those rows last, so another partition's batch is written in the meantime rather
    than waiting for the first one's whole transaction."""
    import gc

    from aggregator.matching.clusterer import Clusterer
    from aggregator.model import Article, FeedUpdate
    from aggregator.store import clustering
    from aggregator.store.clustering import ClusterState
    from aggregator.store.feeds import save_success

    t0 = datetime(2026, 11, 3, 9, tzinfo=UTC)
    feeds = [FeedConfig(url="https://en.example/rss", outlet="Post", language="en"),
             FeedConfig(url="https://fr.example/rss", outlet="Monde", language="fr")]
    db = open_db(pg_url)
    sync_feeds(db, feeds)
    for feed in feeds:
        save_success(db, FeedUpdate(feed.url, 200, t0, t0, None, None, None, None, None, None, 0),
                     feed.outlet, [Article(f"k{i}", f"{feed.url}/{i}", f"Macron visit {i}",
                                           f"Macron spoke in Lyon about item {i}.", "", "",
                                           t0 + timedelta(minutes=i), "", feed.language)
                                   for i in range(3)])
    in_english, go_on = threading.Event(), threading.Event()
    refresh = clustering._refresh_stories

    def held_in_english(db: Database, touched: list[str]) -> dict[str, str]:
        if threading.current_thread().name == "en":  # its batch's transaction stays open
            in_english.set()
            go_on.wait(120)
        return refresh(db, touched)

    def cluster(language: str) -> None:
        own = open_db(pg_url)
        Clusterer(ClusterState(own, language), 72).run()
        own.close()

    monkeypatch.setattr(clustering, "_refresh_stories", held_in_english)
    collecting = gc.isenabled()  # the clusterer pauses it, and two threads here restore it
    english = threading.Thread(target=cluster, args=("en",), name="en")
    french = threading.Thread(target=cluster, args=("fr",), name="fr")
    try:
        english.start()
        assert in_english.wait(60)
        french.start()
        french.join(30)
        written_meanwhile = not french.is_alive()
    finally:
        go_on.set()
        english.join(60)
        french.join(60)
        if collecting:
            gc.enable()
    assert written_meanwhile
    assert ClusterState(db).n_docs() == 6
    assert ClusterState(db).df(["macron", "lyon"]) == {"macron": 6, "lyon": 6}
    assert db.execute("SELECT count(*) FROM story_links").fetchone()[0] == 6
    db.close()


def test_term_statistics_are_read_alike_on_both_backends(pg_url: str, tmp_path: Path) -> None:
    # A clusterer reads the statistics of the terms it meets, thousands in one statement.
    from aggregator.store.clustering import ClusterState, _count_terms

    odd = ["#o'neil", "zürich", 'say "no"', "a,b", "[x]", "ümlaut\\", "@2013"]
    stored = {**{f"t{i}": i % 7 + 1 for i in range(3000)}, **{t: 2 for t in odd}}
    asked = [*stored, "missing", "t1 ", "T1"]
    found = []
    for database in (str(tmp_path / "lite.db"), pg_url):
        db = open_db(database)
        with db.transaction():
            _count_terms(db, stored)
        found.append(ClusterState(db).df(asked))
        db.close()
    assert found[0] == found[1] == stored


def test_a_large_result_is_streamed_from_the_server_a_part_at_a_time(
        pg_url: str, tmp_path: Path) -> None:
    """A clusterer reads its window (millions of articles) row by row. psycopg's plain cursor
    takes a whole result at once (346 MiB at the peak of bench_memory's 50,000-article window,
    against 146 MiB streamed); ``stream`` reads through a server-side cursor, gives the same
    rows as SQLite, and leaves the connection as it was, read to the end or not."""
    from aggregator.store.postgres import STREAM_ROWS

    total = 3 * STREAM_ROWS + 7
    query = "SELECT g, 'row ' || g FROM generate_series(1, ?) AS g ORDER BY g"
    lite = open_db(str(tmp_path / "lite.db"))
    lite.execute("CREATE TABLE series (g INTEGER)")
    lite.executemany("INSERT INTO series VALUES (?)", [(g,) for g in range(1, total + 1)])
    expected = [tuple(r) for r in lite.stream(
        "SELECT g, 'row ' || g FROM series WHERE g <= ? ORDER BY g", (total,))]
    lite.close()

    db = open_db(pg_url)
    other = open_db(pg_url)
    try:
        rows = db.stream(query, (total,))
        first = next(rows)
        held = db.execute("SELECT statement FROM pg_cursors WHERE name = 'aggregator_stream'")
        assert "generate_series" in held.fetchone()[0]  # the result stays on the server
        assert [tuple(first), *(tuple(r) for r in rows)] == expected
        # Read to the end, or let go half way: the connection is back in autocommit, its
        # cursor gone, and what it writes next is seen at once by another.
        for stop_after in (None, 5):
            rows = db.stream(query, (total,))
            for n, _ in enumerate(rows):
                if n == stop_after:
                    rows.close()
                    break
            assert db.execute("SELECT count(*) FROM pg_cursors").fetchone()[0] == 0
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                       "SET value = excluded.value", ("streamed", str(stop_after)))
            seen = other.execute("SELECT value FROM meta WHERE key = 'streamed'").fetchone()
            assert seen[0] == str(stop_after)
    finally:
        db.close()
        other.close()


def test_a_watchdog_hears_each_service_alive_and_a_hung_one_go_silent(
        pg_url: str, tmp_path: Path) -> None:
    """Under systemd with WatchdogSec=, a clusterer holding the lock, its standby and a worker
    each say they are alive while they work or wait; a clusterer that hangs (stopped here with
    SIGSTOP: its machine still answers, so its lock lives on) goes silent, which is when systemd
    kills it and its standby takes over."""
    sockets = {name: NotifySocket(tmp_path / name) for name in ("holder", "standby", "worker")}
    started: dict[str, _Lines] = {}

    def service(name: str, config: Config, *args: str) -> _Lines:
        command = [sys.executable, "-m", "aggregator", "--config", str(config.path), *args]
        env = {**os.environ, "AGGREGATOR_DATABASE_URL": pg_url,
               "NOTIFY_SOCKET": sockets[name].where, "WATCHDOG_USEC": "1000000"}
        started[name] = _Lines(subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                                text=True))
        return started[name]

    with SnapshotServer() as server:
        config = _on(load_config(write_demo_config(tmp_path, server.port)), pg_url)
        snap = SNAPSHOTS[0]
        server.load(snap, _moment(snap.name))
        try:
            service("holder", config, "cluster", "--follow").wait_for("holding the lock")
            service("standby", config, "cluster", "--follow").wait_for("standby")
            service("worker", config, "worker")
            started["holder"].wait_for("articles clustered", timeout=120)
            heard = {name: s.heard(wait=5) for name, s in sockets.items()}
            time.sleep(3)
            for name, s in sockets.items():
                heard[name] += s.heard()
            assert heard["holder"][:2] == ["READY=1", "STATUS=clustering: holding the lock"]
            assert heard["standby"][:2] == [
                "READY=1", "STATUS=standby: another clusterer holds the lock; waiting to take over"]
            assert heard["worker"][0] == "READY=1"
            for name, said in heard.items():
                assert said.count("WATCHDOG=1") >= 3, (name, said)  # 3 s, 1 s a watchdog interval

            holder = started["holder"].proc
            holder.send_signal(signal.SIGSTOP)
            sockets["holder"].heard(wait=0.5)
            time.sleep(3)
            assert sockets["holder"].heard() == []
            assert sockets["standby"].heard().count("WATCHDOG=1") >= 2
            holder.send_signal(signal.SIGCONT)
            assert "WATCHDOG=1" in sockets["holder"].heard(wait=3)

            for name, lines in started.items():
                lines.proc.send_signal(signal.SIGTERM)
                assert lines.proc.wait(30) == 0, name
                assert sockets[name].heard(wait=1)[-1] == "STOPPING=1", name
        finally:
            for lines in started.values():
                lines.end()
            for s in sockets.values():
                s.close()


def test_a_feeds_articles_waiting_for_text_are_found_without_reading_every_story_link(
        pg_url: str) -> None:
    """Each poll of a full-text feed looks for its articles still waiting for their page's text.
    Written with NOT IN, PostgreSQL read and hashed every story link of the archive for it (2.3
    to 2.6 s with 300,000, against 33-37 ms with NOT EXISTS)."""
    from aggregator.store.feeds import awaiting_text

    db = open_db(pg_url)
    sync_feeds(db, [FeedConfig(url="https://a.example/rss", outlet="A"),
                    FeedConfig(url="https://b.example/rss", outlet="B")])
    columns = ("feed_url, key, outlet, title, summary, content_html, author, published_raw, "
               "first_seen, sort_time, content_hash, updated, fulltext")
    db.execute(f"INSERT INTO articles ({columns}) SELECT 'https://a.example/rss', 'a' || g, 'A',"
               " 't', 's', '', '', '', '2026-11-01', '2026-11-01', 'h', '2026-11-01', 'text'"
               " FROM generate_series(1, 100000) AS g")
    db.execute(f"INSERT INTO articles ({columns}) SELECT 'https://b.example/rss', 'b' || g, 'B',"
               " 't', 's', '', '', '', '2026-11-02', '2026-11-02', 'h', '2026-11-02', NULL"
               " FROM generate_series(1, 4) AS g")
    db.execute("INSERT INTO story_links (article_id, story_id, kind, score, shared_terms, linked_at)"
               " SELECT id, 's' || id, 'new', 0, '', '' FROM articles WHERE key <> 'b1'"
               " AND key <> 'b2'")
    db.execute("INSERT INTO cluster_pending (article_id) SELECT id FROM articles WHERE key = 'b2'")
    db.execute("ANALYZE")
    with db.transaction():
        waiting = awaiting_text(db, "https://b.example/rss")
        (scans,) = db.execute("SELECT seq_scan FROM pg_stat_xact_user_tables"
                              " WHERE relname = 'story_links'").fetchone()
    db.close()
    assert [w.key for w in waiting] == ["b1"]
    assert scans == 0  # the links of the feed's four articles looked up, no more
