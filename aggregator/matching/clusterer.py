"""Incremental story clustering: wires text features, sketches (datasketch) and the store.

A Clusterer keeps the time window in memory (window.py, loaded once from persisted signatures),
takes the articles not yet clustered in batches, and writes each batch's decisions in one
transaction, so a crash loses at most the batch in progress and a re-run redoes exactly that
batch.
"""

from __future__ import annotations

import gc
import os
import time as _time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from aggregator import lifeline
from aggregator.matching import extract, features, heap, sketch, text
from aggregator.matching.articles import Doc
from aggregator.matching.stories import STORY_THRESHOLD, assign, threshold_for
from aggregator.matching.window import Window, doc
from aggregator.model import (
    Assignment,
    Cursor,
    Link,
    NewSketch,
    PendingArticle,
    StoredSketch,
    body_text,
)
from aggregator.times import epoch

# Articles per batch and transaction: one poll of many outlets fits in one batch.
BATCH_SIZE = 2000
# Bytes (UTF-8) of summary and extracted text a batch's articles begin within: what bounds a
# batch of long texts (it and its copies, features and the workers' tokens).
BATCH_TEXT = 16 * 2**20
# A batch covers at most this many windows of time, which bounds the window it reads.
BATCH_WINDOWS = 10
# Batches of at least this many articles extract text features in worker processes,
PARALLEL_FROM = 400
# and so do batches of at least this many characters of text, however few their articles.
PARALLEL_TEXT = 1_500_000
# Extraction workers run at a lower priority than the main process, the critical path.
WORKER_NICENESS = 10
# Articles whose terms are made strings at once to be numbered (bounds the memory they take).
TERMS_AT_ONCE = 100
# Articles of an outlet just before a batch, sampled with it to learn the outlet's boilerplate.
BOILERPLATE_SAMPLE = 50
# The vocabulary lets go of the terms no window article uses once it holds this many times the
# terms the window used when it last did.
VOCABULARY_SLACK = 2


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused, then restored as it was: the window and the
    term statistics are long-lived objects that every full collection walks for nothing, and a
    run leaves no cyclic garbage to speak of (docs/tuning.md, "Speed")."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class ClusterStore(Protocol):
    """What the clusterer reads and writes (store.clustering.ClusterState is one): the queue of
    articles not yet clustered, the window, the term statistics, and one batch's decisions in one
    transaction."""

    def pending(
        self, limit: int, after: Cursor | None, text_limit: int | None
    ) -> list[PendingArticle]: ...

    def preceding_lines(self, firsts: Sequence[Cursor], limit: int) -> list[list[bytes | str]]: ...

    def texts(self, ids: Sequence[int]) -> dict[int, tuple[str, str | None]]: ...

    def copy_sigs(self, ids: Sequence[int], sketch_version: str) -> dict[int, bytes]: ...

    def n_docs(self) -> int: ...

    def df(self, terms: Sequence[str]) -> dict[str, int]: ...

    def load_window(
        self, since: float, until: float, sketch_version: str
    ) -> Iterable[StoredSketch]: ...

    def save_assignment(
        self,
        sketches: Sequence[NewSketch],
        assignment: Assignment,
        df_increments: dict[str, int],
        n_new: int,
        now: datetime,
        sketch_version: str,
    ) -> dict[str, str]: ...


@dataclass(frozen=True)
class ClusterReport:
    articles: int
    new_stories: int
    updated_stories: int
    merges: int
    seconds: float
    splits: int = 0

    @staticmethod
    def total(reports: Sequence[ClusterReport]) -> ClusterReport:
        """The reports of several runs (one per partition) as one."""
        return ClusterReport(
            *(sum(getattr(r, f.name) for r in reports) for f in fields(ClusterReport))
        )


