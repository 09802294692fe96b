"""Scoring candidates (matching/similarity.py): the table, nearest neighbours, pair and cross sums."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest
from scipy import sparse
from scipy.sparse import _sparsetools

from aggregator.matching.articles import Articles, Doc, with_neighbours
from aggregator.matching.similarity import (
    _compiled_dot_rows,
    _dot_rows,
    expanded,
)
from aggregator.matching.stories import assign


def held(window: Sequence[Doc], batch: Sequence[Doc]) -> Articles:
    """The window's articles and the batch's, as the clusterer's window holds them."""
    return Articles.of([*window, *batch])


def _doc(aid: int, vec: dict[str, float], ids: dict[str, int]) -> Doc:
    for t in vec:
        ids.setdefault(t, len(ids))
    return Doc(
        aid,
        f"k{aid}",
        np.array([ids[t] for t in vec], dtype=np.int64),
        np.array(list(vec.values())),
        None,
        "Outlet",
        None,
    )


@pytest.mark.parametrize("ids", [[3, 4, 5, 7, 8, 10], [3, 4, 5, 7, 8, 10_000]])  # close / spread
def test_the_scoring_table_finds_each_candidates_row(ids: list[int]) -> None:
    from aggregator.matching.similarity import _Table

    docs = [_doc(i, {"quake": 1.0}, {}) for i in reversed(ids)]
    table = _Table(Articles.of(docs), np.array(ids), {})
    wanted = np.array([10, 3, 7, 8, 8, 2, 6, 11, 10_000, 10_001], dtype=np.int64)
    rows = table._rows(wanted)
    found = table.ids[rows]
    present = np.isin(wanted, ids)
    assert (found[present] == wanted[present]).all()
    assert (found[~present] != wanted[~present]).all()


def test_assign_scores_candidates_with_empty_vectors() -> None:
    # An article whose every term is in every document has an empty vector; as a candidate
    # (here the last one) it scores nothing and must not break the others' scoring.
    ids: dict[str, int] = {}
    a = _doc(1, {"quake": 0.8, "chile": 0.6}, ids)
    b = _doc(2, {"quake": 0.6, "chile": 0.8}, ids)
    empty = _doc(3, {}, ids)
    decision = assign([a, b, empty], held([], [a, b, empty]), {1: [2, 3], 2: [3]}, {}, 72 * 3600.0, {},
                      names=sorted(ids, key=ids.__getitem__))
    result = decision.assignment
    story = {lk.article_id: lk.story_id for lk in result.links}
    assert story[1] == story[2] != story[3]


def test_nearest_neighbours_are_found_both_ways_and_expand_the_vector() -> None:
    ids: dict[str, int] = {}
    a = _doc(1, {"quake": 0.8, "chile": 0.6}, ids)
    b = _doc(2, {"quake": 0.6, "chile": 0.8}, ids)
    c = _doc(3, {"quake": 0.6, "valparaiso": 0.8}, ids)
    far = _doc(4, {"election": 1.0}, ids)
    decision = assign([a, b, c, far], held([], [a, b, c, far]), {1: [2, 3], 2: [3], 3: [], 4: []}, {}, 72 * 3600.0, {},
                      names=sorted(ids, key=ids.__getitem__))
    nearest = {d.id: (d.neighbour, round(d.neighbour_score, 2)) for d in decision.rescored}
    # 1-2 (0.96) is the closest pair; 3 is closest to 1 (0.48) rather than 2 (0.36); 4 has none.
    assert nearest == {1: (2, 0.96), 2: (1, 0.96), 3: (1, 0.48)}
    (near,) = with_neighbours([(c, a.ids, a.weights, 1, 0.48)])
    assert near.neighbour_ids is a.ids and near.neighbour_weights is a.weights  # not copies
    ((terms, weights),) = expanded([near])
    assert terms.tolist() == sorted(ids[t] for t in ("quake", "chile", "valparaiso"))
    assert abs(float(weights @ weights) - 1.0) < 1e-9


