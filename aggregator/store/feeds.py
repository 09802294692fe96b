"""Feed state and articles in the store."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from aggregator.model import (
    Article,
    AwaitingText,
    FeedConfig,
    FeedHealth,
    FeedState,
    FeedUpdate,
    NotModified,
)
from aggregator.store import PENDING_CHANNEL, Database, in_parts
from aggregator.times import iso
from aggregator.urls import host as url_host

# The PostgreSQL advisory lock under which feeds.toml is written to the store ('feed' in ASCII).
SYNC_LOCK = 0x66656564
# The columns feeds.toml sets, in FeedConfig's order.
_CONFIGURED = ("url", "outlet", "language", "country", "owner", "role", "fulltext", "interval")
# A listed feed's columns refreshed from feeds.toml, and its host: claims count a poller's feeds
# by the host their polls go to (store.claims), the configured address's until a poll records a
# confirmed move (FeedUpdate.host), so a feed's host is written once and then by its polls.
_REFRESHED = ", ".join(
    [*(f"{c}=excluded.{c}" for c in _CONFIGURED[1:]), "host=COALESCE(feeds.host, excluded.host)"]
)


def sync_feeds(db: Database, feeds: Sequence[FeedConfig]) -> None:
    """Insert configured feeds and refresh their metadata; keeps every polling state column.
    The feeds listed are exactly these: pollers claim only listed feeds (store.claims).

    Only the rows that differ are written, so pollers starting together with the same
    feeds.toml lock no feed row; on PostgreSQL they take turns under SYNC_LOCK (SQLite's
    transaction already holds the write lock), so two never write the same rows at once."""
    wanted = {f.url: _configured(f) for f in feeds}
    with db.transaction():
        if db.dialect == "postgresql":
            db.execute("SELECT pg_advisory_xact_lock(?)", (SYNC_LOCK,))
        stored = {  # by URL: the configured columns, whether a host is known, whether listed
            r[0]: (tuple(r[:-2]), r[-2] is not None, bool(r[-1]))
            for r in db.execute(f"SELECT {', '.join(_CONFIGURED)}, host, listed FROM feeds")
        }
        gone = [u for u, (_, _, listed) in stored.items() if listed and u not in wanted]
        for part, marks in in_parts(gone):
            db.execute(f"UPDATE feeds SET listed = 0 WHERE url IN ({marks})", part)
        db.executemany(
            f"""INSERT INTO feeds ({", ".join(_CONFIGURED)}, host, listed)
               VALUES ({", ".join("?" * len(_CONFIGURED))}, ?, 1)
               ON CONFLICT(url) DO UPDATE SET {_REFRESHED}, listed=1""",
            [
                (*row, url_host(u))
                for u, row in wanted.items()
                if stored.get(u) != (row, True, True)
            ],
        )


def _configured(f: FeedConfig) -> tuple[Any, ...]:
    """A feed's configured columns as the store holds them."""
    return (f.url, f.outlet, f.language, f.country, f.owner, f.role, int(f.fulltext), f.interval)


def feed_states(db: Database, urls: Iterable[str]) -> list[FeedState]:
    wanted = list(urls)
    rows: dict[str, dict[str, Any]] = {}
    for part, marks in in_parts(wanted):
        found = db.query(f"SELECT * FROM feeds WHERE url IN ({marks})", part)
        rows.update((r["url"], r) for r in found)
    return [state(rows[u]) for u in wanted if u in rows]


def state(r: dict[str, Any]) -> FeedState:
    return FeedState(
        url=str(r["url"]),
        outlet=str(r["outlet"]),
        language=r["language"],
        fulltext=bool(r["fulltext"]),
        interval=r["interval"],
        etag=r["etag"],
        last_modified=r["last_modified"],
        body_hash=r["body_hash"],
        failures=int(r["failures"] or 0),
        next_due=r["next_due"],
        retry_until=r["retry_until"],
        gone=bool(r["gone"]),
        redirect_to=r["redirect_to"],
        redirect_count=int(r["redirect_count"] or 0),
        ttl_minutes=r["ttl_minutes"],
    )


