"""The window: which articles its indexes hold, and when they leave."""

from __future__ import annotations

import numpy as np
import pytest
from test_scoring import _doc
from test_sketch import _copy_sig

from aggregator.matching import sketch
from aggregator.matching.window import Window
from aggregator.model import Assignment


@pytest.mark.parametrize("chunk", [None, 2])
def test_the_window_indexes_one_text_once_and_takes_the_next_when_it_leaves(
        chunk: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Repeats of one text (a feed republishing it under new addresses) are found through one
    indexed article, so a flood of them costs a lookup each, not a comparison with every other
    (also when the articles are indexed a few at a time as they are held)."""
    if chunk is not None:
        import aggregator.matching.window as window_module

        monkeypatch.setattr(window_module, "INDEX_CHUNK", chunk)
    text = _copy_sig(np.arange(50, dtype=np.uint32))
    other = _copy_sig(np.arange(50, 100, dtype=np.uint32))
    terms = sketch.signature(["spam", "watches"], sketch.STORY_PERMS)
    ids: dict[str, int] = {}
    window = Window()

    def stored(found: list[int]) -> dict[int, bytes]:  # the store's, for decided articles
        return {i: other if i == 4 else text for i in found}

    for i in range(5):
        window.add(_doc(i, {"spam": 1.0}, ids), text if i < 4 else other, terms, float(i))
    assert window.copy_candidates([_doc(2, {}, ids)], stored) == {2: [(0, 1.0)]}
    assert window.copy_candidates([_doc(4, {}, ids)], stored) == {4: []}  # its own text, once
    # Story candidates: repeats tie, so up to window.SAME_STORY_SIG of them are held.
    assert window.story_candidates([_doc(3, {}, ids)])[3].tolist() == [0, 1, 2, 3, 4]
    window.evict(1.0)  # the indexed article leaves; the next repeat to arrive is indexed
    window.add(_doc(9, {"spam": 1.0}, ids), text, terms, 9.0)
    assert window.copy_candidates([_doc(2, {}, ids)], stored) == {2: [(9, 1.0)]}


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
    def stored(found: list[int]) -> dict[int, bytes]:  # the store's, for decided articles
        return {i: texts[i] for i in found}

    found = window.copy_candidates(batch, stored)
    assert {o for o, j in found[1] if j >= 0.9} == {0} and 0.5 < dict(found[2])[0] < 0.9
    window.apply(Assignment((), (), ()), (), {})
    window.add(_doc(3, {"spam": 1.0}, ids), texts[3], terms, 3.0)
    assert [o for o, _ in window.copy_candidates([_doc(3, {}, ids)], stored)[3]] == [0, 2]


def test_the_indexes_take_a_waiting_chunk_as_they_would_one_article_at_a_time() -> None:
    """Articles are indexed a chunk at a time; which repeats of a signature an index takes is
    what counting them one after the other would give, with the index already holding some."""
    from collections import Counter

    from aggregator.matching.window import _taken

    rng = np.random.default_rng(3)
    for most in (1, 2, 5):
        held = rng.integers(0, 12, 40)
        new = rng.integers(0, 15, 200)
        eligible = rng.random(200) < 0.8
        counts = Counter(held.tolist())
        expected = []
        for h, ok in zip(new.tolist(), eligible.tolist(), strict=True):
            take = ok and counts[h] < most
            counts[h] += take
            expected.append(take)
        taken = _taken(held, new, eligible, most)
        assert taken.tolist() == expected
        assert 0 < taken.sum() < eligible.sum()  # some taken, some refused: not a trivial case


def test_a_story_whose_articles_have_all_left_the_window_is_forgotten() -> None:
    """A clusterer following the news keeps the first sight of the stories it holds articles
    of, not of every story it ever saw."""
    from dataclasses import replace

    terms = sketch.signature(["spam", "watches"], sketch.STORY_PERMS)
    ids: dict[str, int] = {}
    window = Window()
    for i, story in enumerate(["old", "old", "new", "new"]):
        window.add(replace(_doc(i, {"spam": 1.0}, ids), story_id=story), None, terms, float(i))
    window.first_seen.update({"old": 0.0, "new": 2.0})
    window.evict(1.0)
    assert window.first_seen == {"old": 0.0, "new": 2.0}  # article 1 is still held
    window.evict(2.0)
    assert window.first_seen == {"new": 2.0} and window.docs.story_names() == {"new"}
