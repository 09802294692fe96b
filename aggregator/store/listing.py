"""Stories and their members as the outputs (site, digest, clusters) read them."""

from __future__ import annotations

import json
from collections import defaultdict

from aggregator.model import Member, StoryQuery, StoryView
from aggregator.store import Database, in_parts


def newest_time(db: Database) -> str | None:
    row = db.execute("SELECT MAX(sort_time) FROM articles").fetchone()
    return str(row[0]) if row and row[0] else None


def load_stories(db: Database, query: StoryQuery | None = None) -> list[StoryView]:
    """The stories ``query`` asks for, by id; not ranked (publish.ranking ranks them)."""
    query = query or StoryQuery()
    since, ids, outlet, search = query.since, query.ids, query.outlet, query.search
    min_outlets, linked_since = query.min_outlets, query.linked_since
    where = ["s.outlet_count >= ?"]
    args: list[object] = [min_outlets]
    if since:
        where.append("s.updated >= ?")
        args.append(since)
    if linked_since:
        where.append("s.id IN (SELECT story_id FROM story_links WHERE linked_at > ?)")
        args.append(linked_since)
    if ids is not None:
        if not ids:  # an empty IN () is SQLite's only
            return []
        where.append(f"s.id IN ({','.join('?' * len(ids))})")
        args.extend(ids)
    if outlet:
        where.append(
            "s.id IN (SELECT l.story_id FROM story_links l JOIN articles a "
            "ON a.id = l.article_id WHERE lower(a.outlet) = lower(?))"
        )
        args.append(outlet)
    if search:
        where.append(
            "s.id IN (SELECT l.story_id FROM story_links l WHERE l.article_id IN "
            f"({_SEARCH[db.dialect]}))"
        )
        args.append(_fts_query(search) if db.dialect == "sqlite" else search)
    stories = db.query(f"SELECT * FROM stories s WHERE {' AND '.join(where)}", args)
    if not stories:
        return []
    members = _members(db, [s["id"] for s in stories])
    return [
        StoryView(
            id=s["id"],
            title=s["title"],
            lead=s["lead"],
            first_seen=s["first_seen"],
            updated=s["updated"],
            outlets_updated=s["outlets_updated"],
            outlets=tuple(json.loads(s["outlets"])),
            independent_reports=s["independent_reports"],
            article_count=s["article_count"],
            rank=0.0,
            members=tuple(members.get(s["id"], ())),
        )
        for s in sorted(stories, key=lambda s: str(s["id"]))
    ]


def first_linked(db: Database, ids: list[str]) -> dict[str, str]:
    """story id -> when its first article was linked."""
    if not ids:  # an empty IN () is SQLite's only
        return {}
    rows = db.execute(
        f"SELECT story_id, MIN(linked_at) FROM story_links "
        f"WHERE story_id IN ({','.join('?' * len(ids))}) GROUP BY story_id",
        ids,
    )
    return {str(sid): str(t) for sid, t in rows}


# The articles whose title or summary holds every word searched for, in any case: FTS5's
# unicode61 words on SQLite, the 'simple' configuration's (no stemming, no stop words) on
# PostgreSQL, where the words reach the server only as plain text to split.
_SEARCH = {
    "sqlite": "SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?",
    "postgresql": "SELECT id FROM articles WHERE search @@ plainto_tsquery('simple', ?)",
}


def _fts_query(text: str) -> str:
    # Each word as a quoted prefix-free phrase: user input never reaches FTS5 syntax.
    words = [w.replace('"', '""') for w in text.split()]
    return " ".join(f'"{w}"' for w in words) or '""'


def _members(db: Database, ids: list[str]) -> dict[str, list[Member]]:
    out: dict[str, list[Member]] = defaultdict(list)
    for part, marks in in_parts(ids):
        rows = db.query(
            f"""SELECT l.story_id, a.id, a.outlet, a.title, a.summary, a.url, a.published,
                      a.sort_time, l.kind, l.score, l.matched_article_id, l.shared_terms,
                      c.source_id, f.country, f.owner, f.role
               FROM story_links l JOIN articles a ON a.id = l.article_id
               JOIN feeds f ON f.url = a.feed_url
               LEFT JOIN copies c ON c.article_id = a.id
               WHERE l.story_id IN ({marks})
               ORDER BY a.sort_time, a.feed_url, a.key""",
            part,
        )
        for r in rows:
            out[r["story_id"]].append(
                Member(
                    article_id=r["id"],
                    outlet=r["outlet"],
                    title=r["title"],
                    summary=r["summary"],
                    url=r["url"],
                    published=r["published"],
                    sort_time=r["sort_time"],
                    kind=r["kind"],
                    score=r["score"],
                    matched_article_id=r["matched_article_id"],
                    shared_terms=tuple(json.loads(r["shared_terms"])),
                    copy_of=r["source_id"],
                    country=r["country"],
                    owner=r["owner"],
                    role=r["role"],
                )
            )
    return out
