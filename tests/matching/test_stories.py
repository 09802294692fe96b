"""Determinism and stability of story ids: same input, shuffled batches, restarts, merges,
splits."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_scoring import held

from aggregator.cli import main
from aggregator.matching import clusterer as clusterer_module
from aggregator.matching.articles import Doc
from aggregator.matching.clusterer import Clusterer
from aggregator.matching.similarity import expanded
from aggregator.matching.stories import Decision, assign, story_id_for
from aggregator.model import Article, Assignment, FeedConfig, FeedUpdate, Link, StoredSketch
from aggregator.store import Database, open_db
from aggregator.store import clustering as st
from aggregator.store.clustering import ClusterState
from aggregator.store.feeds import save_success, sync_feeds

EVENTS = [
    ("Sumatra earthquake", "magnitude 6.8 earthquake Sumatra Padang tsunami warning geological survey"),
    ("Rotterdam port strike", "dockers strike Rotterdam port wages union shipping containers"),
    ("Bavaria floods", "floods Bavaria rain schools closed rivers Danube evacuations"),
    ("Chile wildfire", "wildfire Valparaiso Chile homes burned firefighters evacuated hills"),
    ("Senate climate bill", "Senate passes Inflation Reduction Act climate tax party-line vote"),
]
OUTLETS = [f"Outlet {i}" for i in range(4)]


def articles(seed: int = 0) -> list[tuple[int, Article]]:
    rng = random.Random(seed)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    out = []
    for e, (title, words) in enumerate(EVENTS):
        for o in range(len(OUTLETS)):
            w = words.split()
            rng.shuffle(w)
            when = t0 + timedelta(hours=e, minutes=o * 7)
            out.append((o, Article(f"e{e}-o{o}", f"https://o{o}.example/{e}", f"{title}: report {o}",
                                   " ".join(w) + f" said outlet {o} correspondent.", "", "", when,
                                   "", "en")))
    return out


def save(db: Database, items: list[tuple[int, Article]]) -> Iterator[None]:
    """Store the articles one at a time, yielding after each."""
    feeds = [FeedConfig(url=f"https://o{i}.example/rss", outlet=o) for i, o in enumerate(OUTLETS)]
    sync_feeds(db, feeds)
    for o, a in items:
        assert a.published
        save_success(db, FeedUpdate(feeds[o].url, 200, a.published, a.published, None, None, None,
                                    None, None, None, 0), OUTLETS[o], [a])
        yield


def load(db_path: Path, items: list[tuple[int, Article]], cluster_every: int | None = None) -> dict[str, str]:
    db = open_db(db_path)
    for n, _ in enumerate(save(db, items), start=1):
        if cluster_every and n % cluster_every == 0:
            Clusterer(ClusterState(db), 72).run()  # a fresh Clusterer each time: a restart
    Clusterer(ClusterState(db), 72).run()
    return {k: s for k, s in db.execute(
        "SELECT a.key, l.story_id FROM articles a JOIN story_links l ON l.article_id = a.id")}


def partition(assign: dict[str, str]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for k, s in assign.items():
        groups.setdefault(s, set()).add(k)
    return {frozenset(g) for g in groups.values()}


def test_same_input_twice_gives_identical_ids(tmp_path: Path) -> None:
    a = load(tmp_path / "a.db", articles())
    b = load(tmp_path / "b.db", articles())
    assert a == b
    assert len(partition(a)) == len(EVENTS)


def test_shuffled_arrival_within_a_batch_gives_the_same_partition(tmp_path: Path) -> None:
    items = articles()
    shuffled = items[:]
    random.Random(3).shuffle(shuffled)
    assert load(tmp_path / "a.db", items) == load(tmp_path / "b.db", shuffled)


def test_restart_in_the_middle_gives_the_same_result(tmp_path: Path) -> None:
    whole = load(tmp_path / "a.db", articles())
    pieces = load(tmp_path / "b.db", articles(), cluster_every=7)
    assert partition(whole) == partition(pieces)
    # Nearest neighbours are stored, so a restarted clusterer scores the window as before.
    stored = open_db(tmp_path / "b.db").execute(
        "SELECT COUNT(*) FROM article_sketches WHERE neighbour IS NOT NULL").fetchone()[0]
    assert stored == len(articles())


def test_a_restarted_clusterer_reads_only_the_term_statistics_it_needs(tmp_path: Path) -> None:
    # The archive's terms only grow; a clusterer holds those of its window and its batches, and
    # weighs a batch as one that has run all along, which held every term it had met.
    items = articles()
    later = [(o, replace(a, published=a.published + timedelta(days=10)))  # type: ignore[operator]
             for o, a in items[10:]]
    vectors = []
    for restart in (False, True):
        db = open_db(tmp_path / f"{restart}.db")
        clusterer = Clusterer(ClusterState(db), 72)
        list(save(db, items[:10]))
        clusterer.run()
        list(save(db, later))
        if restart:
            clusterer = Clusterer(ClusterState(db), 72)
        clusterer.run()
        (stored,) = db.execute("SELECT COUNT(*) FROM term_df").fetchone()
        held_terms = len(clusterer.vocabulary.terms)
        assert held_terms < stored if restart else held_terms == stored
        vectors.append(db.execute(
            "SELECT a.key, s.terms FROM article_sketches s JOIN articles a ON a.id = s.article_id"
            " ORDER BY a.key").fetchall())
    assert vectors[0] == vectors[1] and len(vectors[0]) == len(items)


def test_a_clusterer_lets_go_of_terms_its_window_no_longer_uses_and_decides_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Five events a day apart, each told over 60 hours, clustered an article at a time: the
    # window (72 h) leaves the first ones behind with their terms, and keeps aside the vectors
    # of neighbours it no longer holds.
    start = datetime(2026, 11, 1, tzinfo=UTC)
    items = sorted(((o, replace(a, published=start + timedelta(days=int(a.key[1]), hours=20 * o)))
                    for o, a in articles()), key=lambda item: item[1].published)  # type: ignore[arg-type,return-value]
    found, held = [], []
    for slack in (10**9, 0):  # never let go; let go after every batch
        monkeypatch.setattr(clusterer_module, "VOCABULARY_SLACK", slack)
        db = open_db(tmp_path / f"{slack}.db")
        clusterer = Clusterer(ClusterState(db), 72)
        asides = 0
        for _ in save(db, items):
            clusterer.run()
            if not slack:
                _names_as_stored(clusterer, db)
                asides += len(clusterer.window.docs._aside)
        held.append(len(clusterer.vocabulary.terms))
        found.append(db.execute(
            "SELECT a.key, s.terms, l.story_id FROM article_sketches s"
            " JOIN articles a ON a.id = s.article_id JOIN story_links l ON l.article_id = a.id"
            " ORDER BY a.key").fetchall())
    assert found[0] == found[1] and len(found[0]) == len(items)
    assert held[1] < held[0]
    assert asides  # some held article's neighbour was not held: its vector was kept aside


def _names_as_stored(c: Clusterer, db: Database) -> None:
    """The window's vectors and their neighbours', renumbered as terms were let go, name the
    terms the store has for them."""
    restarted = Clusterer(ClusterState(db), 72)
    restarted._cover(0.0, 4e9)
    for aid, d in c.window.docs.items():
        again = restarted.window.docs[aid]
        assert _named(c, d.ids, d.weights) == _named(restarted, again.ids, again.weights)
        assert (d.neighbour_ids is None) == (again.neighbour_ids is None)
        if d.neighbour_ids is not None:
            assert _named(c, d.neighbour_ids, d.neighbour_weights) == _named(
                restarted, again.neighbour_ids, again.neighbour_weights)


def test_adding_an_article_keeps_the_story_id(tmp_path: Path) -> None:
    items = articles()
    before = load(tmp_path / "a.db", items[:-1])
    after = load(tmp_path / "a.db", items[-1:])
    for k, s in before.items():
        assert after[k] == s
    last = items[-1][1].key
    assert after[last] == after[items[-2][1].key]


def test_explain_and_json(tmp_path: Path, capsys: object) -> None:
    load(tmp_path / "aggregator.db", articles())
    cfg = tmp_path / "feeds.toml"
    cfg.write_text('[settings]\ndatabase = "aggregator.db"\n', encoding="utf-8")
    assert main(["--config", str(cfg), "clusters", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert len(out) == len(EVENTS)
    first = out[0]
    assert set(first) == {"id", "title", "rank", "first_seen", "updated", "outlets",
                          "independent_reports", "articles"}
    assert set(first["articles"][0]) == {"id", "outlet", "title", "url", "published", "copy_of"}
    assert main(["--config", str(cfg), "clusters", "--explain", first["id"]]) == 0
    text = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "story match" in text and "similarity" in text and "shared terms" in text
    # Evidence reads as the articles' own words, not stems ("earthquak") or duplicates.
    words = {w.lower() for _, a in articles() for w in f"{a.title} {a.summary}".replace(":", " ").split()}
    shown = [t.strip() for line in text.splitlines() if "shared terms:" in line
             for t in line.split("shared terms:")[1].split(",")]
    assert shown and all(t.lower() in words for t in shown), shown


def test_signatures_of_another_sketch_version_are_never_mixed(tmp_path: Path) -> None:
    """Window articles signed by another sketch version (seed, scheme or library) do not meet
    new signatures: here their copy sketches are made to equal a new article's, which would make
    it a copy of every one of them if they were used."""
    items = articles()
    control = load(tmp_path / "control.db", items)
    new_key = items[-1][1].key
    (copy_sig, story_sig), = open_db(tmp_path / "control.db").execute(
        "SELECT s.copy_sig, s.story_sig FROM article_sketches s JOIN articles a "
        "ON a.id = s.article_id WHERE a.key = ?", (new_key,)).fetchall()

    load(tmp_path / "old.db", items[:-1])
    db = open_db(tmp_path / "old.db")
    with db.transaction():
        db.execute("UPDATE article_sketches SET sketch_version = 'datasketch-0/other/seed9', "
                   "copy_sig = ?, story_sig = ?", (copy_sig, story_sig))
    assert load(tmp_path / "old.db", items[-1:]) == control
    assert db.execute("SELECT COUNT(*) FROM copies").fetchone()[0] == 0


def test_a_restart_rebuilds_neighbour_scoring_even_past_the_window(tmp_path: Path) -> None:
    """Window articles are scored with their nearest neighbour's terms; a restarted clusterer
    rebuilds them the same, also for a neighbour older or newer than the loaded window."""
    load(tmp_path / "a.db", articles())
    db = open_db(tmp_path / "a.db")
    times = sorted(t for (t,) in db.execute("SELECT time FROM article_sketches"))
    since, until = times[len(times) // 3], times[2 * len(times) // 3]
    whole, part = Clusterer(ClusterState(db), 72), Clusterer(ClusterState(db), 72)
    whole._cover(0.0, times[-1])
    part._cover(since, until)
    for outside in ("n.time < ?", "n.time > ?"):
        assert db.execute(
            "SELECT COUNT(*) FROM article_sketches s JOIN article_sketches n "
            f"ON n.article_id = s.neighbour WHERE s.time BETWEEN ? AND ? AND {outside}",
            (since, until, since if "<" in outside else until)).fetchone()[0], (
            f"the check needs a neighbour with {outside} of the loaded window")
    assert part.window.docs
    for aid, d in part.window.docs.items():
        full = whole.window.docs[aid]
        assert d.neighbour == full.neighbour is not None
        assert d.neighbour_ids is not None and full.neighbour_ids is not None
        ((mine, mine_w),), ((theirs, theirs_w),) = expanded([d]), expanded([full])
        assert _named(whole, theirs, theirs_w) == pytest.approx(
            _named(part, mine, mine_w), abs=1e-12)


def _named(c: Clusterer, ids: object, weights: object) -> dict[str, float]:
    """An expanded vector keyed by term (term ids differ between clusterers)."""
    names = c.vocabulary.terms
    return {names[i]: w for i, w in zip(ids.tolist(), weights.tolist(), strict=True)}  # type: ignore[attr-defined]


def test_evidence_words_come_from_the_full_text_when_the_summary_is_empty(tmp_path: Path) -> None:
    db = open_db(tmp_path / "s.db")
    feeds = [FeedConfig(url=f"https://o{i}.example/rss", outlet=o) for i, o in enumerate(OUTLETS)]
    sync_feeds(db, feeds)
    background = articles()
    for o, a in background:
        assert a.published
        save_success(db, FeedUpdate(feeds[o].url, 200, a.published, a.published, None, None, None,
                                    None, None, None, 0), OUTLETS[o], [a])
    when = datetime(2026, 11, 2, 9, tzinfo=UTC)
    first = Article("glacier-1", "https://o0.example/glacier", "Alpine glacier collapses",
                    "Glaciologists warned the Marmolada glacier collapse followed record heat.",
                    "", "", when, "", "en")
    later = Article("glacier-2", "https://o1.example/glacier", "Ice avalanche in the Dolomites",
                    "", "", "", when + timedelta(hours=1), "", "en")
    full = "A Marmolada glacier collapse, glaciologists warned, came after weeks of record heat."
    for o, a, texts in ((0, first, None), (1, later, {"glacier-2": full})):
        save_success(db, FeedUpdate(feeds[o].url, 200, when, when, None, None, None, None, None,
                                    None, 0), OUTLETS[o], [a], texts)
    Clusterer(ClusterState(db), 72).run()
    kind, terms = db.execute(
        "SELECT l.kind, l.shared_terms FROM story_links l JOIN articles a ON a.id = l.article_id "
        "WHERE a.key = 'glacier-2'").fetchone()
    assert kind == "story"
    shown = json.loads(terms)
    assert "glaciologists" in shown and "glacier" in shown, shown


LANDFALL = [
    "Hurricane Lorena made landfall near Port Alma on Tuesday with winds of 160 km/h.",
    "Officials in Port Alma ordered evacuations of low-lying districts before Lorena arrived.",
    "The storm knocked out power to 250,000 homes across the province, the utility said.",
    "Rescue teams searched flooded neighbourhoods of Port Alma for stranded residents.",
    "The governor declared a state of emergency in the coastal province.",
    "Schools and the airport in Port Alma were closed as the hurricane moved inland.",
    "At least six people were killed by falling trees and flash floods, authorities said.",
    "Forecasters said Lorena would weaken to a tropical storm over the mountains.",
    "Aid agencies warned that crops and roads had suffered heavy damage.",
    "Hospitals in the region treated dozens of injured residents.",
]
LANDFALL_TITLES = ["Hurricane Lorena slams Port Alma", "Hurricane Lorena hits Port Alma, six dead",
                   "Port Alma evacuates as Hurricane Lorena makes landfall"]


@pytest.mark.parametrize("every", [30, None])
def test_a_story_does_not_split_as_its_coverage_grows(tmp_path: Path, every: int | None) -> None:
    # 150 reports of one event from 50 outlets, each a headline and six of ten sentences: the
    # size a big event reaches in a large deployment. Arriving 30 at a time, or all at once,
    # they stay one story (average link must not count pairs it never kept as unlike).
    rng = random.Random(1)
    db = open_db(tmp_path / "s.db")
    feeds = [FeedConfig(url=f"https://o{i}.example/rss", outlet=f"Outlet {i}") for i in range(50)]
    sync_feeds(db, feeds)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    for k in range(150):
        feed, when = feeds[k % len(feeds)], t0 + timedelta(minutes=10 * k)
        report = Article(f"h{k}", f"{feed.url}/h{k}", rng.choice(LANDFALL_TITLES),
                         " ".join(rng.sample(LANDFALL, 6)), "", "", when, "", "en")
        save_success(db, FeedUpdate(feed.url, 200, when, when, None, None, None, None, None, None,
                                    0), feed.outlet, [report])
        if every and (k + 1) % every == 0:
            Clusterer(ClusterState(db), 72).run()
    Clusterer(ClusterState(db), 72).run()
    assert db.execute("SELECT COUNT(DISTINCT story_id), COUNT(*) FROM story_links").fetchone() \
        == (1, 150)



@pytest.mark.parametrize("enabled", [True, False])
def test_a_run_pauses_the_garbage_collector_and_gives_it_back(tmp_path: Path, enabled: bool) -> None:
    """Clustering pauses Python's cyclic collector (full collections walk the whole window);
    the caller gets it back as it was, also when the run fails."""
    import gc

    from aggregator.matching.clusterer import _collector_paused

    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with pytest.raises(RuntimeError), _collector_paused():
            assert not gc.isenabled()
            raise RuntimeError("a failed run")
        assert gc.isenabled() is enabled
        assert partition(load(tmp_path / "gc.db", articles()))
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_a_small_archive_lowers_the_default_bar() -> None:
    """Rarity learnt from few articles is flatter, so one event's reports score lower: below
    SMALL_ARCHIVE articles the bar drops by SLOPE per e-fold, never below the neighbour bar."""
    import math

    from aggregator.matching.similarity import NEIGHBOUR_MIN
    from aggregator.matching.stories import SMALL_ARCHIVE, SMALL_ARCHIVE_SLOPE, threshold_for

    assert threshold_for(0.33, SMALL_ARCHIVE) == threshold_for(0.33, 10**6) == 0.33
    expected = 0.33 - SMALL_ARCHIVE_SLOPE * math.log(SMALL_ARCHIVE / 230)
    assert threshold_for(0.33, 230) == pytest.approx(expected)
    assert NEIGHBOUR_MIN < expected < 0.33
    assert threshold_for(0.33, 14) == threshold_for(0.33, 0) == NEIGHBOUR_MIN
    assert threshold_for(0.1, 14) == 0.1  # a bar already below the floor stays where it is


def test_an_old_item_is_clustered_in_its_own_time_without_loading_the_archive(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A feed added today may bring items published weeks ago. Such an item joins the story of
    its own days, and the clusterer reads the archive around those days and around today's
    items, not everything in between."""
    db = open_db(tmp_path / "s.db")
    feeds = [FeedConfig(url=f"https://o{i}.example/rss", outlet=o) for i, o in enumerate(OUTLETS)]
    sync_feeds(db, feeds)
    t0 = datetime(2026, 10, 1, tzinfo=UTC)

    def put(o: int, key: str, title: str, text: str, when: datetime) -> None:
        save_success(db, FeedUpdate(feeds[o].url, 200, when, when, None, None, None, None, None,
                                    None, 0), OUTLETS[o], [Article(key, f"https://o{o}.example/{key}",
                                                                   title, text, "", "", when, "", "en")])

    days = 40
    for day in range(days):  # a month and more of news: each day's event told by three outlets
        for o in range(3):
            words = f"event{day} place{day} person{day} report{o} outlet{o} daily news coverage"
            put(o, f"d{day}-o{o}", f"Day {day} event{day} in place{day}", words,
                t0 + timedelta(days=day, hours=o))
    Clusterer(ClusterState(db), 72).run()

    loaded: list[int] = []
    real = ClusterState.load_window

    def counting(self: ClusterState, *args: object) -> list[StoredSketch]:
        found = list(real(self, *args))  # type: ignore[arg-type]
        loaded.append(len(found))
        return found

    monkeypatch.setattr(ClusterState, "load_window", counting)
    put(3, "late", "Day 5 event5 in place5", "event5 place5 person5 late report of the day",
        t0 + timedelta(days=5, hours=5))
    put(3, "today", f"Day {days - 1} event{days - 1} in place{days - 1}",
        f"event{days - 1} place{days - 1} person{days - 1} report of today", t0 + timedelta(days=days - 1, hours=5))
    Clusterer(ClusterState(db), 72).run()

    story = dict(db.execute(
        "SELECT a.key, l.story_id FROM articles a JOIN story_links l ON l.article_id = a.id"))
    assert story["late"] == story["d5-o0"] and story["today"] == story[f"d{days - 1}-o0"]
    # Around day 5: days 2-8; around today: days 36-39. Not the 40 days in between.
    assert sum(loaded) <= 3 * (7 + 4)


