"""How alike two articles are: rarity-weighted term cosines, sharpened by each article's
nearest neighbour. Pure logic over our own types (numpy and scipy arrays inside).

An article is scored against the candidates the sketches found for it, twice: by plain cosine,
to find each article's nearest neighbour, and then with every article's neighbour terms added
(NEIGHBOUR_WEIGHT). The second scores are the edges stories are grown from (stories.py).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import ModuleType

import numpy as np
from scipy import sparse

from aggregator.matching.articles import (
    TERM_ID,
    Articles,
    Doc,
    Known,
    Vectors,
    joined,
    with_neighbours,
)
from aggregator.matching.columns import spans
from aggregator.matching.features import YEAR_CONFLICT, year_conflict

# An article is scored with this times its similarity times its nearest neighbour's terms added.
NEIGHBOUR_WEIGHT = 1.0
NEIGHBOUR_MIN = 0.22
# Every scored candidate at this cosine or more is an edge of the story graph.
MIN_EDGE = 0.05
# Only candidates at this plain cosine or more are scored again with neighbour terms.
RESCORE_FROM = 0.02


# Articles whose expanded vectors are made in one call (bounds the memory of their terms).
EXPAND_CHUNK = 250
# Table rows whose vectors a batch gathers at once (bounds the memory of its scoring).
TABLE_ROWS = 5_000
# Weights as scored: a float32 weight (as the store keeps them) is made float64 exactly first.
WEIGHT = np.float64

# Each new article's candidates (article ids): as the window's index finds them, or a list.
Candidates = Mapping[int, "np.ndarray | Sequence[int]"]


def expanded(docs: Sequence[Doc]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each article's unit vector with its neighbour's terms added (NEIGHBOUR_WEIGHT times its
    score times the neighbour's weights), as term ids in id order and weights; its own vector
    when it has no neighbour. In a few numpy calls over all of them, not one per article
    (docs/tuning.md, "Speed"). An article's result does not depend on the others it is made
    with (its terms are summed and its norm taken in term order), so it is the same whenever
    it is made."""
    out = [(d.ids, d.weights) for d in docs]
    found = [
        (i, d, d.neighbour_ids, d.neighbour_weights)
        for i, d in enumerate(docs)
        if d.neighbour_ids is not None and d.neighbour_weights is not None
    ]
    for start in range(0, len(found), EXPAND_CHUNK):
        _expand(found[start : start + EXPAND_CHUNK], out)
    return out


def _expand(
    found: Sequence[tuple[int, Doc, np.ndarray, np.ndarray]],
    out: list[tuple[np.ndarray, np.ndarray]],
) -> None:
    """``expanded`` of the articles ``found`` (index in ``out``, article, neighbour's ids and
    weights), written to ``out`` as views of arrays made for all of them."""
    n = len(found)
    terms, weights, lengths = _summed(
        joined([(d.ids, d.weights) for _, d, _, _ in found]),
        joined([(ids, weights) for _, _, ids, weights in found]),
        np.fromiter((d.neighbour_score for _, d, _, _ in found), float, n),
    )
    bounds = np.concatenate(([0], np.cumsum(lengths))).tolist()
    for k, (i, _, _, _) in enumerate(found):
        out[i] = (terms[bounds[k] : bounds[k + 1]], weights[bounds[k] : bounds[k + 1]])


def _summed(own: Vectors, near: Vectors, scores: np.ndarray) -> Vectors:
    """Each article's unit vector (``own``) with its neighbour's (``near``) added,
    NEIGHBOUR_WEIGHT times their similarity (``scores``) times its weights, as term ids in id
    order and weights; an empty vector where both are empty."""
    n = len(scores)
    terms = np.concatenate((own[0], near[0]))
    if not len(terms):  # nothing to add up: every vector is empty
        return np.zeros(0, TERM_ID), np.zeros(0), np.zeros(n, np.int64)
    scales = NEIGHBOUR_WEIGHT * scores
    weights = np.concatenate((own[1], np.repeat(scales, near[2]) * near[1]), dtype=WEIGHT)
    owner = np.repeat(
        np.concatenate((np.arange(n), np.arange(n))), np.concatenate((own[2], near[2]))
    )
    width = int(terms.max(initial=0)) + 1
    keys = owner * width + terms
    order = np.argsort(keys)  # a term at most twice per article: its sum is the same either way
    keys = keys[order]
    first = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    summed = np.add.reduceat(weights[order], first) if len(first) else np.zeros(0)
    owners, union = keys[first] // width, (keys[first] % width).astype(TERM_ID)
    norms = np.sqrt(np.bincount(owners, summed * summed, minlength=n))
    lengths = np.diff(np.searchsorted(owners, np.arange(n + 1)))
    unit = summed / np.repeat(np.where(norms != 0, norms, 1.0), lengths)  # x / 1.0 is x
    return union, unit, lengths


