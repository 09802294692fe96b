"""What the clusterer knows of an article: weighted terms, names, key terms. Pure functions.

An article's *terms* are stemmed content words of its title (counted TITLE_WEIGHT times) and of
the first LEAD_WORDS words of its text, plus its names and numbers (NAME_WEIGHT). Weights are
sublinear term frequency times inverse document frequency over the articles seen so far.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

import numpy as np

from . import text as tx

# Measured with `aggregator eval` on shared/data/eval (neus-val, ecbplus-dev), average link:
# title counted twice beat once (+0.012 ARI neus-val, +0.008 ecbplus-dev) and three times (flat).
TITLE_WEIGHT = 2.0
# Names and numbers as extra terms: +0.011 ARI on ecbplus-dev (hard same-type negatives).
# Re-checked with neighbour expansion (stories.py): 0.5 scores neus-val 0.753 / ecbplus-dev
# 0.868 (threshold 0.31) against 0.740 / 0.875, but joins the two earthquakes of the similarity
# table (Sumatra 6.8 / Chile 5.9: their names and numbers are what tell them apart), so 1.0 stays.
NAME_WEIGHT = 1.0
# Only the lead matters for "same event": 100-150 words scored as well as full text on both
# sets and cut the per-article cost of long extracted texts ~3x.
LEAD_WORDS = 150
# Key terms (highest weights) form the story-candidate sketch; see sketch.STORY_PERMS for the
# measurement that chose 40.
KEY_TERMS = 40
# Terms kept per article vector (the highest weights). Scoring cost grows with vector length;
# keeping only the top 64 cost 0.065 ARI on ecbplus-dev, so this only bounds hostile input.
VECTOR_TERMS = 400
# Word 3-shingles for copy detection (DESIGN.md: republished copies have Jaccard 0.5-0.8).
SHINGLE_SIZE = 3
NAME_PREFIX = "#"
YEAR_PREFIX = "@"
# Years named in the title or lead. Reports of one event that both name years share one; the
# same kind of event in another year (ECB+'s hard negatives: a 2008 and a 2013 trade, two
# Klitschko fights) does not. Scaling such pairs by 0.3 lifted ecbplus-dev ARI 0.821 -> 0.846
# at no cost on neus-val.
_YEAR = re.compile(r"\b(19[5-9]\d|20\d\d)\b")
YEAR_CONFLICT = 0.3


def terms(title: str, body: str, language: str | None) -> dict[str, float]:
    """Raw term counts of one article (before rarity weighting), in term order."""
    counts: dict[str, float] = {}
    for t in tx.content_terms(title, language):
        counts[t] = counts.get(t, 0.0) + TITLE_WEIGHT
    lead = tx.lead(body, LEAD_WORDS)
    for t in tx.content_terms(lead, language):
        counts[t] = counts.get(t, 0.0) + 1.0
    for n in tx.names(f"{title}. {lead}"):
        counts[NAME_PREFIX + n] = counts.get(NAME_PREFIX + n, 0.0) + NAME_WEIGHT
    for y in set(_YEAR.findall(f"{title} {lead}")):
        counts[YEAR_PREFIX + y] = 0.0  # carried for the year check, weightless in the cosine
    return dict(sorted(counts.items()))


def years(vec_terms: Mapping[str, float]) -> frozenset[str]:
    return frozenset(t for t in vec_terms if t.startswith(YEAR_PREFIX))


def year_conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a) and bool(b) and not (a & b)


def match_text(title: str, body: str) -> str:
    """The text compared for copies: title and full body."""
    return f"{title}\n{body}"


# Rarity comes from the archive alone. A prior from word use in the language at large (wordfreq
# frequencies as 5,000 pseudo-articles, threshold re-tuned to 0.37) scored neus-val 0.761 /
# ecbplus-dev 0.866 against 0.740 / 0.875, but it weighs event-type words ("earthquake",
# "rehab") up, so the two earthquakes and the two rehab admissions of the similarity table join
# (plain cosine 0.19 / 0.20 -> 0.29 / 0.30, above the nearest-neighbour bar). Raising that bar
# to keep them apart gave the neus-val gain back (0.26: 0.739; 0.30: 0.715).
def idf(df: int, n_docs: int) -> float:
    """Smoothed inverse document frequency; 0 for terms in (nearly) every document."""
    return max(0.0, math.log((n_docs + 1) / (df + 1)))


def rarities(terms: Iterable[str], df: Mapping[str, int], n_docs: int) -> dict[str, float]:
    """The idf of each term, computed once per batch rather than once per article and term."""
    return {t: idf(df.get(t, 0), n_docs) for t in terms}


def weigh(counts: Mapping[str, float], rarity: Mapping[str, float]) -> dict[str, float]:
    """Unit-length TF-IDF vector; ``rarity`` holds the idf of every term in ``counts``."""
    vec: dict[str, float] = {}
    marks: dict[str, float] = {}
    log = math.log
    for term, c in counts.items():
        if term[0] == YEAR_PREFIX:
            marks[term] = 0.0
            continue
        w = (1.0 + log(c)) * rarity[term] if c >= 1 else c * rarity[term]
        if w > 0:
            vec[term] = w
    if len(vec) > VECTOR_TERMS:
        vec = dict(sorted(vec.items(), key=lambda kv: (-kv[1], kv[0]))[:VECTOR_TERMS])
    norm = math.sqrt(sum(w * w for w in vec.values()))
    if not norm:
        return marks
    out = {t: w / norm for t, w in vec.items()}
    out.update(marks)
    return out


class TermIds:
    """A growing term -> integer id registry, for numpy arrays of vectors."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def arrays(self, vec: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
        ids = self.ids
        terms = [t for t, w in vec.items() if w > 0]
        for t in terms:
            if t not in ids:
                ids[t] = len(ids)
        return (
            np.fromiter((ids[t] for t in terms), dtype=np.int64, count=len(terms)),
            np.fromiter((vec[t] for t in terms), dtype=np.float64, count=len(terms)),
        )


def key_terms(vec: Mapping[str, float], k: int = KEY_TERMS) -> list[str]:
    """The ``k`` highest-weighted terms, ties broken by the term itself (deterministic)."""
    ranked = sorted((kv for kv in vec.items() if kv[1] > 0), key=lambda kv: (-kv[1], kv[0]))
    return [t for t, _ in ranked[:k]]


def shared_terms(a: Mapping[str, float], b: Mapping[str, float], k: int = 6) -> list[str]:
    """The terms contributing most to the similarity of two vectors, each once (a name and the
    stem of the same word, "#russian" and "russian", are one term to a reader)."""
    common = sorted(((a[t] * b[t], t) for t in a.keys() & b.keys()), key=lambda x: (-x[0], x[1]))
    out: list[str] = []
    for _, t in common:
        term = t.removeprefix(NAME_PREFIX)
        if term not in out:
            out.append(term)
            if len(out) == k:
                break
    return out
