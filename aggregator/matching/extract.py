"""Text features of new articles: boilerplate removed, terms counted, copy signatures and the
words' written forms. The CPU-heavy, order-free part of clustering, run in worker processes for
large batches (clusterer.py), so nothing here touches the store or the window.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aggregator.matching import features, minhash, text


@dataclass(frozen=True)
class Group:
    """New articles of one feed (title, summary and full text, language) and the feed's
    articles just before them: each the line_hashes the store keeps of it, or its text where
    the store has none."""

    items: list[tuple[str, str, str | None]]
    sample: list[bytes | str]


@dataclass(frozen=True)
class Packed:
    """Strings as one string and where each ends. A batch's features cross from the workers
    to the clusterer while it loads the window; as lists and dictionaries of short strings they
    were thousands of objects an article, and left memory between the window's objects that
    could not be used again once they were freed (docs/tuning.md, "The window's memory")."""

    text: str
    ends: np.ndarray

    @staticmethod
    def of(strings: Sequence[str]) -> Packed:
        lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
        return Packed("".join(strings), np.cumsum(lengths))

    def __len__(self) -> int:
        return len(self.ends)

    def strings(self) -> list[str]:
        bounds = [0, *self.ends.tolist()]
        return [self.text[a:b] for a, b in itertools.pairwise(bounds)]

    def pairs(self) -> dict[str, str]:
        """The strings as (key, value) pairs, one after the other."""
        strings = self.strings()
        return dict(zip(strings[::2], strings[1::2], strict=True))


@dataclass(frozen=True)
class Features:
    """What clustering needs of one article's text."""

    terms: Packed  # in term order
    counts: np.ndarray  # of each term
    copy_sig: bytes
    forms: Packed  # terms (names without their mark) and, after each, as the text writes it
    lines: bytes  # text.line_hashes, stored for the samples of the feed's later articles


def parts(groups: list[Group], workers: int) -> list[list[Group]]:
    """Groups in about ``workers`` x 4 consecutive parts of similar article counts."""
    size = -(-sum(len(g.items) for g in groups) // (workers * 4))
    out: list[list[Group]] = [[]]
    filled = 0
    for g in groups:
        if filled >= size:
            out.append([])
            filled = 0
        out[-1].append(g)
        filled += len(g.items)
    return out


def extract_groups(groups: list[Group], copy_permutations: minhash.Permutations) -> list[Features]:
    """The features of each group's articles, in order: the group's boilerplate removed first
    (lines recurring across its articles and its sample); copy signatures with
    ``copy_permutations`` (sketch.permutations, handed in: this module runs without
    datasketch)."""
    out: list[Features] = []
    for g in groups:
        texts = [body for _, body, _ in g.items]
        hashed = [text.hashed_lines(t) for t in texts]  # once, for the sample and the stripping
        lines = [text.distinct_hashes(h) for h in hashed]
        sample = [s if isinstance(s, bytes) else text.line_hashes(s) for s in g.sample]
        boiler = text.recurring_lines(
            lines + sample, text.BOILERPLATE_SHARE, text.BOILERPLATE_MIN_DOCS
        )
        bodies = [text.strip_lines(t, boiler, h) for t, h in zip(texts, hashed, strict=True)]
        matches = [
            features.matched(title, body)
            for (title, _, _), body in zip(g.items, bodies, strict=True)
        ]
        counts = [features.terms(m, lang) for m, (_, _, lang) in zip(matches, g.items, strict=True)]
        copy_sigs = minhash.of_hashed(
            [
                text.shingle_hashes(features.match_text(title, body), features.SHINGLE_SIZE)
                for (title, _, _), body in zip(g.items, bodies, strict=True)
            ],
            copy_permutations,
        )
        out.extend(
            Features(
                Packed.of(list(c)),
                np.fromiter(c.values(), dtype=np.float64, count=len(c)),
                sig,
                Packed.of([s for pair in _forms(c, m.text(), lang).items() for s in pair]),
                own,
            )
            for c, sig, m, (_, _, lang), own in zip(
                counts, copy_sigs, matches, g.items, lines, strict=True
            )
        )
    return out


def _forms(counts: dict[str, float], written: str, language: str | None) -> dict[str, str]:
    """How ``text`` (where the terms come from) writes each term that reads differently from
    the term itself, for the evidence of the links the article may get: found here, in the
    workers, rather than per link in the main process."""
    terms = {t.removeprefix(features.NAME_PREFIX) for t in counts if t[0] != features.YEAR_PREFIX}
    return {t: w for t, w in text.readable_forms(terms, written, language).items() if w != t}
