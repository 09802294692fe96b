"""The articles as columns (matching/articles.py, columns.py): what goes in comes out, across
blocks, after removals and changes."""

from __future__ import annotations

import numpy as np
import pytest

from aggregator.matching import articles as articles_module
from aggregator.matching.articles import Articles, Doc, with_neighbours
from aggregator.matching.columns import Block


def _article(i: int, rng: np.random.Generator, **fields: object) -> Doc:
    terms = rng.choice(500, int(rng.integers(0, 12)), replace=False).astype(np.int32)
    weights = rng.random(len(terms)).astype(np.float32)
    doc = Doc(i, f"feed#{i}", terms, weights, float(i) if i % 4 else None, f"outlet{i % 3}",
              None if i % 5 == 0 else f"https://example.org/{i % 7}", frozenset({f"@20{i % 2}0"}))
    return Doc(**{**{f: getattr(doc, f) for f in doc.__slots__}, **fields})  # type: ignore[arg-type]


def _same(a: Doc, b: Doc) -> None:
    for field in a.__slots__:
        x, y = getattr(a, field), getattr(b, field)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            assert x is not None and y is not None, field
            assert x.tolist() == y.tolist() and x.dtype == y.dtype, field
        else:
            assert x == y, field


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(articles_module, "BLOCK_ROWS", 4)


def test_articles_come_out_as_they_went_in_across_blocks() -> None:
    rng = np.random.default_rng(1)
    docs = [_article(i, rng, story_id=f"s{i % 3}", copy_root=i - 1 if i % 6 == 0 else None)
            for i in range(1, 15)]
    held = Articles.of(docs[:9])
    held.add(docs[9:])  # a second batch, joined to the last block
    assert len(held) == 14 and list(held) == [d.id for d in docs] and 99 not in held
    assert np.int64(3) in held and "3" not in held
    for d in docs:
        _same(held[d.id], d)
    rows = held.rows(np.array([12, 3, 99, 7]))
    assert rows[2] == -1
    terms, weights, lengths = held.vectors(rows[[0, 1, 3]])
    expected = [docs[11], docs[2], docs[6]]
    assert lengths.tolist() == [len(d.ids) for d in expected] and weights.dtype == np.float64
    assert terms.tolist() == [t for d in expected for t in d.ids.tolist()]
    assert weights.tolist() == [w for d in expected for w in d.weights.astype(float).tolist()]
    assert held.in_order([9, 2, 14, 5]) == [2, 5, 9, 14]
    assert held.ids(held.members(["s1"])).tolist() == [d.id for d in docs if d.story_id == "s1"]
    assert held.at({"https://example.org/3", "https://example.org/none"}) == {
        "https://example.org/3": [d.id for d in docs if d.url == "https://example.org/3"]}


def test_a_neighbour_is_read_from_its_row_or_kept_aside_while_an_article_names_it() -> None:
    rng = np.random.default_rng(2)
    docs = [_article(i, rng) for i in range(1, 11)]
    outside = _article(99, rng)  # older than the window: never held
    near = with_neighbours([(docs[0], docs[1].ids, docs[1].weights, 2, 0.5),
                            (docs[2], outside.ids, outside.weights, 99, 0.25)])
    held = Articles.of(near + docs[3:])
    held.add([docs[1]])  # the neighbour comes after the article that names it
    _same(held[1], near[0])
    _same(held[3], near[1])
    has, scores, (terms, weights, lengths) = held.neighbours(held.rows(np.array([3, 5, 1])))
    assert has.tolist() == [True, False, True] and scores.tolist() == [0.25, 0.5]
    assert terms.tolist() == outside.ids.tolist() + docs[1].ids.tolist()  # one aside, one held
    assert weights.tolist() == outside.weights.tolist() + docs[1].weights.tolist()
    # Article 4 takes 2 as its neighbour, then 2 leaves: its vector is kept for 1 and 4.
    held.link([4], [2], [0.75], {})
    held.remove(np.array([2, 6]))
    assert 2 not in held and 6 not in held and len(held) == 8
    assert held[4].neighbour == 2 and held[4].neighbour_score == 0.75
    assert held[4].neighbour_ids.tolist() == docs[1].ids.tolist()  # type: ignore[union-attr]
    _same(held[1], near[0])
    has, scores, (terms, _, lengths) = held.neighbours(held.rows(np.array([1, 5, 3])))
    assert has.tolist() == [True, False, True] and scores.tolist() == [0.5, 0.25]
    assert lengths.tolist() == [len(docs[1].ids), len(outside.ids)]
    assert terms.tolist() == docs[1].ids.tolist() + outside.ids.tolist()
    # Once no held article names them, the vectors kept aside go.
    held.remove(np.array([1, 3, 4]))
    assert held._aside == {}