# Two earthquakes on one day: their first reports, alone, tell them alike; later ones apart.
QUAKE = "magnitude earthquake struck coast tsunami warning geological survey residents"
CHILE = "Chile Valparaiso Santiago Bachelet copper mines port cranes"
PERU = "Peru Lima Arequipa Boluarte Andes highway landslides villages"


def quakes() -> list[tuple[int, Article]]:
    rng = random.Random(1)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)

    def item(o: int, key: str, title: str, base: str, own: str, k: int, hours: float) -> tuple[int, Article]:
        words = base.split() + rng.sample(own.split(), k)
        rng.shuffle(words)
        return (o, Article(key, f"https://o{o}.example/{key}", title, " ".join(words), "", "",
                           t0 + timedelta(hours=hours), "", "en"))

    out = [item(0, "chile-0", "Earthquake strikes off the coast", QUAKE, CHILE, 1, 0),
           item(1, "peru-0", "Earthquake strikes off the coast", QUAKE, PERU, 1, 0.5)]
    for i in range(1, 4):
        out.append(item(i % 4, f"chile-{i}", "Chile earthquake: Valparaiso port damaged", CHILE,
                        QUAKE, 3, 2 + i))
        out.append(item((i + 1) % 4, f"peru-{i}", "Peru earthquake: landslides cut Andes highway",
                        PERU, QUAKE, 3, 2.5 + i))
    return out


