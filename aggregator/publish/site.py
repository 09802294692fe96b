"""`aggregator build`: render the static site and publish it atomically.

The site is written into a fresh folder beside the target, then the target (a symbolic link)
is switched to it with one rename, so a web server never serves half a site. An unchanged
database renders byte-identical files apart from the build stamp in index.html.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aggregator.errors import AggregatorError
from aggregator.model import Config, StoryView
from aggregator.publish import builds, render
from aggregator.publish.ranking import current_stories
from aggregator.store import open_db
from aggregator.store.feeds import health
from aggregator.store.listing import newest_time
from aggregator.times import iso, parse_iso

_SAFE_ID = re.compile(r"^[a-z0-9]{1,40}$")
_SAFE_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class SitePages:
    files: dict[str, str]  # relative path -> content


def pages(
    config: Config, stories: list[StoryView], feeds: list[Any], built: str, ref: str | None
) -> SitePages:
    """Every file of the site, as text. Pure apart from template loading."""
    env = render.environment(config.settings.templates)
    s = config.settings
    base = {"site_title": s.site_title}
    files: dict[str, str] = {}
    ref_dt = parse_iso(ref)
    recent_since = iso(ref_dt - timedelta(days=s.site_days)) if ref_dt else ""
    recent = [st for st in stories if st.updated >= recent_since]
    multi = [st for st in recent if not st.single_outlet]
    singles = [st for st in recent if st.single_outlet] if s.single_source else []
    by_day: dict[str, list[StoryView]] = defaultdict(list)
    for st in stories:
        if _SAFE_DAY.match(st.first_seen[:10]):
            by_day[st.first_seen[:10]].append(st)
    days = sorted(by_day, reverse=True)
    files["index.html"] = render.render(
        env,
        "index.html",
        {
            **base,
            "root": "",
            "stories": multi,
            "singles": singles,
            "days": days[:14],
            "built": built,
        },
    )
    for st in stories:
        if not _SAFE_ID.match(st.id):
            raise AggregatorError(f"refusing unsafe story id {st.id!r}")
        files[f"story/{st.id}.html"] = render.render(
            env, "story.html", {**base, "root": "../", "story": st}
        )
    for day in days:
        files[f"archive/{day}.html"] = render.render(
            env, "archive.html", {**base, "root": "../", "day": day, "stories": by_day[day]}
        )
    files["archive/index.html"] = render.render(
        env,
        "archive_index.html",
        {**base, "root": "../", "days": [(d, len(by_day[d])) for d in days]},
    )
    files["outlets.html"] = render.render(env, "outlets.html", {**base, "root": "", "feeds": feeds})
    feed_stories = sorted(
        stories, key=lambda x: (x.outlets_updated, x.first_seen, x.title, x.id), reverse=True
    )[:100]
    updated = max((x.outlets_updated for x in feed_stories), default="1970-01-01T00:00:00Z")
    files["stories.atom"] = render.render(
        env, "stories.atom", {**base, "stories": feed_stories, "updated": updated}
    )
    files["stories.json"] = render.json_feed(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": f"{s.site_title}: stories",
            "home_page_url": "index.html",
            "feed_url": "stories.json",
            "items": [
                {
                    "id": f"urn:aggregator:story:{x.id}",
                    "url": f"story/{x.id}.html",
                    "title": x.title,
                    "summary": f"{len(x.outlets)} outlets: {', '.join(x.outlets)}",
                    "content_text": "\n".join(
                        f"{m.outlet}: {m.title} {render.safe_url(m.url) or ''}".strip()
                        for m in x.members
                    ),
                    "date_published": x.first_seen,
                    "date_modified": x.outlets_updated,
                    "tags": list(x.outlets),
                }
                for x in feed_stories
            ],
        }
    )
    css = Path(config.settings.templates or "", "style.css")
    if config.settings.templates and css.is_file():
        files["style.css"] = css.read_text(encoding="utf-8")
    else:
        files["style.css"] = render.builtin("style.css")
    return SitePages(files)


def build_site(config: Config, out: Path | None = None, now: datetime | None = None) -> Path:
    db = open_db(config.settings.database, create=False)
    try:
        stories = current_stories(db)
        feeds = health(db, [f.url for f in config.feeds])
        ref = newest_time(db)
    finally:
        db.close()
    site = pages(config, stories, feeds, iso(now or datetime.now(UTC)), ref)
    return builds.publish(out or Path(config.settings.site_dir), site.files)
