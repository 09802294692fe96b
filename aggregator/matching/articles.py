"""The articles the story stage works on, the window's and a batch's: a ``Doc`` each as it sees
one, and ``Articles``, many of them held as columns. Pure logic over numpy arrays.

A window holds tens of thousands of articles. As objects, an article's two small arrays, its
``Doc`` and its dictionary entry took more memory than its terms and weights themselves
(docs/tuning.md, "The window's memory"); as columns, it is a row: its vector lies in a
block's arrays beside the other articles', its other fields in one array each. A ``Doc`` is made
when one is asked for, for the few articles a decision looks at closely; scoring reads the
columns (similarity.py).
"""

from __future__ import annotations

import bisect
import itertools
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, replace

import numpy as np

from aggregator.matching.columns import NONE, Block, Names, Strings, Vector, spans

# Term ids as an article's vector holds them (a vocabulary stays far below 2^31 terms).
TERM_ID = np.int32
# Rows per block of vectors: what copying one costs when articles leave or join it.
BLOCK_ROWS = 4096


@dataclass(frozen=True, slots=True)
class Doc:
    """An article as the story stage sees it."""

    id: int
    key: str  # stable article key: tie-breaker and the seed of new story ids
    ids: np.ndarray  # unit TF-IDF vector as term ids and weights
    weights: np.ndarray  # float64, or float32 as stored; always scored at float64 (WEIGHT)
    time: float | None  # publication time (epoch seconds) when known
    outlet: str
    url: str | None
    years: frozenset[str] = frozenset()  # years the title or lead names
    story_id: str | None = None  # set for window articles
    copy_root: int | None = None  # the article this one is a copy of, if any
    neighbour: int | None = None  # its most similar article so far (similarity.NEIGHBOUR_WEIGHT)
    neighbour_score: float = 0.0
    neighbour_ids: np.ndarray | None = None  # its neighbour's vector (the neighbour's arrays)
    neighbour_weights: np.ndarray | None = None


def with_neighbours(
    found: Sequence[tuple[Doc, np.ndarray, np.ndarray, int, float]],
) -> list[Doc]:
    """Each article with its nearest neighbour (the neighbour's term ids, weights, id and score
    given with it). The vector scored with the neighbour's terms added is made when it is
    scored (similarity.expanded): kept with every window article it took more memory than the
    rest of the article (docs/tuning.md, "The window's memory")."""
    return [
        replace(
            d,
            neighbour=neighbour,
            neighbour_score=score,
            neighbour_ids=ids,
            neighbour_weights=weights,
        )
        for d, ids, weights, neighbour, score in found
    ]


def _neighbour_vector(d: Doc) -> Vector | None:
    if d.neighbour_ids is None or d.neighbour_weights is None:
        return None
    return d.neighbour_ids, d.neighbour_weights


# Vectors of several articles one after the other: term ids, weights (float64), and how many
# terms each article has.
Vectors = tuple[np.ndarray, np.ndarray, np.ndarray]


def joined(vectors: Sequence[Vector]) -> Vectors:
    """``vectors`` one after the other."""
    return (
        np.concatenate([ids for ids, _ in vectors] + [np.zeros(0, TERM_ID)]),
        np.concatenate([w for _, w in vectors] + [np.zeros(0)], dtype=np.float64),
        np.fromiter((len(ids) for ids, _ in vectors), np.int64, len(vectors)),
    )