def test_scoring_rows_equals_scipys_own_product() -> None:
    """Candidates are scored by scipy's compiled row gather and product called directly (when
    this scipy's private functions pass a check at import); the result must be scipy's
    ``matrix[rows] @ x``: empty rows, repeated and unsorted rows, no rows,
    and 64-bit index arrays included."""
    rng = np.random.default_rng(5)
    for index_type in (np.int32, np.int64):
        dense = rng.random((300, 2000)) * (rng.random((300, 2000)) < 0.02)
        dense[[3, 77]] = 0.0
        matrix = sparse.csr_matrix(dense)
        matrix.indptr = matrix.indptr.astype(index_type)
        matrix.indices = matrix.indices.astype(index_type)
        x = np.zeros(2000)
        x[rng.choice(2000, 60, replace=False)] = rng.random(60)
        for rows in (
            rng.choice(300, 120, replace=False),
            np.array([3, 77, 5, 5, 299, 0], dtype=np.int64),
            np.zeros(0, dtype=np.int64),
        ):
            assert np.array_equal(_dot_rows(matrix, rows, x), matrix[rows] @ x)
            assert np.array_equal(_compiled_dot_rows(_sparsetools, matrix, rows, x), matrix[rows] @ x)


def test_all_pairs_of_a_story_are_scored_as_candidate_edges_are() -> None:
    """Regrouping scores every pair of a story's members as ``edges`` scores a candidate:
    neighbour-expanded vectors, years in conflict scaled down, nothing across the window."""
    from aggregator.matching.features import YEAR_CONFLICT
    from aggregator.matching.similarity import MIN_EDGE, all_pairs, cosine

    ids: dict[str, int] = {}
    a = replace(_doc(1, {"quake": 0.8, "chile": 0.6}, ids), time=0.0, years=frozenset({"2024"}))
    b = replace(_doc(2, {"quake": 0.6, "chile": 0.8}, ids), time=3600.0, years=frozenset({"2010"}))
    c = replace(_doc(3, {"quake": 0.6, "valparaiso": 0.8}, ids), time=7200.0)
    late = replace(_doc(4, {"quake": 0.8, "chile": 0.6}, ids), time=73.5 * 3600.0)
    far = _doc(5, {"election": 1.0}, ids)
    (near,) = with_neighbours([(c, a.ids, a.weights, 1, 0.48)])
    pairs = {(x, y): round(s, 4) for x, y, s in all_pairs([late, far, near, b, a], 72 * 3600.0)}
    assert pairs[(1, 2)] == round(cosine(a, b) * YEAR_CONFLICT, 4)
    ((terms, weights),) = expanded([near])
    with_a = dict(zip(terms.tolist(), weights.tolist(), strict=True))
    assert pairs[(1, 3)] == round(sum(w * with_a.get(t, 0.0) for t, w in zip(
        a.ids.tolist(), a.weights.tolist(), strict=True)), 4) > round(cosine(a, c), 4)
    assert (1, 4) not in pairs and (2, 4) not in pairs  # 73.5 and 72.5 hours apart
    assert pairs[(3, 4)] >= MIN_EDGE and not any(5 in p for p in pairs)
    assert all(x < y for x, y in pairs)


def test_cross_sums_add_up_every_pair_between_two_groups() -> None:
    from aggregator.matching.similarity import all_pairs, cross_sums

    ids: dict[str, int] = {}
    docs = [replace(_doc(i, {"quake": 0.5 + 0.1 * i, f"w{i % 2}": 0.5}, ids), time=3600.0 * i,
                    years=frozenset({"2024"} if i == 3 else set()))
            for i in range(1, 6)]
    docs[4] = replace(docs[4], time=100 * 3600.0)  # outside the window of the others
    docs[1] = replace(docs[1], years=frozenset({"2010"}))  # in conflict with docs[2]'s 2024
    groups = [docs[:2], docs[2:4], docs[4:]]
    every = {(a, b): s for a, b, s in all_pairs(docs, 72 * 3600.0)}

    def expected(g: int, h: int) -> float:
        return sum(every.get((min(x.id, y.id), max(x.id, y.id)), 0.0)
                   for x in groups[g] for y in groups[h])

    totals = cross_sums(groups, [(0, 1), (0, 2), (1, 2)], 72 * 3600.0)
    assert totals.tolist() == pytest.approx([expected(0, 1), expected(0, 2), expected(1, 2)])
    assert totals[1] == totals[2] == 0.0 and totals[0] > 0.0


