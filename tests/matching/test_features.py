"""Weighted terms: TF-IDF vectors, key terms, year marks, headlines, the vocabulary."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from aggregator.matching import features as ft
from aggregator.matching import text as tx


def _stored(df: dict[str, int]) -> Callable[[Sequence[str]], dict[str, int]]:
    """The statistics a store holds: ``df``'s, for the terms it has."""
    return lambda terms: {t: df[t] for t in terms if t in df}


def test_shared_terms_name_and_stem_once() -> None:
    names = ["russian", "#russian", "oil"]
    a = (np.array([0, 1, 2]), np.array([0.5, 0.5, 0.7]), frozenset[str]())
    b = (np.array([0, 1, 2]), np.array([0.6, 0.4, 0.7]), frozenset[str]())
    assert ft.shared_terms(a, b, names) == ["oil", "russian"]


def test_weigh_gives_unit_tfidf_vectors_key_terms_and_year_marks() -> None:
    vocabulary = ft.Vocabulary(9, _stored({"quake": 1, "city": 9, "@2013": 2}))
    articles = [{"@2013": 0.0, "city": 1.0, "quake": 2.0, "zeta": 1.0}, {}, {"city": 1.0}]
    ids = vocabulary.ids([t for a in articles for t in a])
    counts = [c for a in articles for c in a.values()]
    assert vocabulary.count(ids, len(articles)) == {"@2013": 1, "city": 2, "quake": 1, "zeta": 1}
    v = ft.weigh(ids, np.array(counts), np.array([len(a) for a in articles]), vocabulary.idf(ids))
    # 12 articles now; idf = ln(13 / (df + 1)): quake ln(13/3), zeta ln(13/2), city ln(13/12).
    quake = (1 + math.log(2)) * math.log(13 / 3)
    zeta, city = math.log(13 / 2), math.log(13 / 12)
    norm = math.sqrt(quake**2 + zeta**2 + city**2)
    first = v.vec(0, vocabulary.terms)
    assert first == pytest.approx({"city": city / norm, "quake": quake / norm,
                                   "zeta": zeta / norm, "@2013": 0.0})
    assert list(first)[-1] == "@2013"  # weightless marks come last
    assert v.marks(0, vocabulary.terms) == ft.years(first) == {"@2013"}
    assert v.marks(2, vocabulary.terms) == frozenset()
    assert [vocabulary.terms[t] for t in v.key_terms[v.key_bounds[0] : v.key_bounds[1]].tolist()] == ["quake", "zeta", "city"]
    assert v.vec(1, vocabulary.terms) == {}
    assert v.vec(2, vocabulary.terms) == pytest.approx({"city": 1.0})


def test_weigh_keeps_the_heaviest_terms_of_a_long_vector_and_breaks_ties_by_term() -> None:
    terms = [f"t{i:04d}" for i in range(ft.VECTOR_TERMS + 50)]
    vocabulary = ft.Vocabulary(0)
    ids = vocabulary.ids(terms)
    counts = np.array([2.0 if i % 2 else 1.0 for i in range(len(terms))])
    vocabulary.count(ids, 1)
    v = ft.weigh(ids, counts, np.array([len(terms)]), np.ones(len(terms)))
    kept = v.vec(0, vocabulary.terms)
    twice = {t for i, t in enumerate(terms) if i % 2}
    assert len(kept) == ft.VECTOR_TERMS and twice <= set(kept)
    once = sorted(set(kept) - twice)
    assert once == [t for i, t in enumerate(terms) if not i % 2][: len(once)]  # ties: by term
    assert abs(sum(w * w for w in kept.values()) - 1.0) < 1e-12
    assert [vocabulary.terms[t] for t in v.key_terms[v.key_bounds[0] : v.key_bounds[1]].tolist()] == sorted(twice)[: ft.KEY_TERMS]


@pytest.mark.parametrize(
    ("title", "body", "expected"),
    [
        # A headline is matched as it is.
        ("Quake hits Sumatra", "Padang shook.\nNo tsunami.", ("Quake hits Sumatra", "Padang shook.\nNo tsunami.", "")),
        ("Why www.example.com went down", "Text.", ("Why www.example.com went down", "Text.", "")),
        ("WWW. of the week", "Text.", ("WWW. of the week", "Text.", "")),
        ("http://", "Text.", ("http://", "Text.", "")),
        # A link in its place: the first line is the headline, the path is kept, the host is not.
        ("https://news.example.com/2013/05/03/lohan-rehab", "Lohan checks into rehab\nShe did.",
         ("Lohan checks into rehab", "She did.", "2013/05/03/lohan-rehab")),
        ("www.example.org/world/quake", "\n  Quake hits Sumatra\nPadang shook.",
         ("Quake hits Sumatra", "Padang shook.", "world/quake")),
        # ... as exports write it, split into tokens.
        ("http: / / articles. latimes. com / 2013 / may / 03 / local / lohan - rehab",
         "Lindsay Lohan checks into Betty Ford Center\nMay 03, 2013",
         ("Lindsay Lohan checks into Betty Ford Center", "May 03, 2013",
          " 2013 / may / 03 / local / lohan - rehab")),
        # A first line too long for a headline is text; no text, no headline.
        ("https://example.com/a", " ".join(["word"] * (ft.HEADLINE_WORDS + 1)),
         ("", " ".join(["word"] * (ft.HEADLINE_WORDS + 1)), "a")),
        ("https://example.com/a", "", ("", "", "a")),
    ],
)
def test_a_link_standing_in_for_a_title_is_no_headline(
    title: str, body: str, expected: tuple[str, str, str]
) -> None:
    m = ft.matched(title, body)
    assert (m.headline, m.lead, m.link) == expected