class Articles(Mapping[int, Doc]):
    """Articles by id, held as rows in the order they were added: their vectors in blocks of at
    most BLOCK_ROWS rows, each other field in an array with an element a row (keys and
    addresses in one buffer each). A neighbour's vector is read from its row; that of a
    neighbour not held (older than the window, or gone from it) is kept aside while an article
    names it.

    Reading one gives a ``Doc`` made then, its weights views of a block's array (never written
    in place: rows leaving or joining a block make a new one)."""

    def __init__(self) -> None:
        self._ids = np.zeros(0, np.int64)
        self._times = np.zeros(0)  # NaN: undated
        self._outlets = np.zeros(0, np.int32)
        self._years = np.zeros(0, np.int32)
        self._stories = np.zeros(0, np.int32)
        self._copy_roots = np.zeros(0, np.int64)
        self._neighbours = np.zeros(0, np.int64)
        self._scores = np.zeros(0)
        self._keys = Strings()
        self._urls = Strings(searched=True)
        self._blocks: list[Block] = []
        self._starts: list[int] | None = None  # the first row of each block, when known
        self._outlet_names: Names[str] = Names()
        self._year_sets: Names[frozenset[str]] = Names()
        self._story_names: Names[str] = Names()
        self._aside: dict[int, Vector] = {}  # vectors of neighbours not held, by their id
        self._waiting: dict[int, Doc] = {}  # added, not yet in the columns
        self._by_id: tuple[np.ndarray, np.ndarray] | None = None  # sorted ids and their rows

    @staticmethod
    def of(docs: Iterable[Doc]) -> Articles:
        articles = Articles()
        articles.add(docs)
        return articles

    # As a mapping.

    def __len__(self) -> int:
        return len(self._ids) + len(self._waiting)

    def __iter__(self) -> Iterator[int]:
        self._settle()
        return iter(self._ids.tolist())

    def __contains__(self, aid: object) -> bool:
        if not isinstance(aid, int | np.integer):
            return False
        return aid in self._waiting or self._row(int(aid), settle=False) >= 0

    def __getitem__(self, aid: int) -> Doc:
        row = self._row(aid)
        if row < 0:
            raise KeyError(aid)
        return self._doc(row)

    def _doc(self, row: int) -> Doc:
        time = float(self._times[row])
        neighbour = int(self._neighbours[row])
        near = None
        if neighbour != NONE:
            at = self._row(neighbour)
            near = self._vector(at) if at >= 0 else self._aside.get(neighbour)
        root = int(self._copy_roots[row])
        story = int(self._stories[row])
        return Doc(
            int(self._ids[row]),
            self._keys[row] or "",
            *self._vector(row),
            None if np.isnan(time) else time,
            self._outlet_names.values[int(self._outlets[row])],
            self._urls[row],
            self._year_sets.values[int(self._years[row])],
            None if story == NONE else self._story_names.values[story],
            None if root == NONE else root,
            None if near is None else neighbour,
            float(self._scores[row]) if near is not None else 0.0,
            None if near is None else near[0],
            None if near is None else near[1],
        )

    # Adding, changing and removing.

    def add(self, docs: Iterable[Doc]) -> None:
        """Hold ``docs`` (none held already), after those held."""
        self._waiting.update((d.id, d) for d in docs)
        if len(self._waiting) >= BLOCK_ROWS:
            self._settle()

    def _settle(self) -> None:
        """The waiting articles into the columns, as rows after the others."""
        if not self._waiting:
            return
        new = list(self._waiting.values())
        n = len(new)

        def column(old: np.ndarray, values: Iterable[float]) -> np.ndarray:
            return np.concatenate((old, np.fromiter(values, old.dtype, n)))

        self._ids = column(self._ids, (d.id for d in new))
        self._times = column(self._times, (np.nan if d.time is None else d.time for d in new))
        self._outlets = column(
            self._outlets, (self._outlet_names.number(sys.intern(d.outlet)) for d in new)
        )
        self._years = column(self._years, (self._year_sets.number(d.years) for d in new))
        self._stories = column(self._stories, (self._story_number(d.story_id) for d in new))
        self._copy_roots = column(
            self._copy_roots, (NONE if d.copy_root is None else d.copy_root for d in new)
        )
        self._neighbours = column(self._neighbours, (NONE for _ in new))
        self._scores = column(self._scores, (0.0 for _ in new))
        self._keys.extend([d.key for d in new])
        self._urls.extend([d.url for d in new])
        for start in range(0, n, BLOCK_ROWS):
            part = new[start : start + BLOCK_ROWS]
            self._append_block(Block.of([(d.ids, d.weights) for d in part]))
        self._waiting.clear()
        self._by_id = None
        for d in new:
            self._aside.pop(d.id, None)  # held now
        self.link_docs(new)

    def link_docs(self, docs: Iterable[Doc]) -> None:
        """``link`` the articles ``docs`` (held) that name a neighbour with it."""
        named = [(d, n) for d in docs if (n := d.neighbour) is not None]
        self.link(
            [d.id for d, _ in named],
            [n for _, n in named],
            [d.neighbour_score for d, _ in named],
            {n: v for d, n in named if (v := _neighbour_vector(d)) is not None},
        )

    def _story_number(self, story: str | None) -> int:
        return NONE if story is None else self._story_names.number(story)

    def _append_block(self, block: Block) -> None:
        if self._blocks and len(self._blocks[-1]) + len(block) <= BLOCK_ROWS:
            block = self._blocks.pop().joined(block)
        self._blocks.append(block)
        self._starts = None

    def link(
        self,
        ids: Sequence[int],
        neighbours: Sequence[int],
        scores: Sequence[float],
        vectors: Mapping[int, Vector],
    ) -> None:
        """Held articles ``ids`` with a nearest neighbour each (``neighbours``), their
        similarity (``scores``) and, for neighbours that may not be held, their vectors
        (``vectors``, by neighbour: kept aside while not held). An article whose neighbour is
        neither held nor given with its vector is left as it was."""
        self._settle()
        if not len(ids):
            return
        near = np.asarray(neighbours, np.int64)
        outside = self.rows(near) < 0
        for neighbour in np.unique(near[outside]).tolist():
            if neighbour in vectors:
                self._aside[neighbour] = vectors[neighbour]
        known = ~outside | np.isin(near, list(self._aside))
        rows = self._rows_of(ids)[known]
        self._neighbours[rows] = near[known]
        self._scores[rows] = np.asarray(scores, float)[known]

    def relabel(
        self, stories: Mapping[int, str], renamed: Mapping[str, str], roots: Mapping[int, int]
    ) -> None:
        """Articles ``stories`` moved to the story given for each, then every article of a story
        in ``renamed`` to the story it is renamed to, and articles ``roots`` made copies of the
        root given for each."""
        self._settle()
        if stories:
            rows = self._rows_of(list(stories))
            self._stories[rows] = [self._story_names.number(s) for s in stories.values()]
        if renamed:
            pairs = [(self._story_number(a), self._story_number(b)) for a, b in renamed.items()]
            to = np.arange(len(self._story_names.values), dtype=np.int32)
            for old, new in pairs:
                to[old] = new
            named = self._stories != NONE
            self._stories[named] = to[self._stories[named]]
        if roots:
            self._copy_roots[self._rows_of(list(roots))] = list(roots.values())

    def term_ids(self) -> np.ndarray:
        """The distinct term ids (ascending) of the vectors held and kept aside."""
        self._settle()
        parts = [b.term_ids() for b in self._blocks] + [t for t, _ in self._aside.values()]
        return np.unique(np.concatenate([*parts, np.zeros(0, TERM_ID)]))

    def renumber_terms(self, new_of: np.ndarray) -> None:
        """Every term id ``i`` made ``new_of[i]``, which keeps their order (the vocabulary let
        go of the terms no vector uses)."""
        self._settle()
        self._blocks = [b.renumbered(new_of) for b in self._blocks]
        self._aside = {aid: (new_of[t].astype(t.dtype), w) for aid, (t, w) in self._aside.items()}

    def remove(self, ids: np.ndarray) -> None:
        """The articles ``ids`` no longer held (the vector of one that another names as its
        neighbour kept aside)."""
        self._settle()
        rows = self.rows(ids)
        gone = np.zeros(len(self._ids), bool)
        gone[rows[rows >= 0]] = True
        if not gone.any():
            return
        keep = ~gone
        named = np.unique(self._neighbours[keep])
        for row in np.flatnonzero(gone & np.isin(self._ids, named)).tolist():
            self._aside[int(self._ids[row])] = self._vector(row)
        blocks, start = self._blocks, 0
        self._blocks, self._starts = [], None
        for block in blocks:
            part = keep[start : start + len(block)]
            start += len(block)
            if part.any():
                self._append_block(block if part.all() else block.part(part))
        self._ids, self._times = self._ids[keep], self._times[keep]
        self._outlets, self._years = self._outlets[keep], self._years[keep]
        self._stories, self._copy_roots = self._stories[keep], self._copy_roots[keep]
        self._neighbours, self._scores = self._neighbours[keep], self._scores[keep]
        self._keys, self._urls = self._keys.where(keep), self._urls.where(keep)
        self._by_id = None
        still = set(np.unique(self._neighbours).tolist())
        self._aside = {aid: v for aid, v in self._aside.items() if aid in still}
        self._outlet_names, self._outlets = self._outlet_names.only(self._outlets)
        self._year_sets, self._years = self._year_sets.only(self._years)
        self._story_names, self._stories = self._story_names.only(self._stories)

    def story_names(self) -> Set[str]:
        """The stories the articles held are in (and, until articles next leave, stories they
        were in)."""
        return set(self._story_names.values)

    # Rows and columns.

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """The row of each of ``ids`` (-1 for those not held); rows change when articles are
        added or removed."""
        self._settle()
        return self._settled_rows(ids)

    def _row(self, aid: int, settle: bool = True) -> int:
        """``rows`` of one id (of those settled only, with ``settle=False``)."""
        if settle:
            self._settle()
        ordered, order = self._index()
        at = int(ordered.searchsorted(aid))
        return int(order[at]) if at < len(ordered) and ordered[at] == aid else NONE

    def _index(self) -> tuple[np.ndarray, np.ndarray]:
        """The ids held in order, and the row of each."""
        if self._by_id is None:
            order = np.argsort(self._ids, kind="stable")
            self._by_id = (self._ids[order], order)
        return self._by_id

    def _settled_rows(self, ids: np.ndarray) -> np.ndarray:
        ordered, order = self._index()
        if not len(ordered):
            return np.full(len(ids), NONE, np.int64)
        at = np.minimum(np.searchsorted(ordered, ids), len(ordered) - 1)
        found: np.ndarray = np.where(ordered[at] == ids, order[at], NONE)
        return found

    def _rows_of(self, ids: Sequence[int]) -> np.ndarray:
        rows = self.rows(np.array(ids, np.int64))
        if (rows < 0).any():
            raise KeyError(np.array(ids)[rows < 0].tolist())
        return rows

    def ids(self, rows: np.ndarray) -> np.ndarray:
        found: np.ndarray = self._ids[rows]
        return found

    def times(self, rows: np.ndarray) -> np.ndarray:
        """Publication times (NaN: undated)."""
        found: np.ndarray = self._times[rows]
        return found

    def years(self, rows: np.ndarray) -> list[frozenset[str]]:
        values = self._year_sets.values
        return [values[k] for k in self._years[rows].tolist()]

    def stories(self, rows: np.ndarray) -> list[str | None]:
        values = self._story_names.values
        return [None if k == NONE else values[k] for k in self._stories[rows].tolist()]

    def members(self, stories: Iterable[str | None]) -> np.ndarray:
        """The rows of the articles in ``stories`` (None: of those in none)."""
        self._settle()
        wanted = [NONE if s is None else self._story_names.find(s) for s in stories]
        return np.flatnonzero(np.isin(self._stories, [w for w in wanted if w is not None]))

    def at(self, addresses: Set[str]) -> dict[str, list[int]]:
        """The articles at each of ``addresses`` (those held at one), in the order added."""
        self._settle()
        found: dict[str, list[int]] = {}
        for row in self._urls.rows(addresses).tolist():
            found.setdefault(self._urls[row] or "", []).append(int(self._ids[row]))
        return found

    def in_order(self, ids: Iterable[int]) -> list[int]:
        """``ids`` (held) in the order they were added."""
        listed = list(ids)
        rows = self._rows_of(listed)
        return [listed[k] for k in np.argsort(rows, kind="stable").tolist()]

    def lengths(self, rows: np.ndarray) -> np.ndarray:
        """How many terms each article's vector has."""
        self._settle()
        out = np.empty(len(rows), np.int64)
        for block, picked, local in self._by_block(rows):
            out[picked] = block.lengths()[local]
        return out

    def vectors(self, rows: np.ndarray) -> Vectors:
        """The vectors of ``rows``, one after the other, weights as float64."""
        lengths = self.lengths(rows)
        bounds = np.cumsum(lengths) - lengths
        terms = np.empty(int(lengths.sum()), self._term_type())
        weights = np.empty(len(terms))
        for block, picked, local in self._by_block(rows):
            source = spans(block.bounds[local], lengths[picked])
            target = spans(bounds[picked], lengths[picked])
            terms[target] = block.terms(source)
            weights[target] = block.weights[source]
        return terms, weights, lengths

    def neighbours(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, Vectors]:
        """Which of ``rows`` have a neighbour, the scores of those, and their neighbours'
        vectors (as ``vectors``)."""
        has, neighbours, near = self._neighbour_rows(rows)
        if (near >= 0).all():
            return has, self._scores[rows][has], self.vectors(near)
        vectors = [
            self._vector(row) if row >= 0 else self._aside[aid]
            for aid, row in zip(neighbours.tolist(), near.tolist(), strict=True)
        ]
        return has, self._scores[rows][has], joined(vectors)

    def neighbour_lengths(self, rows: np.ndarray) -> np.ndarray:
        """How many terms the vector of each of ``rows``' neighbours has (0: none)."""
        has, neighbours, near = self._neighbour_rows(rows)
        held = near >= 0
        found = np.zeros(len(near), np.int64)
        found[held] = self.lengths(near[held])
        found[~held] = [len(self._aside[aid][0]) for aid in neighbours[~held].tolist()]
        out = np.zeros(len(rows), np.int64)
        out[has] = found
        return out

    def _neighbour_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which of ``rows`` have a neighbour, those neighbours' ids, and their rows (-1: not
        held, its vector kept aside)."""
        self._settle()
        neighbours = self._neighbours[rows]
        has = neighbours != NONE
        return has, neighbours[has], self.rows(neighbours[has])

    def _term_type(self) -> np.dtype[np.signedinteger]:
        return np.result_type(TERM_ID, *(b.term_type for b in self._blocks))

    def _vector(self, row: int) -> Vector:
        starts = self._block_starts()
        b = bisect.bisect_right(starts, row) - 1
        return self._blocks[b].vector(row - starts[b])

    def _block_starts(self) -> list[int]:
        """The first row of each block."""
        if self._starts is None:
            self._starts = list(
                itertools.accumulate((len(b) for b in self._blocks[:-1]), initial=0)
            )
        return self._starts

    def _by_block(self, rows: np.ndarray) -> Iterator[tuple[Block, np.ndarray, np.ndarray]]:
        """Each block holding some of ``rows``, which of ``rows`` it holds, and their rows in
        it."""
        starts = np.array(self._block_starts(), np.int64)
        which = np.searchsorted(starts, rows, side="right") - 1
        for b in np.unique(which).tolist():
            picked = np.flatnonzero(which == b)
            yield self._blocks[b], picked, rows[picked] - starts[b]


class Known(Mapping[int, Doc]):
    """The articles as a batch knows them: its own (and, once scored, those it rescored) as the
    objects it has, the others as the columns hold them (made when one is read)."""

    def __init__(self, held: Articles, batch: Iterable[Doc]) -> None:
        self.held = held
        self._objects = {d.id: d for d in batch}

    def update(self, docs: Iterable[Doc]) -> None:
        self._objects.update((d.id, d) for d in docs)

    def __getitem__(self, aid: int) -> Doc:
        found = self._objects.get(aid)
        return self.held[aid] if found is None else found

    def __iter__(self) -> Iterator[int]:
        return iter(self.held)

    def __len__(self) -> int:
        return len(self.held)