def test_an_expanded_vector_is_the_same_whatever_it_is_made_with() -> None:
    """Expanded vectors are made whenever they are scored, in groups that differ from one batch
    to the next: each article's must be bit for bit the same alone or among any others."""
    rng = np.random.default_rng(11)
    docs = []
    for i in range(60):
        terms = rng.choice(500, int(rng.integers(0, 40)), replace=False).astype(np.int32)
        weights = rng.random(len(terms))
        docs.append(Doc(i, f"k{i}", terms, weights / max(float(np.linalg.norm(weights)), 1e-9),
                        None, "o", None))
    near = with_neighbours(
        [(d, docs[(d.id * 7 + 3) % 60].ids, docs[(d.id * 7 + 3) % 60].weights,
          (d.id * 7 + 3) % 60, float(rng.random())) for d in docs[:45]]
    ) + docs[45:]
    together = expanded(near)
    shuffled = [near[i] for i in rng.permutation(len(near))]
    for d, (terms, weights) in zip(near, together, strict=True):
        ((alone_terms, alone_weights),) = expanded([d])
        assert np.array_equal(terms, alone_terms) and np.array_equal(weights, alone_weights)
    by_id = {d.id: made for d, made in zip(near, together, strict=True)}
    for d, (terms, weights) in zip(shuffled, expanded(shuffled), strict=True):
        assert np.array_equal(terms, by_id[d.id][0]) and np.array_equal(weights, by_id[d.id][1])
    assert sum(len(t) > len(d.ids) for d, (t, _) in zip(near, together, strict=True)) > 30


def test_the_tables_expanded_rows_are_each_articles_expanded_vector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch's expanded rows are made from the columns a piece at a time, the articles it
    brought closer to a neighbour as rescored; each row must be ``expanded`` of its article,
    bit for bit, empty vectors and articles without a neighbour included."""
    from aggregator.matching import similarity

    rng = np.random.default_rng(12)
    docs = []
    for i in range(50):
        terms = rng.choice(300, int(rng.integers(0, 30)), replace=False).astype(np.int32)
        docs.append(Doc(i, f"k{i}", terms, rng.random(len(terms)), None, "o", None))
    near = with_neighbours([(d, docs[i - 1].ids, docs[i - 1].weights, i - 1, 0.3)
                            for i, d in enumerate(docs) if i % 3]) + docs[::3]
    held = Articles.of(near)
    closer = {d.id: d for d in with_neighbours(
        [(held[i], docs[40].ids, docs[40].weights, 40, 0.7) for i in (4, 6, 9, 30)])}
    table = similarity._Table(held, np.arange(50), {})
    monkeypatch.setattr(similarity, "EXPAND_CHUNK", 7)
    chunk = np.arange(2, 47)
    matrix = table._expanded(chunk, closer)
    assert matrix.shape[0] == len(chunk) and matrix.nnz > 300
    for k, row in enumerate(chunk.tolist()):
        aid = int(table.ids[row])
        ((terms, weights),) = expanded([closer.get(aid, held[aid])])
        lo, hi = matrix.indptr[k], matrix.indptr[k + 1]
        assert matrix.indices[lo:hi].tolist() == terms.tolist()
        assert matrix.data[lo:hi].tolist() == weights.tolist()


def test_articles_without_terms_expand_to_nothing() -> None:
    """An article and a neighbour with no terms (a stored vector can be empty) give an empty
    expanded vector, alone or beside others."""
    empty = (np.zeros(0, np.int32), np.zeros(0))
    bare = Doc(1, "k1", *empty, None, "o", None)
    full = Doc(2, "k2", np.array([3, 1], np.int32), np.array([0.6, 0.8]), None, "o", None)
    (alone,) = with_neighbours([(bare, *empty, 2, 0.5)])
    assert [v.tolist() for v in expanded([alone])[0]] == [[], []]
    both = expanded([alone, with_neighbours([(full, *empty, 1, 0.5)])[0]])
    assert [v.tolist() for v in both[0]] == [[], []]
    assert both[1][0].tolist() == [1, 3] and np.allclose(both[1][1], [0.8, 0.6])


def test_a_batch_scored_a_few_rows_at_a_time_finds_the_same_edges(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch gathers its candidates' vectors TABLE_ROWS table rows at a time; the
    edges and neighbours must be those of one piece, bit for bit."""
    from aggregator.matching import similarity

    rng = np.random.default_rng(21)

    def article(i: int) -> Doc:
        terms = rng.choice(60, int(rng.integers(3, 12)), replace=False).astype(np.int32)
        weights = rng.random(len(terms))
        return Doc(i, f"k{i}", terms, weights / float(np.linalg.norm(weights)), None, "o", None)

    window = [article(i) for i in range(80)]
    window = with_neighbours(
        [(d, window[(i + 1) % 80].ids, window[(i + 1) % 80].weights, (i + 1) % 80, 0.4)
         for i, d in enumerate(window[:60])]
    ) + window[60:]
    batch = [article(i) for i in range(100, 130)]
    docs = Articles.of(window + batch)
    order = {d.id: k for k, d in enumerate(batch)}
    found = {d.id: np.sort(rng.choice(80, 30, replace=False)) for d in batch}
    whole = similarity.edges(batch, docs, order, found, 72 * 3600.0)
    monkeypatch.setattr(similarity, "TABLE_ROWS", 7)
    pieces = similarity.edges(batch, docs, order, found, 72 * 3600.0)
    assert pieces[0] == whole[0] and len(whole[0]) > 100
    assert [(d.id, d.neighbour, d.neighbour_score) for d in pieces[1]] == [
        (d.id, d.neighbour, d.neighbour_score) for d in whole[1]]