def test_a_neighbour_neither_held_nor_given_leaves_the_article_as_it_was() -> None:
    rng = np.random.default_rng(3)
    held = Articles.of([_article(i, rng) for i in range(1, 4)])
    held.link([1, 2], [3, 77], [0.5, 0.9], {})
    assert (held[1].neighbour, held[2].neighbour, held[2].neighbour_score) == (3, None, 0.0)


def test_stories_move_and_are_renamed_and_copies_get_their_root() -> None:
    rng = np.random.default_rng(4)
    held = Articles.of([_article(i, rng, story_id="a" if i < 4 else "b") for i in range(1, 8)])
    held.relabel({2: "c", 5: "a"}, {"a": "b"}, {6: 1})
    assert held.stories(held.rows(np.arange(1, 8))) == ["b", "c", "b", "b", "b", "b", "b"]
    assert [held[i].copy_root for i in (5, 6)] == [None, 1]


def test_a_block_naming_more_terms_than_16_bits_number_holds_the_ids() -> None:
    rng = np.random.default_rng(5)
    wide = [(np.arange(k, k + 40_000, dtype=np.int32), rng.random(40_000).astype(np.float32))
            for k in (0, 40_000)]
    narrow = [(np.array([9, 70_000, 3], np.int32), np.ones(3, np.float32))]
    for vectors, coded in ((wide, False), (narrow, True)):
        block = Block.of(vectors)
        assert (block.named is not None) == coded
        for row, (terms, weights) in enumerate(vectors):
            got = block.vector(row)
            assert got[0].tolist() == terms.tolist() and got[1].tolist() == weights.tolist()


def test_stories_outlets_and_years_no_article_names_are_let_go() -> None:
    """A clusterer that follows the news for weeks sees millions of stories; the names of those
    whose articles have all left the window must not stay."""
    rng = np.random.default_rng(6)
    docs = [_article(i, rng, story_id=f"s{i // 3}") for i in range(1, 13)]
    held = Articles.of(docs)
    assert held.story_names() == {f"s{k}" for k in range(5)}
    held.remove(np.array([1, 2, 6, 7, 8]))  # every article of s0 and s2
    assert held.story_names() == {"s1", "s3", "s4"}
    assert held._outlet_names.values == sorted({d.outlet for d in docs if d.id not in (
        1, 2, 6, 7, 8)}, key=lambda o: [d.outlet for d in docs].index(o))
    for d in docs:
        if d.id not in (1, 2, 6, 7, 8):
            _same(held[d.id], d)
    held.relabel({}, {"s1": "s4"}, {})
    held.remove(np.array([3]))
    assert held.story_names() == {"s3", "s4"}


def test_term_ids_renumbered_in_order_everywhere_a_vector_is_held() -> None:
    rng = np.random.default_rng(6)
    docs = [_article(i, rng) for i in range(1, 10)]
    outside = _article(99, rng)  # a neighbour never held: its vector kept aside
    held = Articles.of([*with_neighbours([(docs[0], outside.ids, outside.weights, 99, 0.5)]),
                        *docs[1:]])
    wide = (np.arange(0, 70_000, 2, dtype=np.int32), np.ones(35_000, np.float32))
    held.add([Doc(50, "feed#50", *wide, 50.0, "outlet", None, frozenset())])  # ids, not codes
    used = held.term_ids()
    every = np.unique(np.concatenate([d.ids for d in [*docs, outside]] + [wide[0]]))
    assert used.tolist() == every.tolist()
    new_of = np.full(int(used.max()) + 1, -1, np.int64)
    new_of[used] = np.arange(len(used))  # every term left of a gap moves
    held.renumber_terms(new_of)
    for d in docs[1:]:
        assert held[d.id].ids.tolist() == new_of[d.ids].tolist()
    assert held[1].neighbour_ids.tolist() == new_of[outside.ids].tolist()  # type: ignore[union-attr]
    assert held[50].ids.tolist() == new_of[wide[0]].tolist()
    assert held.term_ids().tolist() == list(range(len(used)))