def content_hash(a: Article) -> str:
    h = hashlib.sha256()
    for part in (a.url or "", a.title, a.summary, a.content_html, a.author, a.published_raw):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def save_success(
    db: Database,
    update: FeedUpdate,
    outlet: str,
    articles: Sequence[Article],
    fulltexts: Mapping[str, str] | None = None,
) -> int:
    """Store a feed's articles and new validators together; return how many articles are new.

    Existing articles are updated in place only when their content changed; nothing is deleted.
    With ``fulltexts`` (a full-text feed's extracted texts by article key, '' where a page was
    tried and gave none), a new article whose page was not tried yet is stored without text and
    waits for it (``awaiting_text``) before it is clustered.
    """
    now = iso(update.now)
    waits = fulltexts is not None
    fulltexts = fulltexts or {}
    with db.transaction():
        existing = _existing(db, update.url, [a.key for a in articles])
        fresh: list[dict[str, object]] = []
        changed: list[dict[str, object]] = []
        changed_ids: list[tuple[int]] = []
        seen: set[str] = set()
        for a in articles:
            if a.key in seen:
                continue
            seen.add(a.key)
            published = iso(a.published) if a.published else None
            row: dict[str, object] = {
                "feed_url": update.url,
                "key": a.key,
                "outlet": outlet,
                "url": a.url,
                "title": a.title,
                "summary": a.summary,
                "content_html": a.content_html,
                "author": a.author,
                "published": published,
                "published_raw": a.published_raw,
                "first_seen": now,
                "sort_time": published or now,
                "language": a.language,
                "fulltext": fulltexts.get(a.key),
                "content_hash": content_hash(a),
                "updated": now,
            }
            if a.key not in existing:
                fresh.append(row)
            elif existing[a.key][1] != row["content_hash"]:
                changed_ids.append((existing[a.key][0],))
                changed.append(row)
        inserted = _insert(db, fresh)
        db.executemany(
            """UPDATE articles SET url=:url, title=:title, summary=:summary,
                 content_html=:content_html, author=:author, published=:published,
                 published_raw=:published_raw, content_hash=:content_hash, updated=:updated,
                 fulltext=COALESCE(:fulltext, fulltext)
               WHERE feed_url=:feed_url AND key=:key""",
            changed,
        )
        # A changed article's later feed-mates sample its new text, not the lines it was
        # clustered with.
        db.executemany("UPDATE article_sketches SET lines = NULL WHERE article_id = ?", changed_ids)
        new = len(inserted)
        queued = [(aid,) for aid, has_text in inserted if has_text or not waits]
        if db.dialect == "sqlite":  # PostgreSQL keeps its search index as rows are written
            db.executemany(
                "INSERT INTO fts_pending (article_id) VALUES (?) ON CONFLICT DO NOTHING",
                [(aid,) for aid, _ in inserted] + changed_ids,
            )
        _queue(db, queued)
        if queued:
            _wake_clusterer(db)
        db.execute(
            """UPDATE feeds SET etag=?, last_modified=?, body_hash=?, last_status=?, ok=1,
                 error_kind=NULL, error=NULL, failures=0, last_polled=?, last_success=?,
                 next_due=?, retry_until=NULL, ttl_minutes=?, title=COALESCE(?, title),
                 redirect_to=?, redirect_count=?, host=COALESCE(?, host),
                 last_new_article=CASE WHEN ? > 0 THEN ? ELSE last_new_article END
               WHERE url=?""",
            (
                update.etag,
                update.last_modified,
                update.body_hash,
                update.status,
                now,
                now,
                iso(update.next_due),
                update.ttl_minutes,
                update.title,
                update.redirect_to,
                update.redirect_count,
                update.host,
                new,
                now,
                update.url,
            ),
        )
    return new