class Clusterer:
    def __init__(
        self,
        store: ClusterStore,
        window_hours: float,
        threshold: float | None = None,  # None: STORY_THRESHOLD, lower for a small archive
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        alive: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.window_seconds = window_hours * 3600.0
        self.threshold = threshold
        self.now = now
        self.alive = alive  # called as the work goes on: each window article read, each batch
        self.vocabulary = features.Vocabulary(store.n_docs(), store.df)
        self.term_hashes = sketch.TermHashes()
        self.window = Window()
        self.workers = os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None
        self._loaded: tuple[float, float] | None = None  # the stored stretch the window holds
        self._terms_used = 0  # by the window when the vocabulary last let go of terms

    def _cover(self, since: float, until: float) -> None:
        """Have the window hold the clustered articles from ``since`` to ``until`` (epoch
        seconds), and none older. As batches move forward in time only what the store holds
        past the stretch already loaded is read; a batch elsewhere in time (articles published
        long before the last batch's) gets a window of its own."""
        loaded = self._loaded
        if loaded is not None and loaded[0] <= since <= loaded[1]:
            if until > loaded[1]:
                self._fill(loaded[1], until)
            self._loaded = (loaded[0], max(until, loaded[1]))
        else:
            self.window = Window()
            self._fill(since, until)
            self._loaded = (since, until)
        self.window.evict(since)

    def _fill(self, since: float, until: float) -> None:
        stored = self.store.load_window(since, until, sketch.SKETCH_VERSION)
        self.window.load(_saying_alive(stored, self.alive), self.vocabulary)

    def _extract(self, groups: list[extract.Group]) -> Callable[[], list[extract.Features]]:
        """Text features of each group's articles, in order: computed now for a small batch;
        for a large one, handed to worker processes (one per core) and collected when the
        returned function is called."""
        permutations = sketch.permutations(sketch.COPY_PERMS)
        articles = sum(len(g.items) for g in groups)
        chars = sum(len(body) for g in groups for _, body, _ in g.items)
        if (articles < PARALLEL_FROM and chars < PARALLEL_TEXT) or self.workers < 2:
            done = extract.extract_groups(groups, permutations)
            return lambda: done
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=lifeline.context(),
                initializer=_worker_start,
                initargs=(os.getpid(),),
            )
        parts = extract.parts(groups, self.workers)
        futures = [self._pool.submit(extract.extract_groups, part, permutations) for part in parts]

        def collect() -> list[extract.Features]:
            # Parts no worker has started are done here, the last first, rather than waiting
            # idle for them (a run's first batch while the workers start, or a batch the
            # workers have fallen behind on).
            done = {i: extract.extract_groups(parts[i], permutations) for i in _untaken(futures)}
            return [
                e for i, f in enumerate(futures) for e in (done[i] if i in done else f.result())
            ]

        return collect

    def _prepare(self, batch: list[PendingArticle]) -> _Prepared:
        """The batch in feed groups (each with its feed's preceding articles, to tell the
        feed's boilerplate), with their text features on the way."""
        by_feed: dict[str, list[PendingArticle]] = defaultdict(list)
        for a in batch:
            by_feed[a.feed_url].append(a)
        samples = self.store.preceding_lines(
            [items[0].cursor for items in by_feed.values()], BOILERPLATE_SAMPLE
        )
        groups = [
            extract.Group(
                [(a.title, body_text(a.summary, a.fulltext), a.language) for a in items], sample
            )
            for items, sample in zip(by_feed.values(), samples, strict=True)
        ]
        position = {a.id: i for i, a in enumerate(a for items in by_feed.values() for a in items)}
        grouped = self._extract(groups)
        ids = [a.id for a in batch]

        def in_order() -> list[extract.Features]:  # back in the batch's order
            found = grouped()
            return [found[position[aid]] for aid in ids]

        # The groups hold the texts for the workers; the batch goes on without them.
        return _Prepared([replace(a, title="", summary="", fulltext=None) for a in batch], in_order)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def run(self, limit: int | None = None) -> ClusterReport:
        """Cluster every article not yet in a story (at most ``limit``).

        Batches are pipelined: while one batch is decided here, the next one's text features
        are extracted in the worker processes."""
        started = _time.perf_counter()
        total = new_stories = merges = splits = 0
        updated: set[str] = set()

        def next_batch(after: Cursor | None) -> _Prepared | None:
            room = BATCH_SIZE if limit is None else min(BATCH_SIZE, limit - total)
            batch = self.store.pending(room, after, BATCH_TEXT) if room > 0 else []
            return self._prepare(_one_stretch(batch, self.window_seconds)) if batch else None

        heap.map_large_blocks()  # a batch's large arrays given back when freed
        with _collector_paused():
            try:
                ready = next_batch(None)
                while ready is not None:
                    self.alive()
                    # The window from the store (on a restart, its thousands of articles)
                    # while the workers extract the batch's text features.
                    self._cover(
                        min(a.time for a in ready.batch) - self.window_seconds,
                        max(a.time for a in ready.batch) + self.window_seconds,
                    )
                    extracted = ready.features()
                    batch, ready = ready.batch, None  # and the texts held for the workers
                    total += len(batch)
                    following = next_batch(batch[-1].cursor)
                    weighed = self._weigh(extracted)
                    del extracted  # its terms are counted in the vectors
                    n_new, touched, n_merges, n_splits = self._batch(batch, weighed)
                    self._trim_vocabulary()
                    new_stories += n_new
                    merges += n_merges
                    splits += n_splits
                    updated |= touched
                    ready = following
            finally:
                self.close()
        return ClusterReport(
            total,
            new_stories,
            max(0, len(updated) - new_stories),
            merges,
            _time.perf_counter() - started,
            splits,
        )

    def _trim_vocabulary(self) -> None:
        """Let go of the terms no window article uses (those of articles evicted, or of a
        window left behind), once the vocabulary holds VOCABULARY_SLACK times the terms the
        window used when it last did: what a clusterer holds then follows its window, not the
        time it has run (docs/tuning.md, "The vocabulary")."""
        if len(self.vocabulary.terms) <= VOCABULARY_SLACK * self._terms_used:
            return
        used = self.window.docs.term_ids()
        new_of = self.vocabulary.keep(used)
        self.term_hashes.keep(used)
        self.window.docs.renumber_terms(new_of)
        self._terms_used = len(used)

    def _threshold(self) -> float:
        """The bar as configured, or by default STORY_THRESHOLD as fits the archive's size."""
        if self.threshold is not None:
            return self.threshold
        return threshold_for(STORY_THRESHOLD, self.vocabulary.n_docs)

    def _stored_forms(self, links: tuple[Link, ...]) -> dict[int, dict[str, str]]:
        """How the stored texts of window articles write the terms of their links (their
        features are not kept; a split relinks a few of them)."""
        wanted = {lk.article_id: lk.shared_terms for lk in links if lk.shared_terms}
        return {
            aid: text.readable_forms(wanted[aid], body, language)
            for aid, (body, language) in self.store.texts(sorted(wanted)).items()
        }

    def _weigh(self, extracted: list[extract.Features]) -> _Weighed:
        """The batch's vectors and story signatures, after counting its articles into the term
        statistics (the increments are returned, to be stored with the batch)."""
        vocabulary = self.vocabulary
        # TERMS_AT_ONCE articles at a time: their terms as strings are let go before the next
        # ones' are made.
        ids = np.concatenate(
            [
                vocabulary.ids(
                    [t for e in extracted[start : start + TERMS_AT_ONCE] for t in e.terms.strings()]
                )
                for start in range(0, len(extracted), TERMS_AT_ONCE)
            ]
            + [np.zeros(0, np.int64)]
        )
        counts = np.concatenate([e.counts for e in extracted])
        sizes = np.fromiter((len(e.terms) for e in extracted), dtype=np.int64, count=len(extracted))
        increments = vocabulary.count(ids, len(extracted))
        vectors = features.weigh(ids, counts, sizes, vocabulary.idf(ids))
        story_sigs = self.term_hashes.signatures(
            vocabulary.terms, vectors.key_terms, np.diff(vectors.key_bounds), sketch.STORY_PERMS
        )
        return _Weighed(
            vectors,
            story_sigs,
            [e.copy_sig for e in extracted],
            [e.forms for e in extracted],
            [e.lines for e in extracted],
            increments,
        )

    def _batch(
        self, batch: list[PendingArticle], weighed: _Weighed
    ) -> tuple[int, set[str], int, int]:
        vectors, story_sigs, copy_sigs = weighed.vectors, weighed.story_sigs, weighed.copy_sigs
        names = self.vocabulary.terms
        new_docs: list[Doc] = []
        for i, (a, copy_sig, story_sig) in enumerate(
            zip(batch, copy_sigs, story_sigs, strict=True)
        ):
            marks = vectors.marks(i, names)
            d = doc(a.id, a.key, vectors.of(i), a.time, a.dated, a.outlet, a.url, marks)
            new_docs.append(d)
            self.window.add(d, copy_sig, story_sig, a.time)
        decision = assign(
            new_docs,
            self.window.docs,
            self.window.story_candidates(new_docs),
            self.window.copy_candidates(
                new_docs, lambda ids: self.store.copy_sigs(ids, sketch.SKETCH_VERSION)
            ),
            self.window_seconds,
            self.window.first_seen,
            self._threshold(),
            names=names,
        )
        forms = {a.id: f.pairs() for a, f in zip(batch, weighed.forms, strict=True)}
        result = replace(
            decision.assignment,
            links=_readable(decision.assignment.links, forms),
            relinked=_readable(
                decision.assignment.relinked, self._stored_forms(decision.assignment.relinked)
            ),
        )
        # The stored vectors are made once the decisions are: not beside a batch's scoring.
        sketches = [
            NewSketch(a.id, vectors.vec(i, names), copy_sig, story_sig, a.time, a.dated, lines)
            for i, (a, copy_sig, story_sig, lines) in enumerate(
                zip(batch, copy_sigs, story_sigs, weighed.lines, strict=True)
            )
        ]
        first_seen = self.store.save_assignment(
            sketches,
            result,
            weighed.increments,
            len(batch),
            self.now(),
            sketch.SKETCH_VERSION,
        )
        founded = self.window.apply(
            result, decision.rescored, {s: epoch(fs) for s, fs in first_seen.items()}
        )
        return founded, set(first_seen), len(result.merges), len(result.splits)