def background() -> list[tuple[int, Article]]:
    return [(o, a) for o, a in articles() if not a.key.startswith("e0-")]


def test_a_story_that_falls_apart_as_it_grows_is_split_as_one_batch_would_group_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The two quakes' first reports arrive in one poll and join; later polls bring reports of
    each. Looked at again as a whole, the story falls apart: it keeps its id and its first
    reports, the Peru reports leave under a new id, the split is recorded, every moved link's
    evidence lies inside its story, and the stream ends as the whole file in one batch does."""
    db_path = tmp_path / "aggregator.db"
    load(db_path, background())
    first = load(db_path, quakes()[:2])
    assert first["chile-0"] == first["peru-0"]

    def evidence(db: Any, key: str) -> tuple[Any, ...]:
        return tuple(db.execute(
            "SELECT l.kind, l.score, l.matched_article_id, l.shared_terms FROM story_links l "
            "JOIN articles a ON a.id = l.article_id WHERE a.key = ?", (key,)).fetchone())

    first_evidence = evidence(open_db(db_path), "chile-0")
    stream = load(db_path, quakes()[2:], cluster_every=2)
    batch = load(tmp_path / "batch.db", background() + quakes())
    assert partition(stream) == partition(batch)
    assert stream["chile-0"] == stream["chile-3"] == first["chile-0"]  # the story keeps its id
    assert stream["peru-1"] != stream["chile-1"]

    db = open_db(db_path)
    assert list(db.execute("SELECT story_id, part_id FROM story_splits")) == [
        (first["chile-0"], stream["peru-1"])]
    assert st.resolve(db, stream["peru-1"]) == stream["peru-1"]
    outside = db.execute(
        """SELECT COUNT(*) FROM story_links l JOIN story_links m ON m.article_id = l.matched_article_id
           WHERE m.story_id != l.story_id""").fetchone()[0]
    assert outside == 0
    # Evidence that still holds is kept (the first two reports matched each other).
    assert evidence(db, "chile-0") == first_evidence
    # The new evidence reads as the articles' own words, as evidence made on arrival does.
    words = {w.lower().strip(".,:;'") for _, a in background() + quakes()
             for w in f"{a.title} {a.summary}".split()}
    shown = [t for (terms,) in db.execute(
        "SELECT l.shared_terms FROM story_links l JOIN articles a ON a.id = l.article_id "
        "WHERE a.key LIKE 'peru-%'") for t in json.loads(terms)]
    assert shown and all(t.lower() in words for t in shown), shown
    counted = dict(db.execute("SELECT id, article_count FROM stories").fetchall())
    linked = dict(db.execute("SELECT story_id, COUNT(*) FROM story_links GROUP BY story_id"))
    assert counted == linked

    cfg = tmp_path / "feeds.toml"
    cfg.write_text('[settings]\ndatabase = "aggregator.db"\n', encoding="utf-8")
    assert main(["--config", str(cfg), "clusters", "--explain", stream["peru-1"]]) == 0
    assert f"was split off {first['chile-0']}" in capsys.readouterr().out
    assert main(["--config", str(cfg), "clusters", "--explain", first["chile-0"]]) == 0
    assert f"split off it: {stream['peru-1']}" in capsys.readouterr().out


def test_a_split_stream_gives_the_same_ids_when_run_again(tmp_path: Path) -> None:
    runs = []
    for name in ("a.db", "b.db"):
        load(tmp_path / name, background())
        load(tmp_path / name, quakes()[:2])
        runs.append(load(tmp_path / name, quakes()[2:], cluster_every=2))
    assert runs[0] == runs[1]


def _doc(aid: int, terms: dict[str, float], ids: dict[str, int], story: str | None,
         hours: float) -> Doc:
    norm = sum(w * w for w in terms.values()) ** 0.5
    vec = {t: w / norm for t, w in terms.items()}
    return Doc(aid, f"k{aid}", np.array([ids.setdefault(t, len(ids)) for t in vec]),
               np.array(list(vec.values())), hours * 3600, "Outlet", None, story_id=story)


@pytest.mark.parametrize("peru", [{"quake": 1, "peru": 2, "lima": 1.5, "coast": 1},
                                  {"quake": 1, "chile": 1, "coast": 1, "valparaiso": 0.5}])
def test_a_story_is_regrouped_when_it_grows_and_kept_while_it_holds(peru: dict[str, float]) -> None:
    """Story S holds a (Chile) and b, alike while alone (plain cosine 0.40). Two new Chile
    reports join it. Regrouped, b (Peru) leaves for a part of its own, under an id made from its
    key and S; a b that tells the same Chile quake stays."""
    ids: dict[str, int] = {}
    a = _doc(1, {"quake": 1, "chile": 1, "coast": 1}, ids, "S", 0)
    b = _doc(2, peru, ids, "S", 1)
    c = _doc(3, {"quake": 1, "chile": 1, "valparaiso": 1}, ids, None, 2)
    d = _doc(4, {"quake": 0.5, "chile": 1, "valparaiso": 1}, ids, None, 2.1)
    decision = assign([c, d], held([a, b], [c, d]), {3: [1, 2], 4: [1, 2, 3]}, {}, 72 * 3600.0, {"S": 0.0},
                      names=sorted(ids, key=ids.__getitem__))
    result = decision.assignment
    story = {lk.article_id: lk.story_id for lk in result.links + result.relinked}
    assert story[3] == story[4] == "S" and result.merges == ()
    if "peru" in peru:
        part = story_id_for("k2\nsplit from S")
        assert story == {1: "S", 2: part, 3: "S", 4: "S"}
        assert result.splits == (("S", part),)
        relinked = {lk.article_id: lk for lk in result.relinked}
        assert (relinked[2].kind, relinked[2].matched_article_id) == ("seed", None)
        assert relinked[1].matched_article_id in (3, 4)  # evidence inside its story
    else:
        assert 2 not in story and result.splits == () and result.relinked == ()  # b stays


def test_window_stories_the_batch_does_not_reach_change_nothing() -> None:
    """A batch's clusters are made of the window stories its edges and repeats reach only: the
    same decision, evidence and regrouping as with stories it does not reach beside them (here
    stories sorting before, between and after the one it joins and splits)."""
    ids: dict[str, int] = {}
    a = _doc(10, {"quake": 1, "chile": 1, "coast": 1}, ids, "S", 0)
    b = _doc(20, {"quake": 1, "peru": 2, "lima": 1.5, "coast": 1}, ids, "S", 1)
    c = _doc(30, {"quake": 1, "chile": 1, "valparaiso": 1}, ids, None, 2)
    d = _doc(40, {"quake": 0.5, "chile": 1, "valparaiso": 1}, ids, None, 2.1)
    apart = [_doc(i, {f"topic{i}": 1, f"other{i}": 1}, ids, story, 1)
             for i, story in ((1, "A"), (2, "A"), (3, "R"), (50, "Z"))]

    def decide(window: list[Doc]) -> Decision:
        return assign([c, d], held(window, [c, d]), {30: [10, 20], 40: [10, 20, 30]}, {}, 72 * 3600.0,
                      {"S": 0.0, "A": 0.0, "R": 0.0, "Z": 0.0},
                      names=sorted(ids, key=ids.__getitem__))

    alone, beside = decide([a, b]), decide([*apart, a, b])
    assert beside.assignment == alone.assignment
    assert [_rescored(d) for d in beside.rescored] == [_rescored(d) for d in alone.rescored]
    assert alone.assignment.splits  # a story reached, regrouped and split: not a trivial case


def _rescored(d: Doc) -> tuple[object, ...]:
    """An article as rescored: its neighbour, their similarity and the neighbour's vector."""
    assert d.neighbour_ids is not None and d.neighbour_weights is not None
    return (d.id, d.neighbour, d.neighbour_score, d.neighbour_ids.tolist(),
            d.neighbour_weights.tolist())


