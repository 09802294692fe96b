"""The sketches: signatures round-trip as bytes, and both indexes find exactly the candidates
datasketch's MinHashLSH finds with their bands (one row for stories, four for copies);
candidates with empty vectors score safely."""

from __future__ import annotations

import random
import zlib
from dataclasses import replace

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHash, MinHashLSH
from scipy import sparse
from scipy.sparse import _sparsetools

from aggregator.matching import minhash, sketch
from aggregator.matching.similarity import Doc, _compiled_dot_rows, _dot_rows, with_neighbours
from aggregator.matching.stories import assign
from aggregator.matching.window import Window
from aggregator.model import Assignment


def _terms(rng: random.Random, vocabulary: list[str]) -> list[str]:
    return rng.sample(vocabulary, rng.randint(1, 40))


def test_story_index_matches_minhash_lsh_with_one_row_bands() -> None:
    rng = random.Random(7)
    vocabulary = [f"term{i}" for i in range(600)]
    sigs = {i: sketch.signature(_terms(rng, vocabulary), sketch.STORY_PERMS) for i in range(400)}
    ours = sketch.story_index()
    reference = MinHashLSH(num_perm=sketch.STORY_PERMS, params=(sketch.STORY_PERMS, 1))

    for i, sig in sigs.items():
        ours.add(i, sig)
        reference.insert(i, _lean(sig))
    for i in range(0, 400, 3):  # evicted articles leave both indexes
        ours.remove(i)
        reference.remove(i)
    assert len(ours) == 400 - len(range(0, 400, 3))
    found_any = 0
    for sig in sigs.values():
        expected = sorted(reference.query(_lean(sig)))
        assert ours.query(sig) == expected
        found_any += bool(expected)
    assert found_any > 300  # the comparison is not between empty results


def test_story_index_matches_minhash_lsh_through_interleaved_changes() -> None:
    """Additions and removals are applied lazily; in any interleaving with queries the answers
    stay those of MinHashLSH (an article removed and added again, removed before any query)."""
    rng = random.Random(8)
    vocabulary = [f"term{i}" for i in range(300)]
    ours = sketch.story_index()
    reference = MinHashLSH(num_perm=sketch.STORY_PERMS, params=(sketch.STORY_PERMS, 1))
    sigs: dict[int, bytes] = {}
    members: set[int] = set()
    answered = 0
    for _ in range(1500):
        op, key = rng.random(), rng.randrange(120)
        if op < 0.5:
            sigs.setdefault(key, sketch.signature(_terms(rng, vocabulary), sketch.STORY_PERMS))
            if key not in members:
                ours.add(key, sigs[key])
                reference.insert(key, _lean(sigs[key]))
                members.add(key)
        elif op < 0.8:
            if key in members:
                ours.remove(key)
                reference.remove(key)
                members.discard(key)
        else:
            probe = sketch.signature(_terms(rng, vocabulary), sketch.STORY_PERMS)
            expected = sorted(reference.query(_lean(probe)))
            assert ours.query(probe) == expected
            answered += bool(expected)
    probes = [sketch.signature(_terms(rng, vocabulary), sketch.STORY_PERMS) for _ in range(30)]
    assert [f.tolist() for f in ours.query_many(probes)] == [sorted(reference.query(_lean(p))) for p in probes]
    assert len(ours) == len(members) and all(k in ours for k in members)
    assert answered > 100  # the comparison is not between empty results


def test_copy_index_matches_minhash_lsh_with_its_bands() -> None:
    """Texts and edited versions of them (Jaccard 0.3-0.9 with their source): the copy index's
    bands of four rows hashed to one key find what MinHashLSH finds, through removals too."""
    rng = np.random.default_rng(9)
    bands, rows = sketch.COPY_BANDS
    sources = [rng.choice(2**32, 300, replace=False).astype(np.uint32) for _ in range(60)]
    texts = list(sources)
    for src in sources:
        for kept in (0.4, 0.6, 0.8, 0.95):
            fresh = rng.choice(2**32, int(300 * (1 - kept)), replace=False).astype(np.uint32)
            texts.append(np.concatenate((src[: int(300 * kept)], fresh)))
    sigs = {i: _copy_sig(np.unique(t)) for i, t in enumerate(texts)}
    ours = sketch.copy_index()
    reference = MinHashLSH(num_perm=sketch.COPY_PERMS, params=(bands, rows))
    for i, sig in sigs.items():
        ours.add(i, sig)
        reference.insert(i, _lean(sig))
    for i in range(0, len(sigs), 7):
        ours.remove(i)
        reference.remove(i)
    expected = [sorted(reference.query(_lean(sig))) for sig in sigs.values()]
    assert [f.tolist() for f in ours.query_many(list(sigs.values()))] == expected
    assert sum(len(e) > 1 for e in expected) > 150  # most texts find their versions


