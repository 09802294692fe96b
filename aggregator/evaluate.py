"""`aggregator eval`: score the production clustering path on a labelled JSONL file.

Each line is ``{"id", "story", "title", "text", "outlet", "published", "url"}``. Articles go
through the same store and Clusterer as polled ones, in a throwaway database, in ``published``
order (file order where it is missing; ISO 8601, RFC 2822 and epoch seconds are read).
``story`` is read only to score.
"""

from __future__ import annotations

import functools
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from aggregator.errors import AggregatorError
from aggregator.matching.clusterer import Clusterer
from aggregator.matching.metrics import Mistake, Scores, merges, score, splits
from aggregator.model import Article, FeedConfig, FeedUpdate
from aggregator.store import Database, clustering, open_db
from aggregator.store.clustering import ClusterState
from aggregator.store.feeds import save_success, sync_feeds

# Undated articles arrive one second apart, in file order, from this moment.
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class EvalResult:
    scores: Scores
    articles_per_second: float
    level: str
    ids: tuple[str, ...] = ()  # the articles, in file order (Mistake.groups index them)
    titles: tuple[str, ...] = ()
    merges: tuple[Mistake, ...] = ()  # clusters holding several gold stories, costliest first
    splits: tuple[Mistake, ...] = ()  # gold stories in several clusters, costliest first

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = asdict(self.scores)
        out["articles_per_second"] = round(self.articles_per_second, 1)
        out["level"] = self.level
        return out

    def mistakes_json(self, n: int) -> dict[str, Any]:
        """The ``n`` costliest merges and splits, each as its groups of articles (id, title)."""

        def one(m: Mistake) -> dict[str, Any]:
            groups = [[{"id": self.ids[i], "title": self.titles[i]} for i in g] for g in m.groups]
            return {"pairs": m.pairs, "groups": groups}

        return {
            "merges": [one(m) for m in self.merges[:n]],
            "splits": [one(m) for m in self.splits[:n]],
        }


def _published(value: Any) -> datetime | None:
    """A publication time written in ISO 8601, as feeds write it (RFC 2822), or as seconds since
    the epoch; None when absent or unreadable (the article is then undated)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    text = str(value).strip()
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            dt = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def load_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    try:
        with path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise AggregatorError(f"{path}:{n}: not JSON: {e}") from e
                for key in ("id", "story", "title"):
                    if key not in row:
                        raise AggregatorError(f"{path}:{n}: missing key {key!r}")
                rows.append(row)
    except OSError as e:
        raise AggregatorError(f"{path}: cannot read: {e}") from e
    if not rows:
        raise AggregatorError(f"{path}: no articles")
    return rows


def run_eval(
    path: Path,
    level: str = "stories",
    window_hours: float = 72.0,
    threshold: float | None = None,
    poll_size: int | None = None,
    partition_by: str | None = None,
) -> EvalResult:
    """Score the clustering of the labelled file at ``path``: its articles fed in one run
    (batches of up to cluster.BATCH_SIZE), or with ``poll_size`` as a stream of polls of that
    many articles, each clustered by a clusterer of its own as every `aggregator poll` does.
    With ``partition_by`` (a field of the file: language or outlet), each partition is
    clustered on its own, as one clusterer per language does with `partition_by = "language"`."""
    rows = load_rows(path)
    with tempfile.TemporaryDirectory(prefix="aggregator-eval-") as tmp:
        db = open_db(Path(tmp) / "eval.db")
        _store(db, rows, partition_by)
        started = time.perf_counter()
        for part in clustering.partitions(db) if partition_by else [None]:
            clusterer = functools.partial(
                Clusterer, ClusterState(db, part), window_hours, threshold, now=lambda: _EPOCH
            )
            if poll_size is None:
                clusterer().run()
            else:  # a clusterer per poll, as each `aggregator poll` is, until none is left
                while clusterer().run(poll_size).articles:
                    pass
        elapsed = time.perf_counter() - started
        ids = clustering.article_keys(db)
        if level == "copies":
            groups = clustering.copy_groups(db)
            predicted = {ids[a]: str(g) for a, g in groups.items()}
        else:
            predicted = {ids[a]: s for a, s in clustering.assignments(db).items()}
        db.close()
    gold = [str(r["story"]) for r in rows]
    pred = [predicted[str(r["id"])] for r in rows]
    return EvalResult(
        score(gold, pred),
        len(rows) / elapsed if elapsed else 0.0,
        level,
        tuple(str(r["id"]) for r in rows),
        tuple(str(r["title"] or "") for r in rows),
        tuple(merges(gold, pred)),
        tuple(splits(gold, pred)),
    )


def _store(db: Database, rows: list[dict[str, Any]], partition_by: str | None = None) -> None:
    """The rows as articles of one feed per outlet (and partition: the value of the field
    ``partition_by`` names stands as the feed's language), arriving in ``published`` order
    (file order where it is missing), undated ones one second apart from _EPOCH."""
    published = [_published(r.get("published")) for r in rows]
    never = datetime.max.replace(tzinfo=UTC)
    order = sorted(range(len(rows)), key=lambda i: (published[i] or never, i))

    def feed_of(r: dict[str, Any]) -> tuple[str, str | None]:
        part = r.get(partition_by) if partition_by else None
        return str(r.get("outlet") or "unknown"), str(part) if part else None

    found = sorted({feed_of(r) for r in rows}, key=lambda f: (f[0], f[1] or ""))
    feeds = {f: f"eval://{i}" for i, f in enumerate(found)}
    sync_feeds(db, [FeedConfig(url=u, outlet=o, language=p) for (o, p), u in feeds.items()])
    for rank, i in enumerate(order):
        r = rows[i]
        outlet = str(r.get("outlet") or "unknown")
        pub = published[i]
        arrival = pub or (_EPOCH + timedelta(seconds=rank))
        art = Article(
            key=str(r["id"]),
            url=r.get("url") or None,
            title=str(r["title"] or ""),
            summary=str(r.get("text") or ""),
            content_html="",
            author="",
            published=pub,
            published_raw=str(r.get("published") or ""),
            language=r.get("language"),
        )
        update = FeedUpdate(
            url=feeds[feed_of(r)],
            status=200,
            now=arrival,
            next_due=arrival,
            etag=None,
            last_modified=None,
            body_hash=None,
            ttl_minutes=None,
            title=None,
            redirect_to=None,
            redirect_count=0,
        )
        save_success(db, update, outlet, [art])
