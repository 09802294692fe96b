"""Commands end to end: OPML round trip, full-text extraction with boilerplate removal,
`aggregator run`, `clusters` filters and formats, `feeds --failing`."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from conftest import FeedServer, healthy_feed, respond, rss, write_config

from aggregator.cli import main
from aggregator.config import load_config
from aggregator.matching import text as tx

BOILER = [
    "Home > World > Middle East",
    "Share this article on social media",
    "Follow our channel on Telegram for breaking news",
    "This article is also available at our mirror sites",
]


def page(title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    nav = "".join(f"<p>{b}</p>" for b in BOILER)
    return (f"<!doctype html><html><head><title>{title}</title></head><body>"
            f"<nav><a href='/'>Home</a></nav><article><h1>{title}</h1>{nav}{body}"
            f"<figure><figcaption>File photo</figcaption></figure></article>"
            f"<footer>{nav}</footer></body></html>").encode()


def test_opml_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_config(tmp_path, [
        {"url": "https://a.example/rss", "outlet": "Alpha News", "country": "GB", "owner": "A Group",
         "role": "wire", "language": "en", "fulltext": True, "interval": 30},
        {"url": "https://b.example/feed", "outlet": "Beta & Co", "role": "opinion"},
    ])
    assert main(["--config", str(src), "feeds", "export"]) == 0
    opml = capsys.readouterr().out
    (tmp_path / "feeds.opml").write_text(opml, encoding="utf-8")
    other = tmp_path / "other"
    other.mkdir()
    target = write_config(other, [])
    assert main(["--config", str(target), "feeds", "import", str(tmp_path / "feeds.opml")]) == 0
    assert "imported 2 feeds" in capsys.readouterr().out
    assert load_config(target).feeds == load_config(src).feeds
    assert main(["--config", str(target), "feeds", "import", str(tmp_path / "feeds.opml")]) == 0
    assert "imported 0 feeds" in capsys.readouterr().out


def test_fulltext_is_extracted_and_boilerplate_dropped(server: FeedServer, tmp_path: Path) -> None:
    stories = [
        ("Port strike halts Rotterdam", ["Dockers at Rotterdam walked out on Monday over pay.",
                                         "The union said the strike would last three days."]),
        ("Floods close schools in Bavaria", ["Heavy rain flooded towns across Bavaria.",
                                             "Officials closed schools near the Danube."]),
        ("Wildfire near Valparaiso", ["A wildfire burned homes in the hills above Valparaiso.",
                                      "Firefighters evacuated two neighbourhoods overnight."]),
        ("Earthquake shakes Sumatra", ["A 6.8 earthquake struck off Sumatra on Tuesday.",
                                       "No tsunami warning was issued, officials said."]),
        ("Senate passes climate bill", ["The Senate passed the climate and tax bill.",
                                        "The House will vote on Friday."]),
    ]
    items = []
    for i, (title, paras) in enumerate(stories):
        server.routes[f"/a/{i}"] = respond(page(title, paras), content_type="text/html")
        items.append({"title": title, "link": server.url(f"/a/{i}"), "guid": f"p{i}",
                      "description": paras[0]})
    server.routes["/ft.xml"] = respond(rss(items))
    cfg = write_config(tmp_path, [{"url": server.url("/ft.xml"), "outlet": "Page TV",
                                   "fulltext": True}])
    assert main(["--config", str(cfg), "poll"]) == 0
    db = sqlite3.connect(tmp_path / "aggregator.db")
    texts = [t for (t,) in db.execute("SELECT fulltext FROM articles ORDER BY id")]
    assert all(texts) and "last three days" in texts[0]
    boiler = tx.recurring_lines(map(tx.line_hashes, texts), tx.BOILERPLATE_SHARE,
                                tx.BOILERPLATE_MIN_DOCS)
    for t in texts:
        kept = tx.strip_lines(t, boiler)
        for b in BOILER:
            assert b.lower() not in kept.lower()
        assert kept.strip()
    # The extracted text is for matching only: it is never published.
    assert main(["--config", str(cfg), "build"]) == 0
    site = tmp_path / "site"
    assert not any("last three days" in p.read_text(encoding="utf-8")
                   for p in site.rglob("*.html"))


def test_run_and_clusters_filters(server: FeedServer, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    events = [("Harbour bridge closed after inspectors find cracks in supports",
               "Inspectors closed the harbour bridge in Westport after finding cracks."),
              ("Dockers strike over pay halts Rotterdam container port",
               "Dockers at Rotterdam walked out over wages, halting container traffic.")]
    feeds = []
    for o, outlet in enumerate(["Daily Planet", "Evening Star", "Morning Post"]):
        items = [{"title": f"{t}, {outlet} reports", "link": f"https://{o}.example/{e}",
                  "guid": f"{o}-{e}", "description": f"{d} ({outlet})",
                  "pubDate": f"Sun, 01 Nov 2026 0{e + o}:30:00 GMT"}
                 for e, (t, d) in enumerate(events)]
        server.routes[f"/{o}.xml"] = respond(rss(items))
        feeds.append({"url": server.url(f"/{o}.xml"), "outlet": outlet})
    cfg = write_config(tmp_path, feeds, email={"maildir": "inbox", "sender": "d@example.org",
                                               "send_hour": 0})
    assert main(["--config", str(cfg), "run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == ["poll", "cluster", "build", "email"]
    assert out[0].startswith("poll: 3 feeds ok, 0 failed, 6 new articles")
    assert "digest for" in out[3] and "sent" in out[3]
    assert main(["--config", str(cfg), "run", "--skip-poll", "--skip-build"]) == 0
    again = capsys.readouterr().out
    assert "already sent" in again and "poll:" not in again

    assert main(["--config", str(cfg), "clusters", "--json", "--min-outlets", "3"]) == 0
    stories = json.loads(capsys.readouterr().out)
    assert len(stories) == 2 and all(len(s["outlets"]) == 3 for s in stories)
    assert main(["--config", str(cfg), "clusters", "--json", "--search", "Rotterdam"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert len(found) == 1 and "Rotterdam" in found[0]["title"]
    assert main(["--config", str(cfg), "clusters", "--json", "--outlet", "morning post",
                 "--limit", "1"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1
    assert main(["--config", str(cfg), "clusters", "--json", "--since", "2000-01-01"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    assert main(["--config", str(cfg), "clusters", "--csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][0] == "story_id" and len(rows) == 7
    assert main(["--config", str(cfg), "clusters"]) == 0
    text = capsys.readouterr().out
    assert "3 outlets" in text and all(len(line) <= 80 for line in text.splitlines())
    assert main(["--config", str(cfg), "clusters", "--since", "soon"]) == 1


@pytest.mark.parametrize(("option", "value"), [("--limit", "-1"), ("--limit", "0"),
                                               ("--min-outlets", "0"), ("--limit", "ten")])
def test_clusters_refuses_counts_below_one(option: str, value: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    # `--limit -1` used to list all but the last story; a count is checked before any work.
    with pytest.raises(SystemExit) as stop:
        main(["clusters", option, value])
    assert stop.value.code == 2
    assert f"argument {option}: {value!r} is not a whole number, 1 or more" in capsys.readouterr().err


def test_feeds_failing_lists_only_the_feeds_whose_last_poll_failed(
    server: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Of a feed that works, one answering 404, one gone (410) and one never polled, only the
    404 is failing: the feeds status counts as failing, and those a poll's line points to."""
    server.routes["/ok.xml"] = respond(healthy_feed(1, "ok"))
    server.routes["/missing.xml"] = respond(b"not here", status=404, content_type="text/plain")
    server.routes["/gone.xml"] = respond(b"gone", status=410, content_type="text/plain")
    feeds = [{"url": server.url(f"/{name}.xml"), "outlet": name.title()}
             for name in ("ok", "missing", "gone")]
    assert main(["--config", str(write_config(tmp_path, feeds)), "poll", "--no-cluster"]) == 0
    assert "see `aggregator feeds --failing -v`" in capsys.readouterr().out
    cfg = write_config(tmp_path, [*feeds, {"url": server.url("/new.xml"), "outlet": "New"}])

    assert main(["--config", str(cfg), "feeds"]) == 0
    everything = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in everything[1:]] == [
        ["Ok", "ok"], ["Missing", "http_4xx"], ["Gone", "gone"], ["New", "never"]]
    assert main(["--config", str(cfg), "feeds", "--failing", "-v"]) == 0
    failing = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in failing[1:2]] == [["Missing", "http_4xx"]]
    assert len(failing) == 3 and "404" in failing[2]  # the header, the feed, its error
    assert main(["--config", str(cfg), "feeds", "--failing", "--json"]) == 0
    assert [h["outlet"] for h in json.loads(capsys.readouterr().out)] == ["Missing"]