def _copy_sig(hashes: np.ndarray) -> bytes:
    """A copy signature of a set already hashed, as extraction makes it."""
    return minhash.of_hashed([hashes], sketch.permutations(sketch.COPY_PERMS))[0]


def _lean(sig: bytes) -> LeanMinHash:
    values = np.frombuffer(sig, dtype="<u4").astype(np.uint64)
    return LeanMinHash(seed=sketch.SEED, hashvalues=values, scheme=sketch.SCHEME)


def test_signatures_are_stable_bytes() -> None:
    a = sketch.signature(["storm", "flood", "river"], sketch.STORY_PERMS)
    assert a == sketch.signature(["river", "storm", "flood"], sketch.STORY_PERMS)
    assert len(a) == 4 * sketch.STORY_PERMS
    assert sketch.jaccards(a, [a]).tolist() == [1.0]
    b = sketch.signature(["election", "senate"], sketch.STORY_PERMS)
    assert sketch.jaccards(a, [b])[0] < 0.2


def _doc(aid: int, vec: dict[str, float], ids: dict[str, int]) -> Doc:
    for t in vec:
        ids.setdefault(t, len(ids))
    return Doc(
        aid,
        f"k{aid}",
        vec,
        np.array([ids[t] for t in vec], dtype=np.int64),
        np.array(list(vec.values())),
        None,
        "Outlet",
        None,
    )


@pytest.mark.parametrize("ids", [[3, 4, 5, 7, 8, 10], [3, 4, 5, 7, 8, 10_000]])  # close / spread
def test_the_scoring_table_finds_each_candidates_row(ids: list[int]) -> None:
    from aggregator.matching.similarity import _Table

    table = _Table([_doc(i, {"quake": 1.0}, {}) for i in reversed(ids)], {})
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
    decision = assign([a, b, empty], [], {1: [2, 3], 2: [3]}, {}, 72 * 3600.0, {})
    result = decision.assignment
    story = {lk.article_id: lk.story_id for lk in result.links}
    assert story[1] == story[2] != story[3]


def test_nearest_neighbours_are_found_both_ways_and_expand_the_vector() -> None:
    ids: dict[str, int] = {}
    a = _doc(1, {"quake": 0.8, "chile": 0.6}, ids)
    b = _doc(2, {"quake": 0.6, "chile": 0.8}, ids)
    c = _doc(3, {"quake": 0.6, "valparaiso": 0.8}, ids)
    far = _doc(4, {"election": 1.0}, ids)
    decision = assign([a, b, c, far], [], {1: [2, 3], 2: [3], 3: [], 4: []}, {}, 72 * 3600.0, {})
    nearest = {d.id: (d.neighbour, round(d.neighbour_score, 2)) for d in decision.rescored}
    # 1-2 (0.96) is the closest pair; 3 is closest to 1 (0.48) rather than 2 (0.36); 4 has none.
    assert nearest == {1: (2, 0.96), 2: (1, 0.96), 3: (1, 0.48)}
    (expanded,) = with_neighbours([(c, a.ids, a.weights, 1, 0.48)])
    assert expanded.expanded_ids is not None and expanded.expanded_weights is not None
    assert sorted(expanded.expanded_ids.tolist()) == sorted(ids[t] for t in ("quake", "chile", "valparaiso"))
    assert abs(float(expanded.expanded_weights @ expanded.expanded_weights) - 1.0) < 1e-9


