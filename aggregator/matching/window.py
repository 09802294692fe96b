"""The time window in memory: the clustered articles that new ones may join, their sketches
indexed for candidate search, and when each of their stories was first seen.

Filled once from what the store kept (vectors, signatures, neighbours), then kept in step with
each batch's decisions, so a restart scores the window as the run before it did. The window's
signatures live in its indexes only: the copy signatures a batch compares with are read from the
store when it needs them (``copy_candidates``). No I/O here: the clusterer reads and writes the
store.
"""

from __future__ import annotations

import array
import functools
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace

import numpy as np

from aggregator.matching import features, sketch
from aggregator.matching.articles import TERM_ID, Articles, Doc
from aggregator.model import Assignment, StoredSketch
from aggregator.times import epoch

# Story candidates scored per new article, those sharing most key terms first.
MAX_CANDIDATES = 400
# Articles with one and the same copy signature that the copy index holds.
SAME_COPY_SIG = 1
SAME_STORY_SIG = MAX_CANDIDATES
# Articles held at most before they are indexed (their signatures wait as bytes meanwhile).
INDEX_CHUNK = 4096
# An article this close (estimated Jaccard) to an earlier one leaves the copy index once decided.
NEAR_REPEAT = 0.9


def doc(
    aid: int,
    key: str,
    arrays: tuple[np.ndarray, np.ndarray],
    t: float,
    dated: bool,
    outlet: str,
    url: str | None,
    years: frozenset[str],
) -> Doc:
    """An article as the story stage sees it (``arrays``: its vector as term ids, weights;
    ``years``: its year marks). Its weights are held as the float32 the store keeps, so an
    article is scored the same in the run that clustered it and after a restart."""
    ids, weights = arrays
    return Doc(
        aid,
        key,
        ids.astype(TERM_ID),
        weights.astype(np.float32),  # as the store keeps them: a restart scores the same
        t if dated else None,
        sys.intern(outlet),  # one string per outlet, not one per article
        url,
        _shared(years),
    )


@functools.lru_cache(maxsize=4096)
def _shared(years: frozenset[str]) -> frozenset[str]:
    """One set object for all articles naming the same years (most name none or one)."""
    return years


# Copy signatures of window articles by article id, as the store keeps them.
StoredCopySigs = Callable[[Sequence[int]], Mapping[int, bytes]]


