"""What the clusterer knows of an article: weighted terms, names, key terms. Pure functions.

An article's *terms* are stemmed content words of its title (counted TITLE_WEIGHT times) and of
the first LEAD_WORDS words of its text, plus its names and numbers (NAME_WEIGHT). Weights are
sublinear term frequency times inverse document frequency over the articles seen so far.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from aggregator.matching import text

# How many times a title's terms count against the lead's.
TITLE_WEIGHT = 2.0
# The weight of a name or number as an extra term.
NAME_WEIGHT = 1.0
# The words of an article's text that are matched: its lead.
LEAD_WORDS = 100
# The highest-weighted terms that form the story-candidate sketch.
KEY_TERMS = 40
# Terms kept per article vector (the heaviest): a bound for hostile input.
VECTOR_TERMS = 400
# A term's df before its stored statistics are read.
_UNREAD = -1
# Word 3-shingles for copy detection (DESIGN.md: republished copies have Jaccard 0.5-0.8).
SHINGLE_SIZE = 3
NAME_PREFIX = "#"
YEAR_PREFIX = "@"
# Years named in the title, lead or link (four digits from 1950 to 2099).
_YEAR = re.compile(r"\b(19[5-9]\d|20\d\d)\b")
YEAR_CONFLICT = 0.3


# A title that is a link: then the text's first line is the headline.
_LINK_TITLE = re.compile(r"\s*(?:https?\s*:\s*/\s*/\s*\S|www\.\S)", re.IGNORECASE)
_LINK_HOST = re.compile(r"^\s*(?:https?\s*:\s*/\s*/)?[^/]*/?")
HEADLINE_WORDS = 30


@dataclass(frozen=True)
class Matched:
    """What an article is matched on: its headline, its lead and, where a link stands in for the
    headline, the link's path."""

    headline: str
    lead: str
    link: str = ""

    def text(self) -> str:
        """All of it as one text (where the terms' written forms are looked up)."""
        return f"{self.headline}\n{self.lead}\n{self.link}"


def matched(title: str, body: str) -> Matched:
    """The headline and lead of an article with title ``title`` and text ``body``."""
    if not _LINK_TITLE.match(title):
        return Matched(title, text.lead(body, LEAD_WORDS))
    link = _LINK_HOST.sub("", title, count=1)
    first, _, rest = body.lstrip().partition("\n")
    if len(first.split()) > HEADLINE_WORDS:
        return Matched("", text.lead(body, LEAD_WORDS), link)
    return Matched(first, text.lead(rest, LEAD_WORDS), link)


def terms(m: Matched, language: str | None) -> dict[str, float]:
    """Raw term counts of what an article is matched on (before rarity weighting), in term
    order."""
    counts: dict[str, float] = {}
    for t in text.content_terms(m.headline, language):
        counts[t] = counts.get(t, 0.0) + TITLE_WEIGHT
    for t in text.content_terms(f"{m.lead}\n{m.link}", language):
        counts[t] = counts.get(t, 0.0) + 1.0
    for n in text.names(f"{m.headline}. {m.lead}"):
        counts[NAME_PREFIX + n] = counts.get(NAME_PREFIX + n, 0.0) + NAME_WEIGHT
    for y in set(_YEAR.findall(m.text())):
        counts[YEAR_PREFIX + y] = 0.0  # carried for the year check, weightless in the cosine
    return dict(sorted(counts.items()))


def years(vec_terms: Iterable[str]) -> frozenset[str]:
    """The year marks among a vector's terms."""
    return frozenset(t for t in vec_terms if t.startswith(YEAR_PREFIX))


def year_conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a) and bool(b) and not (a & b)


def match_text(title: str, body: str) -> str:
    """The text compared for copies: title and full body."""
    return f"{title}\n{body}"