def test_batched_signatures_equal_datasketch_minhash() -> None:
    """Signatures are computed for a whole batch in numpy; they must be the bytes datasketch's
    own MinHash gives (same permutations, same affine32 scheme), empty sets included."""
    rng = random.Random(11)
    sets = [[f"w{rng.randint(0, 3000)}" for _ in range(rng.randint(0, 80))] for _ in range(200)]
    sets[7] = []
    ours = sketch.signatures(sets, sketch.STORY_PERMS)
    hashed = [np.unique(np.array([rng.getrandbits(32) for _ in range(rng.randint(0, 700))],
                                 dtype=np.uint32)) for _ in range(50)]
    hashed[3] = np.zeros(0, dtype=np.uint32)
    ours_hashed = minhash.of_hashed(hashed, sketch.permutations(sketch.COPY_PERMS))
    for s, sig in zip(sets, ours, strict=True):
        m = MinHash(num_perm=sketch.STORY_PERMS, seed=sketch.SEED, scheme=sketch.SCHEME,
                    hashfunc=lambda b: zlib.crc32(b))
        m.update_batch([t.encode("utf-8") for t in s])
        assert sig == m.hashvalues.astype("<u4").tobytes()
    for h, sig in zip(hashed, ours_hashed, strict=True):
        m = MinHash(num_perm=sketch.COPY_PERMS, seed=sketch.SEED, scheme=sketch.SCHEME,
                    hashfunc=lambda x: x)
        m.update_batch(h.tolist())
        assert sig == m.hashvalues.astype("<u4").tobytes()


def test_signatures_of_term_ids_equal_those_of_the_terms() -> None:
    """Story signatures are made from term ids and each term's hash, kept as the vocabulary
    grows between batches; they are the signatures of the terms themselves."""
    rng = random.Random(12)
    hashes = sketch.TermHashes()
    names: list[str] = []
    for batch in range(3):
        names += [f"term{batch}-{i}" for i in range(100)]
        sets = [rng.sample(range(len(names)), rng.randint(0, 40)) for _ in range(30)]
        sizes = np.array([len(s) for s in sets], dtype=np.int64)
        ids = np.array([t for s in sets for t in s], dtype=np.int64)
        ours = hashes.signatures(names, ids, sizes, sketch.STORY_PERMS)
        assert ours == sketch.signatures([[names[t] for t in s] for s in sets], sketch.STORY_PERMS)


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


def test_a_copy_of_the_outlets_own_item_is_a_version_scored_by_its_text() -> None:
    """Found by its copy signature at another address, an edited item of the same outlet is a new
    version: its link shows how the texts agree (as one at the same address does, and as the
    site and --explain label it), the copy record keeps the Jaccard estimate that found it."""
    ids: dict[str, int] = {}
    earlier = replace(_doc(1, {"quake": 0.8, "chile": 0.6}, ids), url="https://x.example/1",
                      story_id="s1")
    edited = replace(_doc(2, {"quake": 0.6, "chile": 0.8}, ids), url="https://x.example/2")
    other = replace(_doc(3, {"quake": 0.6, "chile": 0.8}, ids), url="https://y.example/3",
                    outlet="Other")
    decision = assign([edited, other], [earlier], {2: [1], 3: [1]}, {2: [(1, 0.7)], 3: [(1, 0.7)]},
                    72 * 3600.0, {})
    result = decision.assignment
    links = {lk.article_id: lk for lk in result.links}
    assert (links[2].kind, links[2].score) == ("version", 0.96)  # 0.8 x 0.6 + 0.6 x 0.8
    assert set(links[2].shared_terms) == {"quake", "chile"}
    assert (links[3].kind, links[3].score) == ("copy", 0.7)
    assert {c.article_id: c.score for c in result.copies} == {2: 0.7, 3: 0.7}


@pytest.mark.parametrize(("agreeing", "linked"), [(11, True), (0, False)])
def test_an_address_is_matched_against_its_latest_articles(agreeing: int, linked: bool) -> None:
    """A front page holding a dozen items: a new item there is a version of the one it agrees
    with among the latest SAME_ADDRESS_LATEST (10) to arrive, not of an older one."""
    ids: dict[str, int] = {}
    window = [replace(_doc(i, {f"event{i}": 1.0}, ids), url="https://x.example/", story_id=f"s{i}")
              for i in range(12)]
    new = replace(_doc(20, {f"event{agreeing}": 0.8, "update": 0.6}, ids), url="https://x.example/")
    decision = assign([new], window, {20: []}, {}, 72 * 3600.0, {})
    result = decision.assignment
    (link,) = result.links
    assert (link.kind, link.matched_article_id) == (("version", agreeing) if linked else ("seed", None))