def test_a_split_keeps_evidence_that_holds_and_replaces_evidence_that_does_not(
        tmp_path: Path) -> None:
    """Stored in the batch's transaction: an article whose matched article shares its story
    after a split keeps its evidence; once the matched article is in another story it takes
    its new evidence. The part is recorded, and an alias its id had is dropped."""

    db_path = tmp_path / "a.db"
    load(db_path, background())
    first = load(db_path, quakes()[:2])
    db = open_db(db_path)
    ids = dict(db.execute("SELECT key, id FROM articles WHERE key IN ('chile-0', 'peru-0', 'e1-o1')"))
    chile, peru, other, story = ids["chile-0"], ids["peru-0"], ids["e1-o1"], first["chile-0"]
    query = ("SELECT story_id, kind, score, matched_article_id FROM story_links "
             "WHERE article_id = ?")
    before = tuple(db.execute(query, (chile,)).fetchone())
    assert before[0] == story and before[3] == peru  # the two first reports matched each other
    at = datetime(2026, 11, 2, tzinfo=UTC)

    # Relinked in place: peru stays in the story, so chile's evidence holds and is kept.
    stay = Assignment((), (), (), relinked=(Link(chile, story, "story", 0.9, other),
                                            Link(peru, story, "story", 0.9, other)))
    ClusterState(db).save_assignment([], stay, {}, 0, at, "v")
    assert tuple(db.execute(query, (chile,)).fetchone()) == before

    # peru leaves for a part of its own: both lose the match they had and take the new one.
    db.execute("INSERT INTO story_aliases VALUES ('spart', ?, 'merge', '2026-11-01T00:00:00Z')",
               (story,))
    leave = Assignment((), (), (), splits=((story, "spart"),), relinked=(
        Link(chile, story, "story", 0.9, other), Link(peru, "spart", "seed", 1.0, None)))
    ClusterState(db).save_assignment([], leave, {}, 0, at, "v")
    assert tuple(db.execute(query, (chile,)).fetchone()) == (story, "story", 0.9, other)
    assert tuple(db.execute(query, (peru,)).fetchone()) == ("spart", "seed", 1.0, None)
    assert list(db.execute("SELECT part_id, story_id FROM story_splits")) == [("spart", story)]
    assert st.resolve(db, "spart") == "spart"