def _taken(vectors: Vectors, starts: np.ndarray, lengths: np.ndarray) -> Vectors:
    """The vectors of ``vectors`` that start at ``starts`` and have ``lengths`` terms."""
    at = spans(starts, lengths)
    return vectors[0][at], vectors[1][at], lengths


def _closer(
    has: np.ndarray, scores: np.ndarray, near: Vectors, closer: Mapping[int, Doc]
) -> tuple[np.ndarray, np.ndarray, Vectors]:
    """Rows' neighbours (``has``, ``scores``, ``near``: as ``Articles.neighbours`` gives
    them), those of the rows ``closer`` (by position) replaced by the new or closer neighbour
    each article there has."""
    starts = (np.cumsum(near[2]) - near[2]).tolist()
    found: dict[int, tuple[np.ndarray, np.ndarray, float]] = {
        k: (near[0][s : s + n], near[1][s : s + n], score)
        for k, s, n, score in zip(
            np.flatnonzero(has).tolist(), starts, near[2].tolist(), scores.tolist(), strict=True
        )
    }
    for k, d in closer.items():
        if d.neighbour_ids is not None and d.neighbour_weights is not None:
            found[k] = (d.neighbour_ids, d.neighbour_weights, d.neighbour_score)
    rows = sorted(found)
    has = np.zeros(len(has), bool)
    has[rows] = True
    return (
        has,
        np.fromiter((found[k][2] for k in rows), float, len(rows)),
        joined([found[k][:2] for k in rows]),
    )


def _with_expanded(own: Vectors, has: np.ndarray, scores: np.ndarray, near: Vectors) -> Vectors:
    """Articles' vectors (``own``), those that ``has`` a neighbour expanded with its vector
    (``near``, their similarity ``scores``), as ``expanded`` makes them; the others as they
    are."""
    starts = np.cumsum(own[2]) - own[2]
    summed = _summed(_taken(own, starts[has], own[2][has]), near, scores)
    lengths = own[2].copy()
    lengths[has] = summed[2]
    out_starts = np.cumsum(lengths) - lengths
    terms, weights = np.empty(int(lengths.sum()), TERM_ID), np.empty(int(lengths.sum()))
    plain = ~has
    source, target = spans(starts[plain], own[2][plain]), spans(out_starts[plain], own[2][plain])
    terms[target], weights[target] = own[0][source], own[1][source]
    target = spans(out_starts[has], summed[2])
    terms[target], weights[target] = summed[0], summed[1]
    return terms, weights, lengths


def cosine(a: Doc, b: Doc) -> float:
    """The plain cosine of two articles' vectors (each unit length, or empty)."""
    _, ia, ib = np.intersect1d(a.ids, b.ids, assume_unique=True, return_indices=True)
    return float(a.weights[ia].astype(WEIGHT) @ b.weights[ib].astype(WEIGHT))


