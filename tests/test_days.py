"""A user's first days: the daily job (`aggregator run`'s stages) on four consecutive simulated
days, with the default configuration and no explicit paths. Loopback feeds change every day;
the digest goes to a real SMTP server (aiosmtpd). Each day's site and digest are checked."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

from conftest import FeedServer, Sink, respond, rss

from aggregator.config import load_config
from aggregator.jobs import run_all
from aggregator.publish.builds import KEEP_BUILDS

DAYS = 4
FIRST = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
OUTLETS = ("Daily Planet", "Evening Star", "Morning Post")
# Two events a day, each told by every outlet, and one item only the first outlet has.
EVENTS = [
    ("Harbour bridge in Westport closed after inspectors find cracks",
     "Inspectors closed the Westport harbour bridge after finding cracks in two supports."),
    ("Dockers strike over pay halts Rotterdam container port",
     "Dockers at Rotterdam walked out over wages, halting container traffic at the port."),
    ("Floods close schools across Bavaria as the Danube rises",
     "Heavy rain flooded towns across Bavaria and officials closed schools near the Danube."),
    ("Wildfire forces evacuations in the hills above Valparaiso",
     "A wildfire burned homes above Valparaiso and firefighters evacuated two neighbourhoods."),
    ("Earthquake of magnitude 6.8 strikes off Sumatra, no tsunami warning",
     "A 6.8 earthquake struck off Sumatra on Tuesday; no tsunami warning was issued."),
    ("Senate passes climate and tax bill after marathon session",
     "The Senate passed the climate and tax bill; the House votes on Friday."),
    ("Copper price hits record as Chilean mine strike drags on",
     "Copper reached a record price while the strike at Chile's largest mine continued."),
    ("Heatwave breaks June temperature record in Seville",
     "Seville recorded its hottest June day as a heatwave gripped southern Spain."),
]


# What only the first outlet reports, one a day.
LOCAL = [
    ("Library extends opening hours on weekdays", "The town library opens until 9pm from Monday."),
    ("New bus line links the station and the hospital", "Line 12 runs every ten minutes."),
    ("Swimming pool closes for a month of repairs", "The roof of the pool needs new beams."),
    ("Farmers market moves to the old cattle hall", "Stalls open on Saturday mornings."),
]


def _day(n: int) -> datetime:
    return FIRST + timedelta(days=n)


def _feed(outlet: int, upto: int) -> bytes:
    """What outlet ``outlet`` serves on day ``upto``: its reports of every day so far."""
    items = []
    for day in range(upto + 1):
        stamp = (_day(day) - timedelta(hours=2)).strftime("%a, %d %b %Y %H:%M:%S GMT")
        for e in (2 * day, 2 * day + 1):
            title, text = EVENTS[e]
            items.append({"title": f"{title} ({OUTLETS[outlet]})", "guid": f"{outlet}-{e}",
                          "link": f"https://{outlet}.example/{e}",
                          "description": f"{text} Reported by {OUTLETS[outlet]}.",
                          "pubDate": stamp})
        if outlet == 0:
            items.append({"title": LOCAL[day][0], "guid": f"local-{day}",
                          "link": f"https://0.example/local/{day}",
                          "description": LOCAL[day][1], "pubDate": stamp})
    return rss(items, title=OUTLETS[outlet])


def test_four_days_of_the_daily_job(server: FeedServer, smtp: Sink, tmp_path: Path) -> None:
    feeds = "".join(
        f'\n[[feeds]]\nurl = "{server.url(f"/{i}.xml")}"\noutlet = "{o}"\n'
        for i, o in enumerate(OUTLETS))
    (tmp_path / "feeds.toml").write_text(
        '[settings]\nallowed_private_networks = ["127.0.0.1/32"]\n'
        f'\n[email]\nsmtp_host = "127.0.0.1"\nsmtp_port = {smtp.port}\n'  # type: ignore[attr-defined]
        'security = "none"\nsender = "digest@example.org"\nrecipients = ["ana@example.org"]\n'
        + feeds, encoding="utf-8")
    config = load_config(tmp_path / "feeds.toml")
    site = tmp_path / "site"
    for day in range(DAYS):
        for i in range(len(OUTLETS)):
            server.routes[f"/{i}.xml"] = respond(_feed(i, day), modified_at=_day(day))
        now = _day(day)
        lines = list(run_all(config, now=lambda now=now: now))  # type: ignore[misc]
        print(f"day {day + 1} ({now:%Y-%m-%d}):", *(line for line, _ in lines), sep="\n  ")
        assert [line.split(":")[0] for line, _ in lines] == ["poll", "cluster", "build", "email"]
        assert all(ok for _, ok in lines), lines
        assert lines[0][0].startswith("poll: 3 feeds ok, 0 failed, 7 new articles")

        # The site: today's stories on the front page, told by all three outlets.
        assert site.is_symlink()
        front = (site / "index.html").read_text(encoding="utf-8")
        for e in (2 * day, 2 * day + 1):
            assert EVENTS[e][0] in front
        stories = json.loads((site / "stories.json").read_text(encoding="utf-8"))["items"]
        today = [s for s in stories if s["date_published"].startswith(f"{now:%Y-%m-%d}")]
        assert len(today) == 3 and sum(len(s["tags"]) == 3 for s in today) == 2
        builds = sorted(p.name for p in (tmp_path / ".site-builds").iterdir()
                        if not p.name.startswith("."))
        assert len(builds) == min(2 * day + 1, KEEP_BUILDS + 1)  # two runs a day
        assert all(b.startswith("build-") for b in builds)  # complete ones only

        # The digest: one message for the day, with the day's stories and not yesterday's.
        assert len(smtp.messages) == day + 1
        msg = email.message_from_bytes(smtp.messages[-1], policy=policy.default)
        assert msg["Message-ID"] == f"<digest.default.{now:%Y-%m-%d}@example.org>"
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        for e in (2 * day, 2 * day + 1):
            assert EVENTS[e][0] in text
        assert LOCAL[day][0] in text
        for e in range(2 * day):
            assert EVENTS[e][0] not in text

        # Run again the same day: nothing new, the digest is not sent twice, the build works.
        again = list(run_all(config, now=lambda now=now: now))  # type: ignore[misc]
        assert all(ok for _, ok in again), again
        assert "already sent" in again[3][0] and len(smtp.messages) == day + 1