def test_clusters_the_sketches_left_apart_join_when_every_pair_is_scored() -> None:
    """Four reports of one event (plain cosine 0.96 across the halves), but the sketches
    proposed one pair across the two halves: the first pass averages a quarter of it (the
    three pairs never proposed count as zero) and leaves two stories; scored in full, the
    halves join."""
    ids: dict[str, int] = {}
    a1 = _doc(1, {"quake": 0.8, "chile": 0.6}, ids, None, 0)
    a2 = _doc(2, {"quake": 0.8, "chile": 0.6}, ids, None, 0.1)
    b1 = _doc(3, {"quake": 0.6, "chile": 0.8}, ids, None, 0.2)
    b2 = _doc(4, {"quake": 0.6, "chile": 0.8}, ids, None, 0.3)
    candidates = {1: [2, 3], 2: [], 3: [4], 4: []}
    decision = assign([a1, a2, b1, b2], held([], [a1, a2, b1, b2]), candidates, {}, 72 * 3600.0, {},
                      threshold=0.33,
                      names=sorted(ids, key=ids.__getitem__))
    result = decision.assignment
    assert len({lk.story_id for lk in result.links}) == 1
    # A bar the full average does not clear keeps them apart.
    decision = assign([a1, a2, b1, b2], held([], [a1, a2, b1, b2]), candidates, {}, 72 * 3600.0, {},
                      threshold=0.99,
                      names=sorted(ids, key=ids.__getitem__))
    result = decision.assignment
    assert len({lk.story_id for lk in result.links}) == 2