class Window:
    """The window's articles by id, their sketches' indexes and their stories' first sights.

    The articles lie in columns (``docs``), and what the window keeps of each for its indexes
    in arrays, a row per article (``_rows``); articles held since the last lookup wait in
    ``_waiting`` to be indexed."""

    def __init__(self) -> None:
        self.docs = Articles()
        self.first_seen: dict[str, float] = {}  # story id -> epoch seconds
        self._rows = _Rows.empty()
        self._waiting: list[tuple[int, float, bytes | None, bytes]] = []  # id, time, signatures
        self._new_sigs: dict[int, tuple[bytes | None, bytes]] = {}  # the batch's, until apply
        self._copy_index = sketch.copy_index()
        self._story_index = sketch.story_index()
        self._near_repeats: set[int] = set()  # new articles to leave the copy index (NEAR_REPEAT)

    def load(self, stored: Iterable[StoredSketch], vocabulary: features.Vocabulary) -> None:
        """Fill the window with the articles the store kept, scored with their stored
        neighbours as before the restart, and their stories' first sights; those it holds
        already stay as they are. The stored articles are read one at a time, so what the
        window holds is all the memory loading it takes."""
        # Each article's neighbour and their similarity as arrays, not an object each; and, by
        # neighbour, the vectors of neighbours outside the stretch read.
        ids, neighbours, scores = array.array("q"), array.array("q"), array.array("d")
        outside: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for s in stored:
            if s.id in self.docs:
                continue
            terms, weights = s.vec
            years = features.years(terms)
            d = doc(
                s.id,
                s.key,
                vocabulary.arrays_of(terms, weights),
                s.time,
                s.dated,
                s.outlet,
                s.url,
                years,
            )
            story = sys.intern(s.story_id)  # one string per story, not per article
            d = replace(d, story_id=story, copy_root=s.copy_root)
            # Signatures of another sketch version: the story sketch is rebuilt from the stored
            # terms; the copy sketch needs the text, so such articles sit out copy detection.
            story_sig = s.story_sig or sketch.signature(
                features.key_terms(dict(zip(terms, weights.tolist(), strict=True))),
                sketch.STORY_PERMS,
            )
            self._hold(d, s.copy_sig, story_sig, s.time)
            if s.story_first_seen:
                self.first_seen[story] = epoch(s.story_first_seen)
            if s.neighbour is not None:
                ids.append(s.id)
                neighbours.append(s.neighbour)
                scores.append(s.neighbour_score)
                if s.neighbour_vec:
                    outside[s.neighbour] = vocabulary.arrays_of(*s.neighbour_vec)
        self.docs.link(ids, neighbours, scores, outside)
        self._index_waiting()

    def add(self, d: Doc, copy_sig: bytes | None, story_sig: bytes, t: float) -> None:
        """A new article of the batch being decided (its signatures kept until ``apply``)."""
        self._hold(d, copy_sig, story_sig, t)
        self._new_sigs[d.id] = (copy_sig, story_sig)

    def _hold(self, d: Doc, copy_sig: bytes | None, story_sig: bytes, t: float) -> None:
        self.docs.add([d])
        self._waiting.append((d.id, t, copy_sig, story_sig))
        if len(self._waiting) >= INDEX_CHUNK:
            self._index_waiting()

    def _index_waiting(self) -> None:
        """The waiting articles into the indexes and the rows. An index takes an article's
        signature unless it holds SAME_COPY_SIG (or SAME_STORY_SIG) articles of the same one
        already; a signature's hash stands for it in those counts (two different signatures of
        one hash would share a count: how rarely, docs/tuning.md, "SAME_COPY_SIG")."""
        waiting, self._waiting = self._waiting, []
        if not waiting:
            return
        n = len(waiting)
        copy_hashes = np.fromiter(
            (0 if c is None else hash(c) for _, _, c, _ in waiting), np.int64, n
        )
        story_hashes = np.fromiter((hash(sig) for _, _, _, sig in waiting), np.int64, n)
        rows = self._rows
        copies = _taken(
            rows.copy_hash[rows.in_copies],
            copy_hashes,
            np.fromiter((c is not None for _, _, c, _ in waiting), bool, n),
            SAME_COPY_SIG,
        )
        stories = _taken(
            rows.story_hash[rows.in_stories], story_hashes, np.ones(n, bool), SAME_STORY_SIG
        )
        for (aid, _, copy_sig, story_sig), copy, story in zip(
            waiting, copies.tolist(), stories.tolist(), strict=True
        ):
            if copy and copy_sig is not None:
                self._copy_index.add(aid, copy_sig)
            if story:
                self._story_index.add(aid, story_sig)
        ids = np.fromiter((aid for aid, _, _, _ in waiting), np.int64, n)
        times = np.fromiter((t for _, t, _, _ in waiting), np.float64, n)
        self._rows = rows.plus(_Rows(ids, times, copy_hashes, story_hashes, copies, stories))

    def evict(self, before: float) -> None:
        """Forget the articles older than ``before`` (epoch seconds)."""
        self._index_waiting()
        rows = self._rows
        gone = rows.times < before
        if not gone.any():
            return
        for aid, copy, story in zip(
            rows.ids[gone].tolist(),
            rows.in_copies[gone].tolist(),
            rows.in_stories[gone].tolist(),
            strict=True,
        ):
            if copy:
                self._copy_index.remove(aid)
            if story:
                self._story_index.remove(aid)
            self._new_sigs.pop(aid, None)
        self.docs.remove(rows.ids[gone])
        self._rows = rows.where(~gone)
        held = self.docs.story_names()  # a story none of whose articles is held is done with
        self.first_seen = {s: t for s, t in self.first_seen.items() if s in held}

    def story_candidates(self, new: Sequence[Doc]) -> dict[int, np.ndarray]:
        """The articles sharing key terms with each new (added) article, in id order: at most
        MAX_CANDIDATES, those sharing most (estimated Jaccard of the key-term sketches), so
        scoring cost per article is bounded however full the window is."""
        self._index_waiting()
        found = self._story_index.query_counted([self._new_sigs[d.id][1] for d in new])
        return {d.id: _closest(*f) for d, f in zip(new, found, strict=True)}

    def copy_candidates(
        self, new: Sequence[Doc], stored: StoredCopySigs
    ) -> dict[int, list[tuple[int, float]]]:
        """The articles whose text may be the same as each new (added) article's, with the
        estimated Jaccard similarity of their shingles (``stored``: the copy signatures of
        window articles). New articles that near-repeat an earlier one are noted, to leave the
        copy index when ``apply`` brings their batch's decisions."""
        self._index_waiting()
        position = {d.id: i for i, d in enumerate(new)}
        mine = {d.id: sig for d in new if (sig := self._new_sigs[d.id][0]) is not None}
        found = dict(zip(mine, self._copy_index.query_many(list(mine.values())), strict=True))
        others = {aid: [o for o in f.tolist() if o != aid] for aid, f in found.items()}
        held = {o for f in others.values() for o in f if o not in self._new_sigs}
        sigs = dict(stored(sorted(held)))
        sigs.update((aid, sig) for aid, (sig, _) in self._new_sigs.items() if sig is not None)
        out: dict[int, list[tuple[int, float]]] = {d.id: [] for d in new}
        for aid, sig in mine.items():
            estimates = sketch.jaccards(sig, [sigs[o] for o in others[aid]]).tolist()
            out[aid] = list(zip(others[aid], estimates, strict=True))
            if any(j >= NEAR_REPEAT and position.get(o, -1) < position[aid] for o, j in out[aid]):
                self._near_repeats.add(aid)
        return out

    def apply(
        self, result: Assignment, rescored: Sequence[Doc], first_seen: Mapping[str, float]
    ) -> int:
        """Bring the window in step with a batch's decisions as stored (``rescored``: its
        articles with a new or closer neighbour; ``first_seen``: the changed stories' first-seen
        times); returns how many stories the batch founded."""
        self.docs.link_docs(rescored)
        story_of = {lk.article_id: lk.story_id for lk in result.links + result.relinked}
        roots = {c.article_id: c.source_id for c in result.copies}
        self.docs.relabel(story_of, dict(result.merges), roots)
        founded = len(set(story_of.values()) - set(self.first_seen))
        self.first_seen.update(first_seen)
        for old, _ in result.merges:
            self.first_seen.pop(old, None)
        self._leave_copy_index(self._near_repeats)
        self._near_repeats.clear()
        self._new_sigs.clear()
        return founded

    def _leave_copy_index(self, ids: Iterable[int]) -> None:
        """The articles ``ids`` out of the copy index, those it holds."""
        self._index_waiting()
        rows = self._rows
        leaving = np.isin(rows.ids, np.fromiter(ids, np.int64)) & rows.in_copies
        for aid in rows.ids[leaving].tolist():
            self._copy_index.remove(aid)
        rows.in_copies[leaving] = False