def edges(
    batch: Sequence[Doc],
    docs: Articles,
    order: Mapping[int, int],
    candidates: Candidates,
    window_seconds: float,
) -> tuple[list[tuple[int, int, float]], tuple[Doc, ...]]:
    """Each new article's links (new id, other id, similarity at MIN_EDGE or more) and the
    articles whose nearest neighbour is new or closer, re-scored with it. Pass 1 scores the
    candidates by plain cosine to find the neighbours; pass 2 scores those at RESCORE_FROM or
    more again with each article's neighbour terms added."""
    # The table holds the batch and its candidates only: what a batch costs does not grow with
    # the window.
    wanted = {d.id for d in batch}
    for d in batch:
        wanted.update(np.asarray(candidates.get(d.id, _NO_ROWS)).tolist())
    table = _Table(docs, np.fromiter(wanted, np.int64, len(wanted)), order)
    del wanted  # as many ids as the window: not beside the batch's pairs
    scored: list[tuple[Doc, np.ndarray, np.ndarray | None]] = []  # doc, rows, factors
    for d, rows in zip(
        batch, table.candidates(batch, candidates, order, window_seconds), strict=True
    ):
        if len(rows):
            scored.append((d, rows, table.year_factors(d, rows)))
    plain = table.plain([(d.ids, d.weights) for d, _, _ in scored], [r for _, r, _ in scored])
    rescored = _nearest(
        Known(docs, batch),  # the batch's own as the objects it has
        (
            (d.id, table.ids[rows], p if f is None else p * f)
            for (d, rows, f), p in zip(scored, plain, strict=True)
        ),
    )
    closer = {d.id: d for d in rescored}
    again = [
        (d, rows[n], None if factors is None else factors[n])
        for (d, rows, factors), p in zip(scored, plain, strict=True)
        if (n := p >= RESCORE_FROM).any()
    ]
    del scored, plain  # a batch's pairs, many times the window: only ``again`` goes on
    rescores = table.rescore(
        closer,
        expanded([closer.get(d.id, d) for d, _, _ in again]),
        [rows for _, rows, _ in again],
    )
    edges: list[tuple[int, int, float]] = []
    for (d, rows, factors), again_scores in zip(again, rescores, strict=True):
        scores = again_scores if factors is None else again_scores * factors
        ids = table.ids[rows]
        keep = np.flatnonzero(scores >= MIN_EDGE)
        top = np.lexsort((ids[keep], -scores[keep]))  # best, lowest id: one summing order
        edges.extend(
            zip(
                itertools.repeat(d.id),
                ids[keep][top].tolist(),
                scores[keep][top].tolist(),
            )
        )
    return edges, rescored


def all_pairs(docs: Sequence[Doc], window_seconds: float) -> list[tuple[int, int, float]]:
    """Every pair of ``docs`` (a story's members) scored as ``edges`` scores a candidate
    (``_scored``); the pairs at MIN_EDGE or more, each once (lower id first), in id order."""
    docs = sorted(docs, key=lambda d: d.id)
    ia, ib = np.triu_indices(len(docs), k=1)
    scores = _scored(docs, ia, ib, window_seconds)
    return [
        (docs[i].id, docs[j].id, score)
        for i, j, score in zip(ia.tolist(), ib.tolist(), scores.tolist(), strict=True)
        if score
    ]


def cross_sums(
    groups: Sequence[Sequence[Doc]], pairs: Sequence[tuple[int, int]], window_seconds: float
) -> np.ndarray:
    """For each pair (i, j) of ``groups``, the sum of the scores of every article of group i
    with every article of group j (``_scored``)."""
    members = sorted({d.id: d for g in groups for d in g}.values(), key=lambda d: d.id)
    row = {d.id: i for i, d in enumerate(members)}
    rows = [np.array([row[d.id] for d in g], dtype=np.int64) for g in groups]
    sizes = np.array([len(rows[i]) * len(rows[j]) for i, j in pairs], dtype=np.int64)
    ia = np.concatenate([np.repeat(rows[i], len(rows[j])) for i, j in pairs] + [_NO_ROWS])
    ib = np.concatenate([np.tile(rows[j], len(rows[i])) for i, j in pairs] + [_NO_ROWS])
    owner = np.repeat(np.arange(len(pairs)), sizes)
    totals: np.ndarray = np.bincount(
        owner, _scored(members, ia, ib, window_seconds), minlength=len(pairs)
    )
    return totals


def _scored(
    docs: Sequence[Doc], ia: np.ndarray, ib: np.ndarray, window_seconds: float
) -> np.ndarray:
    """The pairs (docs[ia[k]], docs[ib[k]]) scored as ``edges`` scores a candidate: the
    neighbour-expanded cosine, scaled by YEAR_CONFLICT, 0 across the time window or below
    MIN_EDGE. Rows are gathered and multiplied in compiled calls, CROSS_CHUNK pairs at a time."""
    matrix = _expanded_matrix(docs)
    scores = np.concatenate(
        [np.zeros(0)]
        + [
            np.asarray(
                matrix[ia[k : k + CROSS_CHUNK]].multiply(matrix[ib[k : k + CROSS_CHUNK]]).sum(1)
            ).ravel()
            for k in range(0, len(ia), CROSS_CHUNK)
        ]
    )
    times = np.array([np.nan if d.time is None else d.time for d in docs])
    with np.errstate(invalid="ignore"):  # NaN: an undated article, compared by content alone
        scores[np.abs(times[ia] - times[ib]) > window_seconds] = 0.0
    for k in np.flatnonzero(scores >= MIN_EDGE).tolist():
        if year_conflict(docs[ia[k]].years, docs[ib[k]].years):
            scores[k] *= YEAR_CONFLICT
    scores[scores < MIN_EDGE] = 0.0
    return scores


