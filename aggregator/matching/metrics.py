"""Clustering quality measures over two labelings of the same items. Pure functions.

Pairwise precision/recall/F1 count pairs of items put together; B-cubed averages per item;
the adjusted Rand index corrects the Rand index for chance (Hubert & Arabie 1985). Merges and
splits name the mistakes behind the numbers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Scores:
    articles: int
    stories: int  # distinct gold labels
    clusters: int  # distinct predicted labels
    ari: float
    pair_precision: float
    pair_recall: float
    pair_f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def score(gold: Sequence[Hashable], predicted: Sequence[Hashable]) -> Scores:
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted labelings differ in length")
    n = len(gold)
    joint = Counter(zip(gold, predicted, strict=True))
    gold_sizes = Counter(gold)
    pred_sizes = Counter(predicted)
    together_both = sum(_pairs(c) for c in joint.values())
    together_gold = sum(_pairs(c) for c in gold_sizes.values())
    together_pred = sum(_pairs(c) for c in pred_sizes.values())
    # Pairwise: with no predicted pairs, precision is vacuously perfect.
    p = together_both / together_pred if together_pred else 1.0
    r = together_both / together_gold if together_gold else 1.0
    # Adjusted Rand index.
    total = _pairs(n)
    expected = together_gold * together_pred / total if total else 0.0
    maximum = (together_gold + together_pred) / 2
    ari = (together_both - expected) / (maximum - expected) if maximum != expected else 1.0
    # B-cubed.
    bp = sum(c * c / pred_sizes[pl] for (_, pl), c in joint.items()) / n if n else 1.0
    br = sum(c * c / gold_sizes[gl] for (gl, _), c in joint.items()) / n if n else 1.0
    return Scores(
        articles=n,
        stories=len(gold_sizes),
        clusters=len(pred_sizes),
        ari=ari,
        pair_precision=p,
        pair_recall=r,
        pair_f1=_f1(p, r),
        bcubed_precision=bp,
        bcubed_recall=br,
        bcubed_f1=_f1(bp, br),
    )


@dataclass(frozen=True)
class Mistake:
    """A cluster holding several gold stories (a merge) or a gold story spread over several
    clusters (a split): the items (by index) in groups by the other labeling, largest first,
    and the pairs it costs (pairs wrongly together, or wrongly apart)."""

    groups: tuple[tuple[int, ...], ...]
    pairs: int


def merges(gold: Sequence[Hashable], predicted: Sequence[Hashable]) -> list[Mistake]:
    """Predicted clusters that hold more than one gold story, costliest first."""
    return _mistakes(predicted, gold)


def splits(gold: Sequence[Hashable], predicted: Sequence[Hashable]) -> list[Mistake]:
    """Gold stories spread over more than one predicted cluster, costliest first."""
    return _mistakes(gold, predicted)


def _mistakes(outer: Sequence[Hashable], inner: Sequence[Hashable]) -> list[Mistake]:
    """Groups of ``outer`` that ``inner`` cuts in parts, with the pairs across the parts."""
    parts: dict[Hashable, dict[Hashable, list[int]]] = {}
    for i, (o, n) in enumerate(zip(outer, inner, strict=True)):
        parts.setdefault(o, {}).setdefault(n, []).append(i)
    found = []
    for groups in parts.values():
        if len(groups) < 2:
            continue
        sizes = [len(g) for g in groups.values()]
        across = _pairs(sum(sizes)) - sum(_pairs(s) for s in sizes)
        ordered = sorted((tuple(g) for g in groups.values()), key=lambda g: (-len(g), g[0]))
        found.append(Mistake(tuple(ordered), across))
    return sorted(found, key=lambda m: (-m.pairs, m.groups[0][0]))