# The columns of a new article, in the order both inserts below give them.
_ARTICLE_COLUMNS = (
    "feed_url", "key", "outlet", "url", "title", "summary", "content_html", "author",
    "published", "published_raw", "first_seen", "sort_time", "language", "fulltext",
    "content_hash", "updated",
)  # fmt: skip
_INSERT_ARTICLE = (
    f"INSERT INTO articles ({', '.join(_ARTICLE_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in _ARTICLE_COLUMNS)})"
)
# PostgreSQL: the new articles as one array per column, in one statement and one round trip.
_INSERT_ARTICLES_PG = (
    f"INSERT INTO articles ({', '.join(_ARTICLE_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join("?::text[]" for _ in _ARTICLE_COLUMNS)
    + ") ON CONFLICT (feed_url, key) DO NOTHING RETURNING id, fulltext IS NOT NULL"
)


def _insert(db: Database, rows: Sequence[dict[str, object]]) -> list[tuple[int, bool]]:
    """Insert new articles; each one inserted, with whether it has its text. An article another
    poller stored meanwhile (PostgreSQL: a lease that ran out mid-poll) is skipped, not doubled."""
    if db.dialect == "sqlite":
        # The transaction holds the write lock: every id above the highest is one of ours.
        (last_id,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM articles").fetchone()
        db.executemany(_INSERT_ARTICLE, rows)
        found = db.execute(
            "SELECT id, fulltext IS NOT NULL FROM articles WHERE id > ? ORDER BY id", (last_id,)
        )
        return [(int(aid), bool(has_text)) for aid, has_text in found]
    if not rows:
        return []
    columns = [[row[c] for row in rows] for c in _ARTICLE_COLUMNS]
    found = db.execute(_INSERT_ARTICLES_PG, columns)
    return sorted((int(aid), bool(has_text)) for aid, has_text in found)


def _existing(db: Database, feed_url: str, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
    """Id and content hash of those of ``keys`` the feed already has: looked up by key, so a
    poll's cost does not grow with the feed's archive (docs/tuning.md, "Speed")."""
    unique = sorted(set(keys))
    found: dict[str, tuple[int, str]] = {}
    for part, marks in in_parts(unique):
        rows = db.execute(
            f"SELECT id, key, content_hash FROM articles WHERE feed_url = ? AND key IN ({marks})",
            (feed_url, *part),
        )
        found.update((k, (aid, h)) for aid, k, h in rows)
    return found


def known_keys(db: Database, feed_url: str, keys: Sequence[str]) -> set[str]:
    """Those of ``keys`` the feed already has."""
    return set(_existing(db, feed_url, keys))


def awaiting_text(db: Database, feed_url: str) -> list[AwaitingText]:
    """The feed's articles that wait for their page's text before they are clustered (stored
    without text, in no story and not queued), oldest first."""
    rows = db.query(
        # NOT EXISTS, not NOT IN: PostgreSQL hashed every story link for a NOT IN.
        """SELECT id, key, url, first_seen FROM articles a
           WHERE feed_url = ? AND fulltext IS NULL
             AND NOT EXISTS (SELECT 1 FROM cluster_pending p WHERE p.article_id = a.id)
             AND NOT EXISTS (SELECT 1 FROM story_links l WHERE l.article_id = a.id)
           ORDER BY id""",
        (feed_url,),
    )
    return [AwaitingText(r["id"], r["key"], r["url"], r["first_seen"]) for r in rows]


def save_fulltexts(db: Database, texts: Mapping[int, str]) -> None:
    """Articles that waited get their text ('' when none could be had) and go to clustering."""
    with db.transaction():
        db.executemany(
            "UPDATE articles SET fulltext = ? WHERE id = ?", [(t, i) for i, t in texts.items()]
        )
        _queue(db, [(i,) for i in texts])
        if texts:
            _wake_clusterer(db)


def _queue(db: Database, ids: Sequence[tuple[int]]) -> None:
    """The articles ``ids`` into the clusterer's queue, each with its clustering order."""
    db.executemany(
        "INSERT INTO cluster_pending (article_id, sort_time, feed_url, key)"
        " SELECT id, sort_time, feed_url, key FROM articles WHERE id = ?"
        " ON CONFLICT DO NOTHING",
        ids,
    )


def _wake_clusterer(db: Database) -> None:
    """Tell a waiting clusterer (PostgreSQL) there is work, once the transaction commits."""
    if db.dialect == "postgresql":
        db.execute(f"NOTIFY {PENDING_CHANNEL}")


def save_not_modified(db: Database, rows: Sequence[NotModified]) -> None:
    """Record many unchanged polls in one transaction (they touch only schedule columns)."""
    if not rows:
        return
    with db.transaction():
        db.executemany(
            """UPDATE feeds SET last_status=?, ok=1, error_kind=NULL, error=NULL, failures=0,
                 last_polled=?, last_success=?, next_due=?, retry_until=NULL,
                 redirect_to=?, redirect_count=?, host=COALESCE(?, host) WHERE url=?""",
            [
                (
                    r.status,
                    iso(r.now),
                    iso(r.now),
                    iso(r.next_due),
                    r.redirect_to,
                    r.redirect_count,
                    r.host,
                    r.url,
                )
                for r in rows
            ],
        )


def save_failure(
    db: Database,
    url: str,
    status: int | None,
    kind: str,
    message: str,
    now: datetime,
    next_due: datetime | None,
    retry_until: datetime | None,
    gone: bool = False,
) -> None:
    with db.transaction():
        db.execute(
            """UPDATE feeds SET last_status=?, ok=0, error_kind=?, error=?, failures=failures+1,
                 last_polled=?, next_due=?, retry_until=?,
                 gone=CASE WHEN ? = 1 THEN 1 ELSE gone END WHERE url=?""",
            (
                status,
                kind,
                message[:500],
                iso(now),
                iso(next_due) if next_due else None,
                iso(retry_until) if retry_until else None,
                int(gone),
                url,
            ),
        )


def index_pending(db: Database) -> int:
    """Bring SQLite's full-text index up to date in one transaction, in bulk rather than row by
    row (docs/tuning.md, "Speed"). PostgreSQL keeps its own."""
    if db.dialect != "sqlite":
        return 0
    with db.transaction():
        (n,) = db.execute("SELECT COUNT(*) FROM fts_pending").fetchone()
        if n:
            db.execute(
                "DELETE FROM articles_fts WHERE rowid IN (SELECT article_id FROM fts_pending)"
            )
            db.execute("""INSERT INTO articles_fts (rowid, title, summary)
                            SELECT a.id, a.title, a.summary FROM articles a
                            JOIN fts_pending p ON p.article_id = a.id""")
            db.execute("DELETE FROM fts_pending")
    return int(n)


def health(db: Database, urls: Sequence[str] | None = None) -> list[FeedHealth]:
    rows = db.query("""
        SELECT f.*, (SELECT COUNT(*) FROM articles a WHERE a.feed_url = f.url) AS n
        FROM feeds f ORDER BY f.outlet, f.url""")
    wanted = None if urls is None else set(urls)
    out = []
    for r in rows:
        if wanted is not None and r["url"] not in wanted:
            continue
        out.append(
            FeedHealth(
                url=r["url"],
                outlet=r["outlet"],
                ok=bool(r["ok"]),
                error_kind=r["error_kind"],
                error=r["error"],
                failures=r["failures"],
                articles=r["n"],
                last_polled=r["last_polled"],
                last_status=r["last_status"],
                last_new_article=r["last_new_article"],
                next_due=r["next_due"],
                gone=bool(r["gone"]),
                redirect_to=r["redirect_to"],
                language=r["language"],
                country=r["country"],
                owner=r["owner"],
                role=r["role"],
            )
        )
    return out