def test_weights_held_as_float32_score_as_the_same_values_in_float64() -> None:
    """A window loaded from the store holds its weights as the float32 the store keeps; every
    score must be that of the same values as float64, bit for bit (the story stage's results
    may not depend on how the window holds them)."""
    from aggregator.matching import similarity
    from aggregator.matching.features import shared_terms

    rng = np.random.default_rng(5)

    def article(i: int, dtype: type) -> Doc:
        terms = np.random.default_rng(i).choice(60, 3 + i % 9, replace=False).astype(np.int32)
        weights = np.random.default_rng(i).random(len(terms))
        unit = (weights / float(np.linalg.norm(weights))).astype(np.float32)
        return Doc(i, f"k{i}", terms, unit.astype(dtype), None, "o", None)

    def window(dtype: type) -> list[Doc]:
        docs = [article(i, dtype) for i in range(80)]
        return with_neighbours(
            [(d, docs[(i + 1) % 80].ids, docs[(i + 1) % 80].weights, (i + 1) % 80, 0.4)
             for i, d in enumerate(docs[:60])]
        ) + docs[60:]

    narrow, wide = window(np.float32), window(np.float64)
    assert narrow[0].weights.dtype == np.float32 and wide[0].weights.dtype == np.float64
    batch = [article(i, np.float64) for i in range(100, 130)]
    order = {d.id: k for k, d in enumerate(batch)}
    found = {d.id: rng.choice(80, 30, replace=False).tolist() for d in batch}  # in any order
    results = []
    for held in (narrow, wide):
        docs = Articles.of(held + batch)
        edges, rescored = similarity.edges(batch, docs, order, found, 72 * 3600.0)
        results.append((
            edges,
            [(d.id, d.neighbour, d.neighbour_score) for d in rescored],
            similarity.all_pairs(held[:40], 72 * 3600.0),
            similarity.cross_sums([held[:20], held[20:50], held[50:]], [(0, 1), (1, 2)],
                                  72 * 3600.0).tolist(),
            [similarity.cosine(a, b) for a, b in itertools.pairwise(held)],
            [shared_terms((a.ids, a.weights, a.years), (b.ids, b.weights, b.years),
                          [f"t{k}" for k in range(60)]) for a, b in itertools.pairwise(held)],
        ))
    assert results[0] == results[1]
    assert len(results[0][0]) > 100 and results[0][1]