def test_text_features_made_in_worker_processes_equal_those_made_in_one(tmp_path: Path) -> None:
    """A large batch's features come from worker processes, parts of it from the main process
    when no worker has started them yet; in the batch's order, they are those one process
    makes."""
    from aggregator.matching import extract as ex
    from aggregator.matching import sketch
    from aggregator.matching.clusterer import PARALLEL_FROM

    rng = random.Random(3)
    vocabulary = [w for _, words in EVENTS for w in words.split()]
    groups = [
        ex.Group([(" ".join(rng.sample(vocabulary, 6)).title(), " ".join(rng.choices(vocabulary, k=60)),
                   "en") for _ in range(60)], [" ".join(rng.choices(vocabulary, k=40)) for _ in range(5)])
        for _ in range(PARALLEL_FROM // 60 + 2)
    ]
    clusterer = Clusterer(ClusterState(open_db(tmp_path / "db.sqlite")), 72)
    try:
        parallel = clusterer._extract(groups)()
    finally:
        clusterer.close()
    alone = ex.extract_groups(groups, sketch.permutations(sketch.COPY_PERMS))
    assert len(parallel) == sum(len(g.items) for g in groups) == len(alone)
    assert [(f.terms.strings(), f.counts.tolist(), f.copy_sig, f.forms.pairs())
            for f in parallel] == [
        (f.terms.strings(), f.counts.tolist(), f.copy_sig, f.forms.pairs()) for f in alone]


def test_a_running_clusterer_holds_its_window_as_a_restart_reads_it(tmp_path: Path) -> None:
    """The articles a clusterer decided stay in its window with the weights the store kept for
    them (float32), so the next batches score them as a restarted clusterer would."""
    items = articles()
    db = open_db(tmp_path / "a.db")
    feeds = [FeedConfig(url=f"https://o{i}.example/rss", outlet=o) for i, o in enumerate(OUTLETS)]
    sync_feeds(db, feeds)
    running = Clusterer(ClusterState(db), 72)
    for o, a in items:
        assert a.published
        save_success(db, FeedUpdate(feeds[o].url, 200, a.published, a.published, None, None, None,
                                    None, None, None, 0), OUTLETS[o], [a])
        running.run()  # one article a batch, all in the window of one clusterer
    restarted = Clusterer(ClusterState(db), 72)
    restarted._cover(0.0, 4e9)
    assert set(running.window.docs) == set(restarted.window.docs) and len(items) > 10
    for aid, d in running.window.docs.items():
        again = restarted.window.docs[aid]
        assert d.weights.dtype == again.weights.dtype == np.float32
        assert _named(running, d.ids, d.weights) == _named(restarted, again.ids, again.weights)
        assert (d.neighbour, d.neighbour_score) == (again.neighbour, again.neighbour_score)
        # Expanded, each sums its terms in its own vocabulary's order: the last bits may differ.
        ((mine, mine_w),), ((theirs, theirs_w),) = expanded([d]), expanded([again])
        assert _named(running, mine, mine_w) == pytest.approx(
            _named(restarted, theirs, theirs_w), abs=1e-12)
