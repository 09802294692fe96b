"""Deciding which story each new article belongs to. Pure logic over our own types.

Inputs are the new batch (in canonical order, so arrival order inside a batch never matters),
the articles of the time window with their current stories, and candidate pairs found by the
sketches. Output is one link per new article with its evidence, copies, and story merges.

1. same_url and copy links are must-links: the same text is the same story.
2. Each article is scored against its candidates with its nearest neighbour's terms added
   (similarity.py); stories are then grown by average-link agglomeration over the candidate
   graph: the new articles start as singletons (copy groups pre-merged), the window's stories
   as ready-made clusters, and the closest pair of clusters merges while its average
   similarity (missing pairs count as zero) is at least STORY_THRESHOLD. Two existing stories
   that end in one cluster merge; the older id survives and the other is recorded as an alias.
3. A window story that gains new articles is looked at again as a whole (``_regroup``): all
   pairs of its members scored and regrouped from scratch by the same average link. If it falls
   apart, each window story stays with the part holding its earliest member, and a part keeping
   none is split off under a new id (recorded as a split; its members are relinked).
4. Clusters the first pass left apart are agglomerated once more with every pair between two
   linked clusters scored (``_rejoin``): the sketches propose only some pairs, the others counted
   as zero, and the window's stories met only through the new articles' pairs.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass

import numpy as np

from aggregator.matching.agglomeration import AverageLink
from aggregator.matching.articles import Articles, Doc, Known
from aggregator.matching.features import shared_terms
from aggregator.matching.similarity import (
    NEIGHBOUR_MIN,
    Candidates,
    all_pairs,
    cosine,
    cross_sums,
    edges,
)
from aggregator.model import Assignment, CopyOf, Link, Neighbour

# The average-link bar on neighbour-expanded cosines for two clusters to be one story.
STORY_THRESHOLD = 0.33
# Below this many articles in the archive, the default bar is lowered (threshold_for).
SMALL_ARCHIVE = 800
SMALL_ARCHIVE_SLOPE = 0.04
# Estimated Jaccard of word 3-shingles at which two texts are copies.
COPY_THRESHOLD = 0.5
# Two articles at one address are one article when their texts agree at least this much.
SAME_ADDRESS_MIN = NEIGHBOUR_MIN
# An article is compared with this many of the latest articles at its address.
SAME_ADDRESS_LATEST = 10
# The share of the bar a pair of clusters must reach on sketched pairs to be scored in full.
REJOIN_FROM = 0.5
# ... and at most REJOIN_PAIRS article pairs between the two (a story of 300 and one of 300).
REJOIN_PAIRS = 90_000
# A window story is regrouped when it gains articles and has at most this many members.
REGROUP_MAX = 300


def threshold_for(threshold: float, articles: int) -> float:
    """The story bar for an archive of ``articles`` articles (the batch included) when the bar
    for a large one is ``threshold``: lower for a small archive, down to NEIGHBOUR_MIN (or to
    ``threshold`` itself, if that is lower)."""
    if articles >= SMALL_ARCHIVE:
        return threshold
    lowered = threshold - SMALL_ARCHIVE_SLOPE * math.log(SMALL_ARCHIVE / max(articles, 1))
    return max(min(threshold, NEIGHBOUR_MIN), lowered)


def story_id_for(seed_key: str) -> str:
    """A stable story id derived from the key of the article that founded it."""
    return "s" + hashlib.sha256(seed_key.encode("utf-8")).hexdigest()[:12]


def within_window(a: Doc, b: Doc, window_seconds: float) -> bool:
    if a.time is None or b.time is None:
        return True
    return abs(a.time - b.time) <= window_seconds


@dataclass(frozen=True)
class Repeat:
    """A new article that repeats an earlier one: the same story whatever its similarity."""

    source: int  # the article it repeats
    kind: str  # version | same_url | copy
    score: float  # the texts' agreement, or the copy's estimated Jaccard


def _highest(scored: Iterable[tuple[int, float]]) -> tuple[int, float] | None:
    """The (id, score) with the highest score, ties to the lowest id; None if there is none."""
    best: tuple[float, int] | None = None
    for item, score in scored:
        if best is None or (score, -item) > best:
            best = (score, -item)
    return None if best is None else (-best[1], best[0])


@dataclass(frozen=True)
class Decision:
    """A batch's assignment (for the store) and its articles re-scored with a new or closer
    nearest neighbour (for the window)."""

    assignment: Assignment
    rescored: tuple[Doc, ...]


def assign(
    batch: Sequence[Doc],
    docs: Articles,
    candidates: Candidates,
    copy_candidates: Mapping[int, Sequence[tuple[int, float]]],
    window_seconds: float,
    story_first_seen: Mapping[str, float],
    threshold: float = STORY_THRESHOLD,
    copy_threshold: float = COPY_THRESHOLD,
    names: Sequence[str] = (),
) -> Decision:
    """The batch's stories, copies and neighbours (``docs``: the window's articles and the
    batch's by id, as the window keeps them; ``names``: the terms by id, for the evidence of
    links)."""
    order = {d.id: i for i, d in enumerate(batch)}
    known = Known(docs, batch)
    must, copies = _must_links(batch, known, order, copy_candidates, window_seconds, copy_threshold)
    found, rescored = edges(batch, docs, order, candidates, window_seconds)
    known.update(rescored)
    reached = {b for _, b, _ in found} | {m.source for m in must.values()}
    clusters = _clusters(batch, docs, reached.difference(order))
    sims: dict[tuple[int, int], float] = {}  # by pair, the lower id first
    for a, b, score in found:
        sims[_pair(a, b)] = score
        clusters.add_edge(a, b, score)
    del found  # as many as the window's articles: not beside the clusters' work
    for d in batch:
        if d.id in must:
            clusters.join(must[d.id].source, d.id)
    clusters.agglomerate(threshold)
    parted, regrouped = _regroup(clusters, known, order, must, window_seconds, threshold)
    sims |= regrouped  # a part's evidence is its pair scores
    _rejoin(clusters, known, window_seconds, threshold, sims)
    story_of, merges = _story_ids(clusters, known, story_first_seen)
    links = [
        _link(d, story_of[d.id], must, clusters.members_of(d.id), sims, known, names) for d in batch
    ]
    renamed = dict(merges)
    splits = {
        (renamed.get(cl.split_from, cl.split_from), story_of[cl.members[0]])
        for cl in clusters.clusters.values()
        if cl.split_from and not cl.labels
    }
    relinked = [
        _link(known[aid], story_of[aid], {}, clusters.members_of(aid), sims, known, names)
        for aid in docs.in_order(parted.difference(order))
    ]
    neighbours = tuple(
        Neighbour(d.id, d.neighbour, d.neighbour_score) for d in rescored if d.neighbour is not None
    )
    assignment = Assignment(
        tuple(links), tuple(copies), merges, neighbours, tuple(sorted(splits)), tuple(relinked)
    )
    return Decision(assignment, rescored)


def _regroup(
    clusters: AverageLink,
    docs: Mapping[int, Doc],
    new: Mapping[int, int],
    must: Mapping[int, Repeat],
    window_seconds: float,
    threshold: float,
) -> tuple[set[int], dict[tuple[int, int], float]]:
    """Look again at each cluster that brings new articles (``new``) to a window story: its
    members, every pair scored (``all_pairs``), regrouped from singletons by average link at
    ``threshold``, copies and versions kept with what they repeat. A cluster that falls apart is
    replaced by its parts. A stream decides with part of an event in view, and a report can join
    another event's story while both are alone in it; the story's later reports show the two
    apart. Returns the articles of the clusters replaced and their pair scores, the lower id
    first (the evidence of their links)."""
    parted: set[int] = set()
    sims: dict[tuple[int, int], float] = {}
    for key in sorted(clusters.clusters):
        members = sorted(clusters.clusters[key].members)
        # A cluster holding a story holds window articles; it is looked at if it gained some.
        if not clusters.clusters[key].labels or not 3 <= len(members) <= REGROUP_MAX:
            continue
        if not any(m in new for m in members):
            continue
        scored = all_pairs([docs[m] for m in members], window_seconds)
        alone = AverageLink([], members)
        for a, b, score in scored:
            alone.add_edge(a, b, score)
        inside = set(members)
        for m in members:
            source = must[m].source if m in must else docs[m].copy_root
            if source is not None and source in inside:
                alone.join(source, m)
        alone.agglomerate(threshold)
        if len(alone.clusters) > 1:
            _part(clusters, key, [c.members for c in alone.clusters.values()], docs)
            sims.update(((a, b), s) for a, b, s in scored)  # all_pairs: the lower id first
            parted |= inside
    return parted, sims


def _rejoin(
    clusters: AverageLink,
    docs: Mapping[int, Doc],
    window_seconds: float,
    threshold: float,
    sims: Mapping[tuple[int, int], float],
) -> None:
    """Agglomerate once more with every pair between two linked clusters scored. The first
    pass knows only the pairs the sketches proposed (the others count as zero), and a window's
    stories met only through the new articles' pairs; a cluster pair whose average on those
    reaches REJOIN_FROM of the bar is scored in full (``cross_sums``) and merges if its full
    average clears it."""
    linked = sorted(
        {
            (min(ca, cb), max(ca, cb))
            for a, b in sims
            if (ca := clusters.home[a]) != (cb := clusters.home[b])
        }
    )
    linked = [
        (a, b)
        for a, b in linked
        if len(clusters.clusters[a].members) * len(clusters.clusters[b].members) <= REJOIN_PAIRS
        and clusters.average(a, b) >= REJOIN_FROM * threshold
    ]
    if not linked:
        return
    keys = sorted({c for pair in linked for c in pair})
    index = {c: i for i, c in enumerate(keys)}
    totals = cross_sums(
        [[docs[m] for m in clusters.clusters[c].members] for c in keys],
        [(index[a], index[b]) for a, b in linked],
        window_seconds,
    )
    clusters.agglomerate_again(dict(zip(linked, totals.tolist(), strict=True)), threshold)


def _must_links(
    batch: Sequence[Doc],
    docs: Known,
    order: Mapping[int, int],
    copy_candidates: Mapping[int, Sequence[tuple[int, float]]],
    window_seconds: float,
    copy_threshold: float,
) -> tuple[dict[int, Repeat], list[CopyOf]]:
    """The new articles that repeat an earlier one: the earlier article at the same URL whose
    text agrees best (``_same_address``), else the copy candidate with the highest estimate
    (then the earliest), inside the window and at ``copy_threshold``."""
    by_url = {  # the window's articles at the batch's addresses, in id order
        url: sorted(aid for aid in ids if aid not in order)
        for url, ids in docs.held.at({d.url for d in batch if d.url}).items()
    }
    copies: list[CopyOf] = []
    must: dict[int, Repeat] = {}
    for d in batch:
        latest = by_url.get(d.url, [])[-SAME_ADDRESS_LATEST:] if d.url else []
        found = _same_address(d, [docs[o] for o in latest if o != d.id])
        if found is not None:
            src, agreement = found
            same = docs[src].outlet == d.outlet
            must[d.id] = Repeat(src, "version" if same else "same_url", agreement)
            copies.append(CopyOf(d.id, src, same, agreement))
        else:
            source = _copy_source(
                d, copy_candidates.get(d.id, ()), docs, order, window_seconds, copy_threshold
            )
            if source is not None:
                src, estimate = source
                root = docs[src].copy_root or src
                same = docs[src].outlet == d.outlet
                # A new version of the outlet's own item shows, as at its address, how the texts
                # agree; a copy shows the estimate that found it.
                score = _agreement(d, docs[src]) if same else estimate
                must[d.id] = Repeat(src, "version" if same else "copy", score)
                copies.append(CopyOf(d.id, root, same, estimate))
        if d.url:
            by_url.setdefault(d.url, []).append(d.id)
    return must, copies


def _copy_source(
    d: Doc,
    candidates: Sequence[tuple[int, float]],
    docs: Mapping[int, Doc],
    order: Mapping[int, int],
    window_seconds: float,
    copy_threshold: float,
) -> tuple[int, float] | None:
    """Of ``d``'s copy candidates (article, estimated Jaccard), the earlier one inside the
    window with the highest estimate at ``copy_threshold`` or more (then the lowest id), with
    that estimate."""
    return _highest(
        (other, j)
        for other, j in candidates
        if (o := docs.get(other)) is not None
        and other != d.id
        and j >= copy_threshold
        and not (other in order and order[other] > order[d.id])  # only earlier ones
        and within_window(d, o, window_seconds)
    )


def _same_address(d: Doc, earlier: Sequence[Doc]) -> tuple[int, float] | None:
    """Of the earlier articles at ``d``'s URL, the one whose text is closest to ``d``'s (then
    the lowest id) if it agrees at SAME_ADDRESS_MIN (``_agreement``), with that agreement."""
    agreements = ((o.id, _agreement(d, o)) for o in earlier)
    return _highest((oid, a) for oid, a in agreements if a >= SAME_ADDRESS_MIN)


def _agreement(a: Doc, b: Doc) -> float:
    """How two versions of one article agree: the plain cosine of their texts; 1.0 when either
    has no words to compare."""
    return cosine(a, b) if len(a.ids) and len(b.ids) else 1.0


def _clusters(batch: Sequence[Doc], docs: Articles, reached: Set[int]) -> AverageLink:
    """The window's stories that the batch reaches (``reached``: the window articles its edges
    and repeats lead to) as ready-made clusters, in story id order, members by id, then each
    new article a singleton. A story the batch does not reach has no edge to merge by and no
    new article to be looked at again for, so it is left out; the clusters made keep the order
    they had among all (the order that breaks ties)."""
    rows = docs.rows(np.fromiter(reached, np.int64, len(reached)))
    members = docs.members(set(docs.stories(rows[rows >= 0])))
    new = {d.id for d in batch}
    stories: dict[str, list[int]] = {}
    for story, aid in sorted(
        (story or "", aid)
        for story, aid in zip(docs.stories(members), docs.ids(members).tolist(), strict=True)
        if aid not in new
    ):
        stories.setdefault(story, []).append(aid)
    return AverageLink(list(stories.items()), [d.id for d in batch])


def _part(
    clusters: AverageLink, key: int, parts: Sequence[list[int]], docs: Mapping[int, Doc]
) -> None:
    """Replace cluster ``key`` by ``parts`` of its members. Each of its stories goes with the
    part holding its earliest member (by ``_founding_order``); a part with window articles that
    keeps no story records the story its earliest one leaves."""
    whole = clusters.clusters[key].labels
    keeper: dict[str, tuple[tuple[float, str], int]] = {}  # story -> (earliest, part)
    for i, part in enumerate(parts):
        for m in part:
            sid = docs[m].story_id
            if sid in whole and (sid not in keeper or _founding_order(docs[m]) < keeper[sid][0]):
                keeper[sid] = (_founding_order(docs[m]), i)
    labels = [{sid for sid, (_, j) in keeper.items() if j == i} for i in range(len(parts))]
    origins: list[str | None] = []
    for i, part in enumerate(parts):
        left = [docs[m] for m in part if docs[m].story_id]
        origins.append(min(left, key=_founding_order).story_id if left and not labels[i] else None)
    clusters.part(key, parts, labels, origins)


def _story_ids(
    clusters: AverageLink, docs: Mapping[int, Doc], first_seen: Mapping[str, float]
) -> tuple[dict[int, str], tuple[tuple[str, str], ...]]:
    """Each article's story id, and the stories merged away (absorbed id, surviving id): a
    cluster holding stories keeps the first seen of them (then the lowest id), a new one takes
    the id of its founding article."""
    merges: set[tuple[str, str]] = set()
    story_of: dict[int, str] = {}
    for cl in clusters.clusters.values():
        existing = sorted(s for s in cl.labels if s)
        if existing:
            sid = min(existing, key=lambda s: (first_seen.get(s, float("inf")), s))
            merges.update((s, sid) for s in existing if s != sid)
        else:
            founder = min((docs[m] for m in cl.members), key=_founding_order).key
            # A part split off: not the founder's own id, which it may have used before.
            seed = f"{founder}\nsplit from {cl.split_from}" if cl.split_from else founder
            sid = story_id_for(seed)
        story_of.update((m, sid) for m in cl.members)
    return story_of, tuple(sorted(merges))


def _link(
    d: Doc,
    sid: str,
    must: Mapping[int, Repeat],
    members: Sequence[int],
    sims: Mapping[tuple[int, int], float],
    docs: Mapping[int, Doc],
    names: Sequence[str],
) -> Link:
    """Why ``d`` is in story ``sid``: the article it repeats (at the same address: with the
    terms they share), else its most similar fellow member (then the lowest id) with the terms
    they share, else it founded the story."""
    if d.id in must:
        r = must[d.id]
        if r.kind == "copy":
            return Link(d.id, sid, r.kind, r.score, r.source)
        shared = tuple(_shared(d, docs[r.source], names))
        return Link(d.id, sid, r.kind, round(r.score, 4), r.source, shared)
    best = _highest((m, sims[_pair(d.id, m)]) for m in members if _pair(d.id, m) in sims)
    if best is None:
        return Link(d.id, sid, "seed", 1.0, None)
    m, sim = best
    return Link(d.id, sid, "story", round(sim, 4), m, tuple(_shared(d, docs[m], names)))


def _pair(a: int, b: int) -> tuple[int, int]:
    """The key of a pair of articles in a dictionary of pair scores: the lower id first."""
    return (a, b) if a < b else (b, a)


def _shared(a: Doc, b: Doc, names: Sequence[str]) -> list[str]:
    return shared_terms((a.ids, a.weights, a.years), (b.ids, b.weights, b.years), names)


def _founding_order(d: Doc) -> tuple[float, str]:
    return (d.time if d.time is not None else float("inf"), d.key)