# _Table finds rows by a table from id to row when ids span at most this many times the articles.
DENSE_IDS = 4
# A row of a _Table, as its candidates are kept (a table holds far fewer than 2^31 articles).
TABLE_ROW = np.int32
# New articles whose candidates _Table filters in one call (bounds the memory of the pairs).
CANDIDATE_CHUNK = 250
# Article pairs scored per call by ``_scored`` (bounds the memory of the gathered rows).
CROSS_CHUNK = 10_000
_NO_ROWS = np.zeros(0, dtype=np.int64)


def _nearest(
    docs: Mapping[int, Doc], scored: Iterable[tuple[int, np.ndarray, np.ndarray]]
) -> tuple[Doc, ...]:
    """The articles whose nearest neighbour is new or closer than before, from every scored
    pair (both ways): the most similar at NEIGHBOUR_MIN or more, ties to the lower id; each
    returned with that neighbour's terms added."""

    close = [(aid, ids[sc >= NEIGHBOUR_MIN], sc[sc >= NEIGHBOUR_MIN]) for aid, ids, sc in scored]
    if not close:
        return ()
    a = np.concatenate([np.full(len(ids), aid, dtype=np.int64) for aid, ids, _ in close])
    b = np.concatenate([ids for _, ids, _ in close])
    s = np.concatenate([sc for _, _, sc in close])
    src, dst, sim = np.concatenate((a, b)), np.concatenate((b, a)), np.concatenate((s, s))
    best = np.lexsort((dst, -sim, src))  # per source: highest similarity, then lowest id
    first = best[np.unique(src[best], return_index=True)[1]]
    closer = []
    for aid, nid, score in zip(
        src[first].tolist(), dst[first].tolist(), sim[first].tolist(), strict=True
    ):
        d = docs[aid]
        if d.neighbour is None or (score, -nid) > (d.neighbour_score, -d.neighbour):
            near = docs[nid]
            closer.append((d, near.ids, near.weights, nid, score))
    return tuple(with_neighbours(closer))