def _worker_start(parent: int) -> None:
    """An extraction worker dies with the clusterer and runs at a lower priority."""
    lifeline.die_with(parent)
    os.nice(WORKER_NICENESS)
    heap.map_large_blocks()


def _untaken(futures: list[Future[list[extract.Features]]]) -> Iterator[int]:
    """The indexes of the futures no worker has started, from the last, each cancelled as it is
    yielded (the caller does its work)."""
    for i in reversed(range(len(futures))):
        if futures[i].cancel():
            yield i


def _one_stretch(batch: list[PendingArticle], window_seconds: float) -> list[PendingArticle]:
    """The articles of ``batch`` (in clustering order) up to the first gap longer than the
    window between two of them (no pair across it can be linked) and within BATCH_WINDOWS
    windows of the first. The batch's window is then the stretch of time its articles cover and
    one window either side, not everything since the oldest of them: a feed added today may
    bring items of years ago."""
    end = batch[0].time + BATCH_WINDOWS * window_seconds
    for i in range(1, len(batch)):
        if batch[i].time - batch[i - 1].time > window_seconds or batch[i].time > end:
            return batch[:i]
    return batch


def _readable(links: tuple[Link, ...], forms: Mapping[int, Mapping[str, str]]) -> tuple[Link, ...]:
    """Links whose shared terms (stems and names) are written as the linked article writes them
    (``forms`` by article), once here rather than on every page, digest and listing that shows
    them."""
    out = []
    for lk in links:
        if lk.shared_terms:
            lk = replace(lk, shared_terms=text.as_written(lk.shared_terms, forms[lk.article_id]))
        out.append(lk)
    return tuple(out)


@dataclass(frozen=True)
class _Weighed:
    """What a batch's decisions need of its text features: the vectors, the signatures, how the
    texts write their terms (``forms``, by article), their lines to be stored (``lines``, by
    article) and the term statistics' increments."""

    vectors: features.Vectors
    story_sigs: list[bytes]
    copy_sigs: list[bytes]
    forms: list[extract.Packed]
    lines: list[bytes]
    increments: dict[str, int]


@dataclass(frozen=True)
class _Prepared:
    """A batch with its text features on the way (call ``features`` to wait for them)."""

    batch: list[PendingArticle]
    features: Callable[[], list[extract.Features]]


def _saying_alive(
    stored: Iterable[StoredSketch], alive: Callable[[], None]
) -> Iterator[StoredSketch]:
    """``stored``, calling ``alive`` before each (a window of millions takes minutes to read)."""
    for s in stored:
        alive()
        yield s
