"""Named, append-only migrations of the database schema (see README, "Database schema").

Never edit a migration that has shipped; add a new one.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("aggregator")


@migrations()
def m001_feeds_and_articles(db: Database) -> None:
    db.execute("""
        CREATE TABLE feeds (
            url TEXT PRIMARY KEY,
            outlet TEXT NOT NULL,
            language TEXT, country TEXT, owner TEXT, role TEXT,
            fulltext INTEGER NOT NULL DEFAULT 0,
            interval INTEGER,
            etag TEXT,
            last_modified TEXT,
            body_hash TEXT,
            last_status INTEGER,
            ok INTEGER,
            error_kind TEXT,
            error TEXT,
            failures INTEGER NOT NULL DEFAULT 0,
            last_polled TEXT,
            last_success TEXT,
            last_new_article TEXT,
            next_due TEXT,
            retry_until TEXT,
            gone INTEGER NOT NULL DEFAULT 0,
            redirect_to TEXT,
            redirect_count INTEGER NOT NULL DEFAULT 0,
            ttl_minutes INTEGER,
            title TEXT
        )""")
    db.execute("""
        CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            feed_url TEXT NOT NULL REFERENCES feeds(url),
            key TEXT NOT NULL,
            outlet TEXT NOT NULL,
            url TEXT,
            title TEXT NOT NULL,
            summary TEXT NOT NULL,
            content_html TEXT NOT NULL,
            author TEXT NOT NULL,
            published TEXT,
            published_raw TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            sort_time TEXT NOT NULL,
            language TEXT,
            fulltext TEXT,
            content_hash TEXT NOT NULL,
            updated TEXT NOT NULL,
            UNIQUE (feed_url, key)
        )""")
    db.execute("CREATE INDEX articles_sort_time ON articles(sort_time)")
    db.execute("CREATE INDEX articles_url ON articles(url)")
    db.execute("CREATE VIRTUAL TABLE articles_fts USING fts5(title, summary)")
    db.execute("CREATE INDEX articles_feed_id ON articles(feed_url, id)")
    # Articles waiting for the search index, which is updated in bulk after each poll.
    db.execute("CREATE TABLE fts_pending (article_id INTEGER PRIMARY KEY)")
    # Articles waiting for the clusterer: its work queue, so finding them costs O(queue).
    db.execute("CREATE TABLE cluster_pending (article_id INTEGER PRIMARY KEY)")


@migrations()
def m002_stories(db: Database) -> None:
    db.execute("""
        CREATE TABLE article_sketches (
            article_id INTEGER PRIMARY KEY REFERENCES articles(id),
            terms TEXT NOT NULL,
            copy_sig BLOB NOT NULL,
            story_sig BLOB NOT NULL,
            sketch_version TEXT NOT NULL,
            time REAL NOT NULL,
            dated INTEGER NOT NULL
        )""")
    db.execute("CREATE INDEX article_sketches_time ON article_sketches(time)")
    db.execute("CREATE TABLE term_df (term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("""
        CREATE TABLE story_links (
            article_id INTEGER PRIMARY KEY REFERENCES articles(id),
            story_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            score REAL NOT NULL,
            matched_article_id INTEGER,
            shared_terms TEXT NOT NULL,
            linked_at TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX story_links_story ON story_links(story_id)")
    db.execute("""
        CREATE TABLE copies (
            article_id INTEGER PRIMARY KEY REFERENCES articles(id),
            source_id INTEGER NOT NULL REFERENCES articles(id),
            same_outlet INTEGER NOT NULL,
            score REAL NOT NULL
        )""")
    db.execute("""
        CREATE TABLE stories (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            title_article_id INTEGER,
            lead TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            updated TEXT NOT NULL,
            outlets_updated TEXT NOT NULL,
            article_count INTEGER NOT NULL,
            outlet_count INTEGER NOT NULL,
            independent_reports INTEGER NOT NULL,
            outlets TEXT NOT NULL,
            rank REAL NOT NULL
        )""")
    db.execute("CREATE INDEX stories_updated ON stories(updated)")
    db.execute("""
        CREATE TABLE story_aliases (
            old_id TEXT PRIMARY KEY,
            new_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            at TEXT NOT NULL
        )""")


@migrations()
def m003_digests(db: Database) -> None:
    db.execute("""
        CREATE TABLE digests (
            list_name TEXT NOT NULL,
            period TEXT NOT NULL,
            status TEXT NOT NULL,
            message_id TEXT NOT NULL,
            since TEXT NOT NULL,
            until TEXT NOT NULL,
            message BLOB,
            created TEXT NOT NULL,
            sent_at TEXT,
            error TEXT,
            PRIMARY KEY (list_name, period)
        )""")


@migrations()
def m004_story_links_linked_at(db: Database) -> None:
    # The digest looks up the stories that gained articles since the previous one.
    db.execute("CREATE INDEX story_links_linked_at ON story_links(linked_at)")


@migrations()
def m005_articles_feed_order(db: Database) -> None:
    # The clusterer samples the articles of a feed that precede a batch in clustering order.
    db.execute("CREATE INDEX articles_feed_order ON articles(feed_url, sort_time, key)")


@migrations()
def m006_article_neighbours(db: Database) -> None:
    # Each clustered article's nearest neighbour and their similarity: the story stage scores
    # an article with its neighbour's terms added (matching.similarity.with_neighbours).
    db.execute("ALTER TABLE article_sketches ADD COLUMN neighbour INTEGER")
    db.execute("ALTER TABLE article_sketches ADD COLUMN neighbour_score REAL")


@migrations()
def m007_story_splits(db: Database) -> None:
    # A story that fell apart when it was looked at again (matching.stories): the part split
    # off it, under a new id, and when. The story keeps its id and its earliest articles.
    db.execute("""
        CREATE TABLE story_splits (
            part_id TEXT PRIMARY KEY,
            story_id TEXT NOT NULL,
            at TEXT NOT NULL
        )""")
