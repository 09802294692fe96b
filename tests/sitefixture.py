"""A small database with stories, built through the real poller over loopback HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from conftest import FeedServer, respond, rss, stub_resolve, write_config

from aggregator.config import load_config
from aggregator.ingest.poll import PollOptions, poll
from aggregator.matching.clusterer import Clusterer
from aggregator.model import Config
from aggregator.store import open_db
from aggregator.store.clustering import ClusterState

HOSTILE_STRINGS = [
    "<script>alert('t')</script>",
    "<img src=x onerror=alert('i')>",
    "<a href=\"javascript:alert('j')\">click</a>",
    "<a href=\"&#106;avascript:alert('e')\">ent</a>",
    "<a href=\"jav&#x09;ascript:alert('tab')\">tab</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">data</a>",
    "<svg><script>alert('s')</script><a xlink:href=\"javascript:alert('x')\">s</a></svg>",
    "<math><mtext><a href=\"javascript:alert('m')\">m</a></mtext></math>",
    "<form action=\"https://evil.example/\"><input type=\"password\" name=\"p\"></form>",
    "<iframe src=\"https://evil.example/\"></iframe><object data=\"x\"></object><embed src=\"x\">",
    "<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example/\">",
    "<base href=\"https://evil.example/\">",
    "<div style=\"position:fixed;top:0;left:0;width:100%;height:100%\">overlay</div>",
    "<style>body{display:none}</style>",
    "\"><script>alert('attr')</script>",
    "' onmouseover='alert(1)",
    "&lt;img src=x onerror=alert('escaped-twice')&gt;",  # escaped by its publisher, and again by rss()
    "line\nbreak\r\nand\u2028separator\u202eoverride\u200bzero-width\x1b[31mescape",
]


def hostile_items() -> list[dict[str, str]]:
    items = []
    for i, s in enumerate(HOSTILE_STRINGS):
        items.append({
            "title": f"Harbour bridge closure {s} report {i}",
            "link": "javascript:alert('link')" if i % 3 == 0 else f"https://evil.example/{i}",
            "guid": f"h{i}",
            "description": f"Inspectors closed the harbour bridge after cracks were found. {s}",
            "author": f"{s}@example.org ({s})",
            "pubDate": "Sun, 01 Nov 2026 10:00:00 GMT",
            "raw": f"<content:encoded><![CDATA[<p>{s}</p>]]></content:encoded>",
        })
    return items


def build_fixture_db(server: FeedServer, tmp: Path) -> Config:
    events = [
        ("Harbour bridge closed after inspectors find cracks",
         "The city's harbour bridge was closed on Sunday after inspectors found cracks in two main supports."),
        ("Dockers strike over pay halts Rotterdam port",
         "Dockers at Rotterdam walked out over wages, halting container traffic at Europe's largest port."),
    ]
    outlets = ["Daily Planet", "Evening Star", "Morning Post"]
    feeds = []
    for o, outlet in enumerate(outlets):
        items = [{"title": f"{t} ({outlet})", "link": f"https://{o}.example/{e}", "guid": f"{o}-{e}",
                  "description": d, "pubDate": f"Sun, 01 Nov 2026 0{e + o}:30:00 GMT"}
                 for e, (t, d) in enumerate(events)]
        server.routes[f"/o{o}.xml"] = respond(rss(items, title=outlet))
        feeds.append({"url": server.url(f"/o{o}.xml"), "outlet": outlet, "country": "GB",
                      "owner": f"Owner {o}", "role": "national"})
    server.routes["/single.xml"] = respond(rss([{
        "title": "Local library extends opening hours", "link": "https://lib.example/1",
        "guid": "lib-1", "description": "The library opens until 9pm from Monday.",
        "pubDate": "Sun, 01 Nov 2026 08:00:00 GMT"}], title="Town Crier"))
    feeds.append({"url": server.url("/single.xml"), "outlet": "Town Crier"})
    hostile_body = rss(hostile_items(), title="<script>alert('feed')</script>").replace(
        b'<rss version="2.0">',
        b'<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">')
    server.routes["/hostile.xml"] = respond(hostile_body)
    feeds.append({"url": server.url("/hostile.xml"),
                  "outlet": "Evil <script>alert('outlet')</script> News"})
    cfg = load_config(write_config(tmp, feeds, {"site_title": "Test News", "site_days": 3650,
                                                "concurrency": 1}))
    db = open_db(cfg.settings.database)
    fixed = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # golden pages need fixed clocks
    asyncio.run(poll(db, cfg, PollOptions(resolve=stub_resolve, now=lambda: fixed)))
    Clusterer(ClusterState(db), cfg.settings.window_hours, now=lambda: fixed).run()
    db.close()
    return cfg
