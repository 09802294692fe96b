"""Clustering state in the store: sketches, term statistics, links, copies, stories, aliases."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from itertools import groupby
from typing import Any

from aggregator.model import (
    Assignment,
    Cursor,
    NewSketch,
    PendingArticle,
    StoredSketch,
    body_text,
)
from aggregator.store import Database, in_parts, vectors
from aggregator.store.schema import FILL_QUEUE_ORDER
from aggregator.times import iso


def _save_sketches(
    db: Database,
    sketches: Sequence[NewSketch],
    assignment: Assignment,
    sketch_version: str,
) -> None:
    """The new articles' vectors and signatures, and every article's new nearest neighbour (a
    new article's with its row)."""
    nearest = {n.article_id: (n.neighbour_id, n.score) for n in assignment.neighbours}
    db.executemany(
        "INSERT INTO article_sketches (article_id, terms, copy_sig, story_sig, sketch_version,"
        " time, dated, neighbour, neighbour_score, lines)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                s.article_id,
                vectors.dumps(s.vec),
                s.copy_sig,
                s.story_sig,
                sketch_version,
                s.time,
                int(s.dated),
                *nearest.get(s.article_id, (None, None)),
                s.lines,
            )
            for s in sketches
        ],
    )
    new = {s.article_id for s in sketches}
    db.executemany(
        "UPDATE article_sketches SET neighbour = ?, neighbour_score = ? WHERE article_id = ?",
        [(neighbour, score, aid) for aid, (neighbour, score) in nearest.items() if aid not in new],
    )


def _save_merges(db: Database, merges: Sequence[tuple[str, str]], at: str) -> set[str]:
    """Each absorbed story's links and aliases moved to the surviving one, the absorbed id kept
    as an alias; returns the surviving stories."""
    for old, new in merges:
        db.execute("UPDATE story_links SET story_id=? WHERE story_id=?", (new, old))
        db.execute("UPDATE story_aliases SET new_id=? WHERE new_id=?", (new, old))
        db.execute(
            "INSERT INTO story_aliases (old_id, new_id, reason, at) VALUES (?, ?, 'merge', ?)"
            " ON CONFLICT(old_id) DO UPDATE SET new_id=excluded.new_id",
            (old, new, at),
        )
        db.execute("DELETE FROM stories WHERE id=?", (old,))
    return {new for _, new in merges}


def _count_terms(db: Database, increments: dict[str, int]) -> None:
    """Add a batch's term counts to the statistics, in term order: clusterers of other
    partitions lock the same rows in the same order. PostgreSQL takes them as two arrays in one
    statement (docs/tuning.md, "Speed")."""
    ordered = sorted(increments.items())
    upsert = " ON CONFLICT(term) DO UPDATE SET df = term_df.df + excluded.df"
    if db.dialect == "postgresql":
        db.execute(
            "INSERT INTO term_df (term, df) SELECT t, n FROM unnest(?::text[], ?::bigint[])"
            " AS u(t, n) ORDER BY t" + upsert,
            ([t for t, _ in ordered], [n for _, n in ordered]),
        )
    else:
        db.executemany("INSERT INTO term_df (term, df) VALUES (?, ?)" + upsert, ordered)


def _terms_json(terms: Sequence[str]) -> str:
    """A link's shared terms as stored (``story_links.shared_terms``)."""
    return json.dumps(list(terms), ensure_ascii=False)


def _save_links(db: Database, assignment: Assignment, at: str) -> None:
    db.executemany(
        "INSERT INTO story_links (article_id, story_id, kind, score, matched_article_id,"
        " shared_terms, linked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                lk.article_id,
                lk.story_id,
                lk.kind,
                lk.score,
                lk.matched_article_id,
                _terms_json(lk.shared_terms),
                at,
            )
            for lk in assignment.links
        ],
    )