def test_the_window_indexes_one_text_once_and_takes_the_next_when_it_leaves() -> None:
    """Repeats of one text (a feed republishing it under new addresses) are found through one
    indexed article, so a flood of them costs a lookup each, not a comparison with every other."""
    text = _copy_sig(np.arange(50, dtype=np.uint32))
    other = _copy_sig(np.arange(50, 100, dtype=np.uint32))
    terms = sketch.signature(["spam", "watches"], sketch.STORY_PERMS)
    ids: dict[str, int] = {}
    window = Window()
    for i in range(5):
        window.add(_doc(i, {"spam": 1.0}, ids), text if i < 4 else other, terms, float(i))
    assert window.copy_candidates([_doc(2, {}, ids)]) == {2: [(0, 1.0)]}
    assert window.copy_candidates([_doc(4, {}, ids)]) == {4: []}  # its own text, once
    # Story candidates: repeats tie, so up to window.SAME_STORY_SIG of them are held.
    assert window.story_candidates([_doc(3, {}, ids)])[3].tolist() == [0, 1, 2, 3, 4]
    window.evict(1.0)  # the indexed article leaves; the next repeat to arrive is indexed
    window.add(_doc(9, {"spam": 1.0}, ids), text, terms, 9.0)
    assert window.copy_candidates([_doc(2, {}, ids)]) == {2: [(9, 1.0)]}


def test_the_window_holds_at_most_a_candidate_list_of_identical_key_terms(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import aggregator.matching.window as window_module

    monkeypatch.setattr(window_module, "SAME_STORY_SIG", 2)
    terms = sketch.signature(["spam", "watches"], sketch.STORY_PERMS)
    ids: dict[str, int] = {}
    window = Window()
    for i in range(4):
        window.add(_doc(i, {"spam": 1.0}, ids), None, terms, float(i))
    assert window.story_candidates([_doc(3, {}, ids)])[3].tolist() == [0, 1]


def test_a_near_repeat_leaves_the_copy_index_once_its_batch_is_decided() -> None:
    """A near-repeat (one code changed) is found, decided, then dropped from the copy index, so
    the next repeat finds the text it repeats rather than every repeat before it; a looser copy
    (an edited text, Jaccard ~0.7) stays indexed."""
    def sig(items: np.ndarray) -> bytes:
        return _copy_sig(items.astype(np.uint32))

    base = np.arange(400)  # a text of 400 shingles; repeats 1 and 3 add 12 of their own
    texts = {0: sig(base), 1: sig(np.append(base, np.arange(1000, 1012))),
             2: sig(np.append(base[:300], np.arange(2000, 2060))), 3: sig(np.append(base, np.arange(3000, 3012)))}
    assert len(set(texts.values())) == 4  # near, not exact, repeats
    terms = sketch.signature(["spam"], sketch.STORY_PERMS)
    ids: dict[str, int] = {}
    window = Window()
    window.add(_doc(0, {"spam": 1.0}, ids), texts[0], terms, 0.0)
    batch = [_doc(i, {"spam": 1.0}, ids) for i in (1, 2)]
    for d in batch:
        window.add(d, texts[d.id], terms, float(d.id))
    found = window.copy_candidates(batch)
    assert {o for o, j in found[1] if j >= 0.9} == {0} and 0.5 < dict(found[2])[0] < 0.9
    window.apply(Assignment((), (), ()), (), {})
    window.add(_doc(3, {"spam": 1.0}, ids), texts[3], terms, 3.0)
    assert [o for o, _ in window.copy_candidates([_doc(3, {}, ids)])[3]] == [0, 2]


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
    (expanded,) = with_neighbours([(c, a.ids, a.weights, 1, 0.48)])
    pairs = {(x, y): round(s, 4) for x, y, s in all_pairs([late, far, expanded, b, a], 72 * 3600.0)}
    assert pairs[(1, 2)] == round(cosine(a, b) * YEAR_CONFLICT, 4)
    assert expanded.expanded_ids is not None and expanded.expanded_weights is not None
    with_a = dict(zip(expanded.expanded_ids.tolist(), expanded.expanded_weights.tolist(), strict=True))
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