class Vocabulary:
    """Term ids and the archive's rarity statistics by id: in how many articles each term
    occurs (``df``) and how many articles there are. Arrays by id let a batch be weighted in
    numpy with one dictionary lookup per term.

    A term's statistics are read by ``stored`` (the store's, for a clusterer) when a batch
    first counts it, not all at the start, and ``keep`` lets go of the terms no longer needed:
    the vocabulary then holds the terms of the window and the batches, not every term the
    archive has ever had, which only grows (docs/tuning.md, "The vocabulary"). By default a term
    has occurred nowhere yet."""

    def __init__(
        self,
        n_docs: int,
        stored: Callable[[Sequence[str]], Mapping[str, int]] = lambda terms: {},
    ) -> None:
        self.index: dict[str, int] = {}
        self.terms: list[str] = []
        self.n_docs = n_docs
        self._stored = stored
        self._df = np.zeros(0, dtype=np.int64)

    def ids(self, terms: Sequence[str]) -> np.ndarray:
        """The id of each term, new terms numbered as they come."""
        index, known = self.index, len(self.index)
        for t in dict.fromkeys(terms):  # each distinct term once: a batch repeats most of them
            if t not in index:
                index[t] = len(index)
        out = np.fromiter(map(index.__getitem__, terms), dtype=np.int64, count=len(terms))
        if len(index) > known:
            self.terms.extend(itertools.islice(index, known, None))
        if len(index) > len(self._df):  # room for the new ids, doubling to keep growth linear
            grown = np.full(max(len(index), 2 * len(self._df)), _UNREAD, dtype=np.int64)
            grown[: len(self._df)] = self._df
            self._df = grown
        return out

    def count(self, ids: np.ndarray, n_articles: int) -> dict[str, int]:
        """Add a batch of ``n_articles`` articles whose terms (each once per article) are
        ``ids``; returns the increments by term, to be stored."""
        found, n = np.unique(ids, return_counts=True)
        self._read(found)
        self._df[found] += n
        self.n_docs += n_articles
        return dict(zip((self.terms[i] for i in found.tolist()), n.tolist(), strict=True))

    def idf(self, ids: np.ndarray) -> np.ndarray:
        """Smoothed inverse document frequency of each term; 0 for terms in (nearly) every
        article."""
        if (self._df[ids] == _UNREAD).any():  # a term never counted: its statistics read
            self._read(np.unique(ids))
        rarity: np.ndarray = np.maximum(0.0, np.log((self.n_docs + 1) / (self._df[ids] + 1.0)))
        return rarity

    def keep(self, used: np.ndarray) -> np.ndarray:
        """Only the terms ``used`` (ids, ascending) held, numbered anew in the same order;
        returns each old id's new one (-1: let go). A term let go is new when met again, and its
        statistics are read again (they were stored with the batch that counted them)."""
        new_of = np.full(len(self.terms), -1, np.int64)
        new_of[used] = np.arange(len(used))
        self.terms = [self.terms[i] for i in used.tolist()]
        self.index = dict(zip(self.terms, range(len(self.terms)), strict=True))
        self._df = self._df[used]
        return new_of

    def _read(self, ids: np.ndarray) -> None:
        """The stored statistics of those of the distinct ``ids`` not read yet."""
        unread = ids[self._df[ids] == _UNREAD]
        if len(unread):
            names = [self.terms[i] for i in unread.tolist()]
            stored = self._stored(names)
            self._df[unread] = np.fromiter(
                (stored.get(t, 0) for t in names), dtype=np.int64, count=len(names)
            )

    def arrays_of(self, terms: Sequence[str], weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A stored vector (its terms and their weights) as term ids and weights, weightless
        year marks left out."""
        keep = weights > 0
        return self.ids([t for t, k in zip(terms, keep.tolist(), strict=True) if k]), weights[keep]


@dataclass(frozen=True)
class Vectors:
    """A batch's unit TF-IDF vectors. Article i's weighted terms are
    ``ids[bounds[i]:bounds[i + 1]]`` with ``weights`` in the same places."""

    ids: np.ndarray
    weights: np.ndarray
    bounds: np.ndarray
    key_terms: np.ndarray  # the KEY_TERMS highest-weighted of each, ties by the term
    key_bounds: np.ndarray
    years: np.ndarray  # year marks (weightless terms), bounded by year_bounds
    year_bounds: np.ndarray

    def of(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.bounds[i], self.bounds[i + 1]
        return self.ids[lo:hi], self.weights[lo:hi]

    def vec(self, i: int, terms: Sequence[str]) -> dict[str, float]:
        """Article i's vector by term (``terms``: the names of the ids), year marks last with
        weight 0."""
        ids, weights = self.of(i)
        out = dict(zip(map(terms.__getitem__, ids.tolist()), weights.tolist(), strict=True))
        out.update((terms[t], 0.0) for t in self._marks(i))
        return out

    def marks(self, i: int, terms: Sequence[str]) -> frozenset[str]:
        """Article i's year marks (``years`` of its vector)."""
        return frozenset(terms[t] for t in self._marks(i))

    def _marks(self, i: int) -> list[int]:
        marks: list[int] = self.years[self.year_bounds[i] : self.year_bounds[i + 1]].tolist()
        return marks


def weigh(ids: np.ndarray, counts: np.ndarray, sizes: np.ndarray, idf: np.ndarray) -> Vectors:
    """Unit-length TF-IDF vectors (sublinear term frequency x idf) of a batch: article i has
    ``sizes[i]`` consecutive terms ``ids`` (in term order, as ``terms`` gives them) counted
    ``counts`` times. In numpy over the whole batch rather than a dict per article."""
    n = len(sizes)
    article = np.repeat(np.arange(n), sizes)
    w = np.where(counts >= 1, (1.0 + np.log(np.maximum(counts, 1.0))) * idf, counts * idf)
    marks = counts == 0  # year marks: counted 0, carried weightless
    keep = w > 0
    first = np.cumsum(sizes) - sizes
    position = np.arange(len(ids)) - np.repeat(first, sizes)  # term order within the article
    ranked = np.flatnonzero(keep)[np.lexsort((position[keep], -w[keep], article[keep]))]
    per = np.bincount(article[ranked], minlength=n)
    rank = np.arange(len(ranked)) - np.repeat(np.cumsum(per) - per, per)
    keep[ranked[rank >= VECTOR_TERMS]] = False  # the longest vectors cut to their heaviest terms
    norms = np.sqrt(np.bincount(article[keep], w[keep] ** 2, minlength=n))
    chosen = np.flatnonzero(keep)
    key = ranked[rank < KEY_TERMS]
    bounds = np.arange(n + 1)
    return Vectors(
        ids[chosen],
        w[chosen] / norms[article[chosen]],
        np.searchsorted(article[chosen], bounds),
        ids[key],
        np.searchsorted(article[key], bounds),
        ids[marks],
        np.searchsorted(article[marks], bounds),
    )


def key_terms(vec: Mapping[str, float], k: int = KEY_TERMS) -> list[str]:
    """The ``k`` highest-weighted terms, ties broken by the term itself (deterministic)."""
    ranked = sorted((kv for kv in vec.items() if kv[1] > 0), key=lambda kv: (-kv[1], kv[0]))
    return [t for t, _ in ranked[:k]]


def shared_terms(
    a: tuple[np.ndarray, np.ndarray, frozenset[str]],
    b: tuple[np.ndarray, np.ndarray, frozenset[str]],
    names: Sequence[str],
    k: int = 6,
) -> list[str]:
    """The terms contributing most to the similarity of two vectors given as term ids, weights
    and weightless year marks (``names``: the terms by id), each once (a name and the stem of
    the same word, "#russian" and "russian", are one term to a reader)."""
    common, ia, ib = np.intersect1d(a[0], b[0], assume_unique=True, return_indices=True)
    products = np.multiply(a[1][ia], b[1][ib], dtype=np.float64).tolist()
    ranked = [(-p, names[t]) for p, t in zip(products, common.tolist(), strict=True)]
    ranked += [(-0.0, year) for year in a[2] & b[2]]
    out: list[str] = []
    # Largest contribution first, then by term: as tuples, sorted without a key function.
    for _, t in sorted(ranked):
        term = t.removeprefix(NAME_PREFIX)
        if term not in out:
            out.append(term)
            if len(out) == k:
                break
    return out