def _save_splits(db: Database, assignment: Assignment, at: str) -> set[str]:
    """The articles of stories that fell apart, each in its part: an article keeps its
    evidence while the article it matched shares its story, else takes the new evidence. Each
    part split off is recorded (an id merged away before is a story again). Returns the stories
    that changed."""
    if not assignment.relinked:
        return set()
    db.executemany(
        "UPDATE story_links SET story_id = ? WHERE article_id = ?",
        [(lk.story_id, lk.article_id) for lk in assignment.relinked],
    )
    db.executemany(
        """UPDATE story_links SET kind = ?, score = ?, matched_article_id = ?, shared_terms = ?
           WHERE article_id = ? AND matched_article_id IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM story_links m WHERE m.article_id = story_links.matched_article_id
               AND m.story_id = story_links.story_id)""",
        [
            (
                lk.kind,
                lk.score,
                lk.matched_article_id,
                _terms_json(lk.shared_terms),
                lk.article_id,
            )
            for lk in assignment.relinked
        ],
    )
    db.executemany(
        "DELETE FROM story_aliases WHERE old_id = ?", [(part,) for _, part in assignment.splits]
    )
    db.executemany(
        "INSERT INTO story_splits (part_id, story_id, at) VALUES (?, ?, ?)"
        " ON CONFLICT(part_id) DO UPDATE SET story_id = excluded.story_id, at = excluded.at",
        [(part, story, at) for story, part in assignment.splits],
    )
    return {lk.story_id for lk in assignment.relinked}


def _refresh_stories(db: Database, ids: Sequence[str]) -> dict[str, str]:
    """Recompute the summary row of each story in ``ids`` from its links (one query per
    KEYS_PER_QUERY stories); returns each one's first-seen time."""
    rows: list[dict[str, Any]] = []
    for part, marks in in_parts(ids):
        members = db.query(
            f"""SELECT l.story_id, a.id, a.outlet, a.title, a.summary, a.sort_time, l.kind,
                      l.linked_at
               FROM story_links l JOIN articles a ON a.id = l.article_id
               WHERE l.story_id IN ({marks})
               ORDER BY l.story_id, a.sort_time, a.feed_url, a.key""",
            part,
        )
        rows += [
            _story_row(sid, list(group))
            for sid, group in groupby(members, lambda m: str(m["story_id"]))
        ]
    db.executemany(
        """INSERT INTO stories (id, title, title_article_id, lead, first_seen, updated,
             outlets_updated, article_count, outlet_count, independent_reports, outlets, rank)
           VALUES (:id, :title, :title_article_id, :lead, :first_seen, :updated,
             :outlets_updated, :article_count, :outlet_count, :independent_reports, :outlets,
             :rank)
           ON CONFLICT(id) DO UPDATE SET title=excluded.title,
             title_article_id=excluded.title_article_id, lead=excluded.lead,
             first_seen=excluded.first_seen, updated=excluded.updated,
             outlets_updated=excluded.outlets_updated, article_count=excluded.article_count,
             outlet_count=excluded.outlet_count,
             independent_reports=excluded.independent_reports, outlets=excluded.outlets,
             rank=excluded.rank""",
        rows,
    )
    return {row["id"]: row["first_seen"] for row in rows}


def _story_row(sid: str, members: list[dict[str, Any]]) -> dict[str, Any]:
    """A story's summary row from its members' rows (article id, outlet, title, summary, sort
    time, link kind, linked at), in clustering order."""
    independent = [m for m in members if m["kind"] in ("seed", "story")] or members
    # Representative headline: the earliest independent report's own title, never invented.
    first = independent[0]
    outlets: dict[str, str] = {}
    for m in members:
        outlets.setdefault(m["outlet"], m["linked_at"])  # outlet -> its first link
    return {
        "id": sid,
        "title": first["title"],
        "title_article_id": first["id"],
        "lead": first["summary"],
        "first_seen": members[0]["sort_time"],
        "updated": max(m["sort_time"] for m in members),
        "outlets_updated": max(outlets.values()),
        "article_count": len(members),
        "outlet_count": len(outlets),
        "independent_reports": len(independent),
        "outlets": json.dumps(sorted(outlets), ensure_ascii=False),
        "rank": float(len({m["outlet"] for m in independent})),
    }