def test_the_host_of_a_link_title_is_no_term_but_its_date_is_a_year() -> None:
    counts = ft.terms(ft.matched("https://www.dailyexample.com/2013/05/03/lohan-rehab",
                                 "Lindsay Lohan checks into Betty Ford Center\nThe actress began a stay."),
                      "en")
    assert not {"dailyexampl", "www", "com", "https"} & counts.keys()
    assert counts["lohan"] == ft.TITLE_WEIGHT + 1.0  # the headline twice, the link's path once
    assert counts["rehab"] == 1.0 and "@2013" in counts


def test_the_lead_keeps_its_lines_so_a_paragraph_opener_is_no_name() -> None:
    text = "Lindsay Lohan checks into rehab\nAfter skipping court, she began a stay at Betty Ford."
    assert tx.lead(text, 8) == "Lindsay Lohan checks into rehab\nAfter skipping court,"
    assert tx.lead(f"  {text}\n\nThe actress  was fined. ", 100) == f"{text}\n\nThe actress  was fined."
    assert tx.names(tx.lead(text, 100)) == {"lohan", "betty", "ford"}  # not "after"


def test_a_vocabulary_that_grows_a_term_at_a_time_keeps_its_counts() -> None:
    # One call per batch, each bringing new terms: the storage must grow with the vocabulary,
    # not double on every call (200 doublings would not fit in any memory).
    vocabulary = ft.Vocabulary(5, _stored({"old": 3}))
    for i in range(200):
        ids = vocabulary.ids(["old", f"new{i}"])
        assert vocabulary.count(ids, 1) == {"old": 1, f"new{i}": 1}
    assert len(vocabulary.terms) == 201
    assert vocabulary.idf(vocabulary.ids(["old", "new7"])) == pytest.approx(
        [math.log(206 / 204), math.log(206 / 2)]
    )


def test_a_vocabulary_reads_a_terms_stored_statistics_once_when_it_first_counts_it() -> None:
    store = {"old": 3, "rare": 1}
    asked: list[list[str]] = []

    def stored(terms: Sequence[str]) -> dict[str, int]:
        asked.append(list(terms))
        return {t: store[t] for t in terms if t in store}

    vocabulary = ft.Vocabulary(5, stored)
    window = vocabulary.ids(["old", "held"])  # a window article's terms: nothing read yet
    assert asked == []
    ids = vocabulary.ids(["old", "new", "rare"])
    assert vocabulary.count(ids, 1) == {"old": 1, "new": 1, "rare": 1}
    assert sorted(asked[0]) == ["new", "old", "rare"]
    assert vocabulary.idf(vocabulary.ids(["old", "new", "rare", "held"])) == pytest.approx(
        [math.log(7 / 5), math.log(7 / 2), math.log(7 / 3), math.log(7 / 1)]
    )
    assert asked[1:] == [["held"]]  # read once each, when first weighed
    assert window.tolist() == vocabulary.ids(["old", "held"]).tolist()


def test_a_vocabulary_keeps_the_terms_it_is_told_in_order_and_meets_the_others_anew() -> None:
    store = {"a": 5, "b": 6, "c": 7, "d": 8}
    vocabulary = ft.Vocabulary(20, lambda terms: {t: store[t] for t in terms if t in store})
    ids = vocabulary.ids(["a", "b", "c", "d"])
    vocabulary.count(ids, 1)  # a 6, b 7, c 8, d 9 here; stored as the batch is
    store.update({t: n + 1 for t, n in store.items()})
    new_of = vocabulary.keep(np.array([1, 3]))
    assert new_of.tolist() == [-1, 0, -1, 1] and vocabulary.terms == ["b", "d"]
    again = vocabulary.ids(["d", "a", "b"])
    assert again.tolist() == [1, 2, 0]
    assert vocabulary.idf(again) == pytest.approx(
        [math.log(22 / 10), math.log(22 / 7), math.log(22 / 8)])  # a read again from the store