class _Table:
    """The batch and its candidates as rows in id order, so each new article's candidates are
    filtered and scored in a few calls rather than a Python loop per candidate. Their vectors
    are read from the articles' columns into sparse matrices TABLE_ROWS rows at a time: a
    batch's candidates can be most of the window, and all their vectors at once took as much
    memory again as the window (docs/tuning.md, "The window's memory")."""

    def __init__(self, articles: Articles, ids: np.ndarray, order: Mapping[int, int]) -> None:
        self.articles = articles
        ids = np.unique(ids)
        rows = articles.rows(ids)
        self.ids = ids[rows >= 0]
        self.rows = rows[rows >= 0]  # the articles' rows
        self.times = articles.times(self.rows)
        # Position in the batch; window articles come after every new one.
        self.order = np.fromiter(
            (order.get(aid, len(order)) for aid in self.ids.tolist()), np.int64, len(self.ids)
        )
        self.lengths = articles.lengths(self.rows)

    def year_factors(self, d: Doc, rows: np.ndarray) -> np.ndarray | None:
        """YEAR_CONFLICT for each of the articles of ``rows`` whose years conflict with
        ``d``'s, 1.0 for the others; None when none do."""
        if not d.years:
            return None
        conflicts = [year_conflict(d.years, y) for y in self.articles.years(self.rows[rows])]
        if not any(conflicts):
            return None
        return np.where(conflicts, YEAR_CONFLICT, 1.0)

    def plain(
        self, vectors: Sequence[tuple[np.ndarray, np.ndarray]], rows: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        """The dot products of each of ``vectors`` (term ids, weights) with the plain vectors
        of its ``rows``."""
        return self._products(
            lambda chunk: _csr(*self.articles.vectors(self.rows[chunk]))[0], vectors, rows
        )

    def rescore(
        self,
        closer: Mapping[int, Doc],
        vectors: Sequence[tuple[np.ndarray, np.ndarray]],
        rows: Sequence[np.ndarray],
    ) -> list[np.ndarray]:
        """The dot products of each of ``vectors`` with the neighbour-expanded vectors of its
        ``rows``, each article as in ``closer`` if it has a new or closer neighbour there."""
        return self._products(lambda chunk: self._expanded(chunk, closer), vectors, rows)

    def _expanded(self, chunk: np.ndarray, closer: Mapping[int, Doc]) -> sparse.csr_matrix:
        """The neighbour-expanded vectors (``expanded``) of the table's rows ``chunk`` as a
        matrix, made EXPAND_CHUNK articles at a time into arrays of the most they can take, so
        that no more than a piece's vectors exist beside the matrix."""
        rows, ids = self.rows[chunk], self.ids[chunk].tolist()
        swapped = {k: closer[aid] for k, aid in enumerate(ids) if aid in closer}
        most = int(self.articles.lengths(rows).sum() + self.articles.neighbour_lengths(rows).sum())
        most += sum(len(d.neighbour_ids) for d in swapped.values() if d.neighbour_ids is not None)
        terms, weights = np.empty(most, TERM_ID), np.empty(most)
        lengths = np.empty(len(rows), np.int64)
        at = 0
        for start in range(0, len(rows), EXPAND_CHUNK):
            piece = rows[start : start + EXPAND_CHUNK]
            own = self.articles.vectors(piece)
            has, scores, near = self.articles.neighbours(piece)
            mine = {k - start: d for k, d in swapped.items() if start <= k < start + len(piece)}
            if mine:
                has, scores, near = _closer(has, scores, near, mine)
            piece_terms, piece_weights, piece_lengths = _with_expanded(own, has, scores, near)
            terms[at : at + len(piece_terms)] = piece_terms
            weights[at : at + len(piece_terms)] = piece_weights
            lengths[start : start + len(piece)] = piece_lengths
            at += len(piece_terms)
        # Cut to what was filled in place: a slice would be copied into the matrix beside them.
        terms.resize(at, refcheck=False)
        weights.resize(at, refcheck=False)
        return _csr(terms, weights, lengths)[0]

    def _products(
        self,
        gather: Callable[[np.ndarray], sparse.csr_matrix],
        vectors: Sequence[tuple[np.ndarray, np.ndarray]],
        rows: Sequence[np.ndarray],
    ) -> list[np.ndarray]:
        """The dot products of each of ``vectors`` with the vectors ``gather`` makes of its
        ``rows`` (in ascending order), TABLE_ROWS rows at a time (a row's product does not
        depend on the others gathered with it)."""
        wanted = np.zeros(len(self.ids), dtype=bool)  # not a concatenation: ~all candidates
        for mine in rows:
            wanted[mine] = True
        needed = np.flatnonzero(wanted)
        top = max((int(ids.max(initial=0)) for ids, _ in vectors), default=0) + 1
        out = [np.zeros(len(r)) for r in rows]
        firsts = needed[::TABLE_ROWS]  # each chunk's first row; rows are in ascending order
        cuts = [[*np.searchsorted(mine, firsts).tolist(), len(mine)] for mine in rows]
        for k, start in enumerate(range(0, len(needed), TABLE_ROWS)):
            chunk = needed[start : start + TABLE_ROWS]
            matrix = gather(chunk)
            dense = np.zeros(max(top, matrix.shape[1]))
            for (ids, weights), mine, scores, cut in zip(vectors, rows, out, cuts, strict=True):
                a, b = cut[k], cut[k + 1]
                if a < b:
                    dense[ids] = weights
                    scores[a:b] = _dot_rows(matrix, np.searchsorted(chunk, mine[a:b]), dense)
                    dense[ids] = 0.0
        return out

    def candidates(
        self,
        batch: Sequence[Doc],
        found: Candidates,
        order: Mapping[int, int],
        window_seconds: float,
    ) -> list[np.ndarray]:
        """Each new article's rows of candidates to score, in ascending order: known, not
        itself, not earlier in the batch (new-new pairs are scored once, from the earlier
        article), inside the time window, non-empty. CANDIDATE_CHUNK new articles at a time, in
        a few calls each."""
        if not len(self.ids):
            return [np.zeros(0, dtype=TABLE_ROW) for _ in batch]
        out: list[np.ndarray] = []
        for start in range(0, len(batch), CANDIDATE_CHUNK):
            part = batch[start : start + CANDIDATE_CHUNK]
            lists = [np.sort(np.asarray(found.get(d.id, _NO_ROWS), dtype=np.int64)) for d in part]
            sizes = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
            want = np.concatenate([*lists, _NO_ROWS])
            owner = np.repeat(np.arange(len(part)), sizes)
            rows = self._rows(want)
            own = np.fromiter((d.id for d in part), dtype=np.int64, count=len(part))[owner]
            position = np.fromiter((order[d.id] for d in part), np.int64, len(part))[owner]
            times = np.array([np.nan if d.time is None else d.time for d in part])[owner]
            found_ids = self.ids[rows]
            keep = (found_ids == want) & (found_ids != own) & (self.order[rows] >= position)
            keep &= self.lengths[rows] > 0
            with np.errstate(invalid="ignore"):  # NaN: undated, compared by content alone
                far = np.abs(self.times[rows] - times) > window_seconds
            keep &= ~far
            kept = np.flatnonzero(keep)
            bounds = np.searchsorted(owner[kept], np.arange(len(part) + 1))
            chosen = rows[kept].astype(TABLE_ROW)
            out.extend(chosen[bounds[i] : bounds[i + 1]] for i in range(len(part)))
        return out

    def _rows(self, wanted: np.ndarray) -> np.ndarray:
        """The row of each wanted article id; for an id the table lacks, some row holding
        another id: by a table from id to row when the ids lie close together, else by binary
        search."""
        lo, hi = int(self.ids[0]), int(self.ids[-1])
        if hi - lo >= DENSE_IDS * len(self.ids):
            found: np.ndarray = np.minimum(np.searchsorted(self.ids, wanted), len(self.ids) - 1)
            return found
        row_of = np.zeros(hi - lo + 1, dtype=np.int64)
        row_of[self.ids - lo] = np.arange(len(self.ids))
        inside = (wanted >= lo) & (wanted <= hi)
        return np.where(inside, row_of[np.clip(wanted - lo, 0, hi - lo)], 0)


def _compiled_dot_rows(
    tools: ModuleType, matrix: sparse.csr_matrix, rows: np.ndarray, x: np.ndarray
) -> np.ndarray:
    """``matrix[rows] @ x``, by the compiled row gather and product that scipy itself calls
    (``tools``: scipy.sparse._sparsetools), without its index checks and intermediate matrix.
    The seam of the package's one speed trick on a private API: ``_public_dot_rows`` is the
    plain version beside it, used whenever the two disagree (checked at import and by
    tests/matching/test_scoring.py)."""
    indptr = matrix.indptr
    rows = rows.astype(indptr.dtype, copy=False)
    bounds = np.empty(len(rows) + 1, dtype=indptr.dtype)
    bounds[0] = 0
    np.cumsum(indptr[rows + 1] - indptr[rows], out=bounds[1:])
    size = int(bounds[-1])
    indices = np.empty(size, dtype=matrix.indices.dtype)
    data = np.empty(size, dtype=matrix.data.dtype)
    tools.csr_row_index(len(rows), rows, indptr, matrix.indices, matrix.data, indices, data)
    out = np.zeros(len(rows), dtype=np.result_type(matrix.data, x))
    tools.csr_matvec(len(rows), len(x), bounds, indices, data, x, out)
    return out


def _public_dot_rows(matrix: sparse.csr_matrix, rows: np.ndarray, x: np.ndarray) -> np.ndarray:
    product: np.ndarray = matrix[rows] @ x
    return product


def _dot_rows_for_this_scipy() -> Callable[[sparse.csr_matrix, np.ndarray, np.ndarray], np.ndarray]:
    """The compiled path when this scipy has its private functions as we call them (checked
    against its public product on a small case), else the public product: the private module
    may change between scipy versions, and a mismatch must cost speed, not correctness."""
    try:
        from scipy.sparse import _sparsetools as tools

        matrix = sparse.csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0], [4.0, 0.0, 5.0]]))
        rows, x = np.array([2, 0, 2, 1]), np.array([1.0, 2.0, 3.0])
        if np.array_equal(_compiled_dot_rows(tools, matrix, rows, x), matrix[rows] @ x):
            return functools.partial(_compiled_dot_rows, tools)
    except Exception:  # any failure of a private API means: use the public one
        pass
    return _public_dot_rows  # pragma: no cover - not with the scipy versions we test


_dot_rows = _dot_rows_for_this_scipy()


def _expanded_matrix(docs: Sequence[Doc]) -> sparse.csr_matrix:
    """The articles' expanded vectors (``expanded``) as the rows of a CSR matrix."""
    return _csr(*joined(expanded(docs)))[0]


def _csr(
    terms: np.ndarray, weights: np.ndarray, lengths: np.ndarray
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Rows of ``lengths`` entries each as a CSR matrix, with a zeroed dense row of its width."""
    width = int(terms.max(initial=0)) + 1
    indptr = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    matrix = sparse.csr_matrix((weights, terms, indptr), shape=(len(lengths), width))
    return matrix, np.zeros(width)
