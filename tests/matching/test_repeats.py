"""Repeats: copies, new versions and articles at a known address are one story."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_scoring import _doc, held

from aggregator.matching.stories import assign


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
    decision = assign([edited, other], held([earlier], [edited, other]), {2: [1], 3: [1]}, {2: [(1, 0.7)], 3: [(1, 0.7)]},
                    72 * 3600.0, {}, names=sorted(ids, key=ids.__getitem__))
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
    decision = assign([new], held(window, [new]), {20: []}, {}, 72 * 3600.0, {},
                      names=sorted(ids, key=ids.__getitem__))
    result = decision.assignment
    (link,) = result.links
    assert (link.kind, link.matched_article_id) == (("version", agreeing) if linked else ("seed", None))