def _closest(found: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """Of the articles a story signature ``found`` (in id order) with the bands each shares with
    it, the MAX_CANDIDATES sharing most (the highest estimated Jaccard), ties to the lower id,
    in id order."""
    if len(found) <= MAX_CANDIDATES:
        return found.copy()  # not a view holding the whole lookup's answers
    ranked = np.argsort(-bands, kind="stable")
    return np.sort(found[ranked[:MAX_CANDIDATES]])


def _taken(held: np.ndarray, new: np.ndarray, eligible: np.ndarray, most: int) -> np.ndarray:
    """Which of the signature hashes ``new`` (in order, those ``eligible``) an index holding
    the hashes ``held`` takes, one after the other: each while it holds fewer than ``most`` of
    that hash."""
    ordered = np.sort(held)
    before = np.searchsorted(ordered, new, "right") - np.searchsorted(ordered, new, "left")
    at = np.flatnonzero(eligible)
    grouped = np.argsort(new[at], kind="stable")  # equal hashes together, in their order
    values = new[at][grouped]
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    earlier = np.empty(len(at), dtype=np.int64)  # the same hash's eligible ones before each
    earlier[grouped] = np.arange(len(at)) - np.repeat(starts, np.diff(np.append(starts, len(at))))
    taken = np.zeros(len(new), dtype=bool)
    taken[at] = before[at] + earlier < most
    return taken


@dataclass(frozen=True)
class _Rows:
    """The window's articles as rows: id, time, the hashes of the copy and story signatures
    (0: no copy signature), and whether the copy and story indexes hold each."""

    ids: np.ndarray
    times: np.ndarray
    copy_hash: np.ndarray
    story_hash: np.ndarray
    in_copies: np.ndarray
    in_stories: np.ndarray

    @staticmethod
    def empty() -> _Rows:
        none = np.zeros(0, dtype=np.int64)
        return _Rows(none, np.zeros(0), none, none, np.zeros(0, bool), np.zeros(0, bool))

    def columns(self) -> list[np.ndarray]:
        return [getattr(self, f.name) for f in fields(self)]

    def plus(self, more: _Rows) -> _Rows:
        return _Rows(
            *(np.concatenate((a, b)) for a, b in zip(self.columns(), more.columns(), strict=True))
        )

    def where(self, keep: np.ndarray) -> _Rows:
        return _Rows(*(column[keep] for column in self.columns()))
