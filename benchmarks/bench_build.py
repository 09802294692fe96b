"""Site build benchmark: 5,000 stories of 40,000 articles, rendered and published atomically,
against jinja2 rendering a one-line template as many times as there are pages (the floor)."""

from __future__ import annotations

import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import jinja2

from aggregator.config import load_config
from aggregator.publish.site import build_site
from aggregator.store import open_db
from aggregator.times import iso

from .common import Row
from .corpus import T0

STORIES = 5_000
PER_STORY = 8
OUTLETS = 20


def _fill(db_path: Path) -> None:
    db = open_db(db_path)
    c = db
    with db.transaction():
        c.executemany("INSERT INTO feeds (url, outlet, country, owner, role) VALUES (?, ?, ?, ?, ?)",
                      [(f"https://o{i}.example/rss", f"Outlet {i}", "GB", f"Owner {i % 7}",
                        "national") for i in range(OUTLETS)])
        aid = 0
        for s in range(STORIES):
            first = T0 + timedelta(minutes=5 * s)
            outlets = []
            for k in range(PER_STORY):
                aid += 1
                o = (s + k * 3) % OUTLETS
                outlets.append(f"Outlet {o}")
                stamp = iso(first + timedelta(minutes=7 * k))
                c.execute(
                    "INSERT INTO articles (id, feed_url, key, outlet, url, title, summary, "
                    "content_html, author, published, published_raw, first_seen, sort_time, "
                    "language, content_hash, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (aid, f"https://o{o}.example/rss", f"k{aid}", f"Outlet {o}",
                     f"https://o{o}.example/news/{aid}",
                     f"Story {s} headline as outlet {o} wrote it, with a few more words",
                     "A lead of two sentences about the event. It says what happened and where.",
                     "", "", stamp, stamp, stamp, stamp, "en", f"h{aid}", stamp))
                c.execute("INSERT INTO story_links VALUES (?, ?, ?, ?, ?, ?, ?)",
                          (aid, f"s{s:012x}", "seed" if k == 0 else ("copy" if k == 5 else "story"),
                           0.4, aid - k if k else None, '["event", "place"]', stamp))
            last = iso(first + timedelta(minutes=7 * (PER_STORY - 1)))
            c.execute("INSERT INTO stories VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                      (f"s{s:012x}", f"Story {s} headline", aid - PER_STORY + 1, "A lead.",
                       iso(first), last, last, PER_STORY, len(set(outlets)), PER_STORY - 1,
                       json.dumps(sorted(set(outlets))), float(len(set(outlets)))))
    db.close()


def bench_build() -> Row:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "feeds.toml").write_text('[settings]\ndatabase = "site.db"\nsite_days = 3\n',
                                         encoding="utf-8")
        _fill(root / "site.db")
        config = load_config(root / "feeds.toml")
        started = time.perf_counter()
        out = build_site(config, root / "public")
        ours = time.perf_counter() - started
        pages = sum(1 for p in out.rglob("*.html"))
        template = jinja2.Environment(autoescape=True).from_string("<p>{{ x }}</p>")
        started = time.perf_counter()
        for i in range(pages):
            (root / "floor.html").write_text(template.render(x=i), encoding="utf-8")
        floor = time.perf_counter() - started
    return Row(f"build: {STORIES:,} stories / {STORIES * PER_STORY:,} articles ({pages:,} pages)",
               f"{ours:.1f} s", f"jinja2 one-liner x {pages:,}: {floor:.2f} s", ours / floor,
               "< 10 s", ours < 10)