def article_keys(db: Database) -> dict[int, str]:
    """article id -> its key within its feed."""
    return {int(a): str(k) for a, k in db.execute("SELECT id, key FROM articles")}


def resolve(db: Database, story_id: str) -> str:
    """Follow merge aliases to the current id of a story."""
    row = db.execute("SELECT new_id FROM story_aliases WHERE old_id=?", (story_id,)).fetchone()
    return str(row[0]) if row else story_id


def splits_of(db: Database, story_id: str) -> tuple[str | None, list[str]]:
    """The story ``story_id`` was split off (if it was), and the parts split off it."""
    row = db.execute("SELECT story_id FROM story_splits WHERE part_id=?", (story_id,)).fetchone()
    parts = db.execute(
        "SELECT part_id FROM story_splits WHERE story_id=? ORDER BY at, part_id", (story_id,)
    )
    return (str(row[0]) if row else None), [str(p) for (p,) in parts]


def assignments(db: Database) -> dict[int, str]:
    """article id -> current story id."""
    return {int(a): str(s) for a, s in db.execute("SELECT article_id, story_id FROM story_links")}


def copy_groups(db: Database) -> dict[int, int]:
    """article id -> id of the original it copies (itself when it is an original)."""
    src = {int(a): int(s) for a, s in db.execute("SELECT article_id, source_id FROM copies")}
    out: dict[int, int] = {}
    for (aid,) in db.execute("SELECT id FROM articles"):
        root = aid
        hops = 0
        while root in src and hops < 100:
            root, hops = src[root], hops + 1
        out[int(aid)] = root
    return out


# The partition of the feeds without a language (ISO 639's "undetermined").
NO_LANGUAGE = "und"
# The partition of an article: its feed's language in feeds.toml.
_PARTITION = f"COALESCE((SELECT f.language FROM feeds f WHERE f.url = a.feed_url), '{NO_LANGUAGE}')"


def partitions(db: Database) -> list[str]:
    """The partitions (feed languages) with articles waiting to be clustered."""
    rows = db.execute(
        f"SELECT DISTINCT {_PARTITION} FROM cluster_pending p JOIN articles a ON a.id = p.article_id"
    )
    return sorted(str(language) for (language,) in rows)


def queues(db: Database, by_partition: bool) -> list[tuple[str | None, int, str | None]]:
    """The clusterer's queue: how many articles wait and when the longest-waiting was stored;
    ``by_partition``, for each partition with a listed feed or a waiting article."""
    if not by_partition:
        waiting, since = db.execute(
            "SELECT COUNT(*), MIN(a.first_seen) FROM cluster_pending p"
            " JOIN articles a ON a.id = p.article_id"
        ).fetchone()
        return [(None, int(waiting), since)]
    found = {
        str(language): (int(waiting), since)
        for language, waiting, since in db.execute(
            f"SELECT {_PARTITION}, COUNT(*), MIN(a.first_seen) FROM cluster_pending p"
            " JOIN articles a ON a.id = p.article_id GROUP BY 1"
        )
    }
    for (language,) in db.execute(
        f"SELECT DISTINCT COALESCE(language, '{NO_LANGUAGE}') FROM feeds WHERE listed = 1"
    ):
        found.setdefault(str(language), (0, None))
    return [(language, *found[language]) for language in sorted(found)]


# A feed's articles before a cursor (its feed, sort time and key, each as given), the latest
# first: each one's stored line hashes, or its text where none are stored.
_SAMPLE = """SELECT s.lines, CASE WHEN s.lines IS NULL THEN a.summary END AS summary,
        CASE WHEN s.lines IS NULL THEN a.fulltext END AS fulltext, a.sort_time, a.key
    FROM articles a LEFT JOIN article_sketches s ON s.article_id = a.id
    WHERE a.feed_url = {feed_url} AND (a.sort_time, a.key) < ({sort_time}, {key})
    ORDER BY a.sort_time DESC, a.key DESC LIMIT ?"""


def _sampled(lines: bytes | None, summary: str, fulltext: str | None) -> bytes | str:
    """An article of a feed's sample as the clusterer's workers take it."""
    return bytes(lines) if lines is not None else body_text(summary, fulltext)


# An article's summary and extracted text in bytes (UTF-8), by dialect.
_TEXT_BYTES = {
    "postgresql": "octet_length(a.summary) + COALESCE(octet_length(a.fulltext), 0)",
    "sqlite": "length(CAST(a.summary AS BLOB)) + COALESCE(length(CAST(a.fulltext AS BLOB)), 0)",
}


def _beginning_within(sized: Sequence[tuple[int, int]], limit: int | None) -> list[int]:
    """The ids of ``sized`` (id and size, in order) that begin within ``limit`` of the sizes
    before them: at least the first; all without a limit."""
    if limit is None:
        return [aid for aid, _ in sized]
    out: list[int] = []
    before = 0
    for aid, size in sized:
        if out and before >= limit:
            break
        out.append(aid)
        before += size
    return out


class ClusterState:
    """What the clusterer keeps in the store (matching.clusterer.ClusterStore): the
    queue of articles not yet clustered, the window's sketches, the term statistics, and each
    batch's decisions in one transaction. With a ``partition`` (a feed language) it sees only
    that partition's queue and window: stories never cross partitions, and one clusterer per
    partition may run at once (the term statistics are shared)."""

    def __init__(self, db: Database, partition: str | None = None) -> None:
        self.db = db
        self.partition = partition
        self._only = f" AND {_PARTITION} = ?" if partition is not None else ""
        self._args = (partition,) if partition is not None else ()

    def pending(
        self, limit: int, after: Cursor | None = None, text_limit: int | None = None
    ) -> list[PendingArticle]:
        """The next ``limit`` articles not yet clustered, in clustering order (after ``after``),
        and with ``text_limit`` only as many as begin within that many bytes (UTF-8) of summary
        and extracted text (at least one): a batch of long texts is cut short, not held whole."""
        if after is None:  # a run's first batch: first the order of rows queued without it
            self.db.execute(FILL_QUEUE_ORDER)
        where = "(p.sort_time, p.feed_url, p.key) > (?, ?, ?)" if after else "1 = 1"
        # First the batch's ids and the bytes of their texts (PostgreSQL's octet_length reads a
        # stored text's size, not the text), then the texts of those that begin within the
        # limit, by id (docs/tuning.md, "BATCH_TEXT", says what one statement cost).
        found = self.db.execute(
            f"""SELECT p.article_id, {_TEXT_BYTES[self.db.dialect]} FROM cluster_pending p
                JOIN articles a ON a.id = p.article_id WHERE {where}{self._only}
                ORDER BY p.sort_time, p.feed_url, p.key LIMIT ?""",
            (*(after or ()), *self._args, limit),
        ).fetchall()
        ids = _beginning_within([(int(aid), int(n)) for aid, n in found], text_limit)
        rows: dict[int, dict[str, Any]] = {}
        for part, marks in in_parts(ids):
            for r in self.db.query(
                f"""SELECT id, feed_url, key, outlet, url, title, summary, fulltext, language,
                          sort_time, published IS NOT NULL AS dated
                   FROM articles WHERE id IN ({marks})""",
                part,
            ):
                rows[int(r["id"])] = r
        return [
            PendingArticle(
                id=r["id"],
                feed_url=r["feed_url"],
                key=f"{r['feed_url']}#{r['key']}",
                outlet=r["outlet"],
                url=r["url"],
                title=r["title"],
                summary=r["summary"],
                fulltext=r["fulltext"],
                language=r["language"],
                sort_time=r["sort_time"],
                dated=bool(r["dated"]),
                cursor=(r["sort_time"], r["feed_url"], r["key"]),
            )
            for r in map(rows.__getitem__, ids)
        ]

    def preceding_lines(self, firsts: Sequence[Cursor], limit: int) -> list[list[bytes | str]]:
        """For each of ``firsts``, the ``limit`` articles of its feed that come just before it in
        clustering order, each as its stored line hashes, or as its summary and extracted text
        where none are stored: a sample that depends only on the articles, not on how far
        clustering has got (so batches can be prepared ahead, and a restart sees the same).
        PostgreSQL reads them all in one statement (a batch from thousands of feeds took a round
        trip each); SQLite, in process, a feed at a time."""
        found: list[list[bytes | str]] = [[] for _ in firsts]
        if self.db.dialect == "postgresql" and firsts:
            sample = _SAMPLE.format(
                feed_url="f.feed_url", sort_time='f.sort_time COLLATE "C"', key='f.key COLLATE "C"'
            )
            rows = self.db.execute(
                f"""SELECT f.place, x.* FROM unnest(?::text[], ?::text[], ?::text[])
                      WITH ORDINALITY AS f(sort_time, feed_url, key, place),
                    LATERAL ({sample}) x
                    ORDER BY f.place, x.sort_time DESC, x.key DESC""",
                (*(list(column) for column in zip(*firsts, strict=True)), limit),
            )
            for place, lines, summary, fulltext, _, _ in rows:
                found[place - 1].append(_sampled(lines, summary, fulltext))
            return found
        sample = _SAMPLE.format(feed_url="?", sort_time="?", key="?")
        for place, (sort_time, feed_url, key) in enumerate(firsts):
            rows = self.db.execute(sample, (feed_url, sort_time, key, limit))
            found[place] = [_sampled(lines, summary, text) for lines, summary, text, _, _ in rows]
        return found

    def texts(self, ids: Sequence[int]) -> dict[int, tuple[str, str | None]]:
        """Each article's title, summary and extracted text as one text, with its language."""
        out: dict[int, tuple[str, str | None]] = {}
        for part, marks in in_parts(ids):
            for aid, title, summary, body, language in self.db.execute(
                "SELECT id, title, summary, COALESCE(fulltext, ''), language FROM articles"
                f" WHERE id IN ({marks})",
                part,
            ):
                out[int(aid)] = (f"{title}\n{summary}\n{body}", language)
        return out

    def copy_sigs(self, ids: Sequence[int], sketch_version: str) -> dict[int, bytes]:
        """The copy signatures of the articles ``ids`` made by ``sketch_version``."""
        out: dict[int, bytes] = {}
        for part, marks in in_parts(ids):
            for aid, sig in self.db.execute(
                "SELECT article_id, copy_sig FROM article_sketches WHERE sketch_version = ?"
                f" AND copy_sig IS NOT NULL AND article_id IN ({marks})",
                (sketch_version, *part),
            ):
                out[int(aid)] = bytes(sig)
        return out

    def n_docs(self) -> int:
        """How many articles the term statistics count."""
        row = self.db.execute("SELECT value FROM meta WHERE key='n_docs'").fetchone()
        return int(row[0]) if row else 0

    def df(self, terms: Sequence[str]) -> dict[str, int]:
        """In how many articles each of ``terms`` occurs, for those that occur in any. The
        terms go as one parameter (an array, a JSON array on SQLite): a batch's thousands in one
        statement."""
        if self.db.dialect == "postgresql":
            rows = self.db.execute(
                "SELECT term, df FROM term_df WHERE term = ANY(?::text[])", (list(terms),)
            )
        else:
            rows = self.db.execute(
                "SELECT term, df FROM term_df WHERE term IN (SELECT value FROM json_each(?))",
                (json.dumps(list(terms), ensure_ascii=False),),
            )
        return {t: int(n) for t, n in rows}

    def load_window(
        self, since: float, until: float, sketch_version: str
    ) -> Iterator[StoredSketch]:
        """The clustered articles from ``since`` to ``until`` (epoch seconds, both included), with
        when their stories were first seen, one at a time as the database gives them;
        signatures of another sketch version (seed, scheme or library) come back as None."""
        rows = self.db.stream(
            f"""SELECT s.article_id, a.feed_url || '#' || a.key, a.outlet, a.url, s.terms,
                      s.copy_sig, s.story_sig, s.time, s.dated, l.story_id, c.source_id,
                      s.sketch_version, s.neighbour, s.neighbour_score,
                      CASE WHEN n.time < ? OR n.time > ? THEN n.terms END, t.first_seen
               FROM article_sketches s JOIN articles a ON a.id = s.article_id
               JOIN story_links l ON l.article_id = s.article_id
               LEFT JOIN copies c ON c.article_id = s.article_id
               LEFT JOIN article_sketches n ON n.article_id = s.neighbour
               LEFT JOIN stories t ON t.id = l.story_id
               WHERE s.time >= ? AND s.time <= ?{self._only} ORDER BY s.article_id""",
            (since, until, since, until, *self._args),
        )
        for (
            aid,
            key,
            outlet,
            url,
            terms,
            copy_sig,
            story_sig,
            time,
            dated,
            story_id,
            source,
            version,
            neighbour,
            neighbour_score,
            neighbour_terms,
            first_seen,
        ) in rows:
            ours = version == sketch_version
            yield StoredSketch(
                id=aid,
                key=key,
                outlet=outlet,
                url=url,
                vec=vectors.load_pair(terms),
                copy_sig=bytes(copy_sig) if ours else None,
                story_sig=bytes(story_sig) if ours else None,
                time=time,
                dated=bool(dated),
                story_id=story_id,
                copy_root=source,
                neighbour=neighbour,
                neighbour_score=neighbour_score or 0.0,
                neighbour_vec=vectors.load_pair(neighbour_terms) if neighbour_terms else None,
                story_first_seen=first_seen,
            )

    def save_assignment(
        self,
        sketches: Sequence[NewSketch],
        assignment: Assignment,
        df_increments: dict[str, int],
        n_new: int,
        now: datetime,
        sketch_version: str,
    ) -> dict[str, str]:
        """Write one batch's sketches, links, copies, neighbours and merges in one transaction.

        Returns the stories that changed, each with when it was first seen.
        """
        at = iso(now)
        db = self.db
        with db.transaction():
            _save_sketches(db, sketches, assignment, sketch_version)
            db.executemany(
                "INSERT INTO copies (article_id, source_id, same_outlet, score) VALUES (?, ?, ?, ?)",
                [
                    (c.article_id, c.source_id, int(c.same_outlet), c.score)
                    for c in assignment.copies
                ],
            )
            touched = _save_merges(db, assignment.merges, at)
            _save_links(db, assignment, at)
            touched |= _save_splits(db, assignment, at)
            touched |= {lk.story_id for lk in assignment.links}
            db.executemany(
                "DELETE FROM cluster_pending WHERE article_id = ?",
                [(s.article_id,) for s in sketches],
            )
            changed = _refresh_stories(db, sorted(touched))
            # The rows every partition's clusterer writes, last: each holds them from here to
            # its commit only.
            _count_terms(db, df_increments)
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('n_docs', ?) ON CONFLICT(key) DO UPDATE"
                " SET value = CAST(CAST(meta.value AS INTEGER) + ? AS TEXT)",
                (str(n_new), n_new),
            )
            return changed
