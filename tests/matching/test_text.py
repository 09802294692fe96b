"""Text preparation: lines, sentences, names, numbers, words, written forms."""

from __future__ import annotations

import random
import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from aggregator.matching import text as tx

_SEGMENT = re.compile(r"\n+|(?<=[.!?])\s+(?=[^a-z])")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab A.!?\n\t\u00a0\u2028xyZ,")), max_size=60))
def test_split_lines_is_the_line_and_sentence_split(text: str) -> None:
    # The definition split_lines implements faster: new lines, or space after . ! ? before
    # anything but a lower-case letter.
    expected = [x.strip() for x in _SEGMENT.split(text) if x and x.strip()]
    assert tx.split_lines(text) == expected


def test_split_lines_segments() -> None:
    text = "Share this. Read more!\nPhoto: Agency\n\nThe U.S. economy grew. it said? Yes"
    assert tx.split_lines(text) == [
        "Share this.", "Read more!", "Photo: Agency", "The U.S. economy grew. it said?", "Yes",
    ]


_OLD_SENTENCES = re.compile(r"(?<=[.!?:;\"“”])\s+|\n+")


_OLD_NUMBER = re.compile(r"(?<![\w.])\d[\d.,:%-]*\d|(?<![\w.])\d")


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aB1 .,:%-\n\t\"“”!?;x9_’'(\u00a0é٣")), max_size=40))
def test_sentence_and_number_scans_keep_their_definitions(text: str) -> None:
    # The look-behind forms are the definitions; the scans in text.py are faster equivalents.
    assert tx.sentences(text) == _OLD_SENTENCES.split(text)
    assert tx._NUMBER.findall(text) == _OLD_NUMBER.findall(text)


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aBzZ1 .-\n\t\"!?'(_")), max_size=40))
@example(' met (Bob said "Ann\' Zed-  O\'Neil\'s. Cy went')
def test_ascii_names_are_the_capitalised_inner_words(text: str) -> None:
    # In ASCII text only the words the general expression finds that open with a capital count.
    found = {
        w.casefold()
        for sentence in tx.sentences(text)
        for m in tx._INNER_WORD.finditer(sentence)
        if len(w := m.group(1).rstrip("'’-")) > 1 and w[0].isupper()
    }
    assert tx.names(text) == found | {n.casefold() for n in tx._NUMBER.findall(text)}


def test_readable_terms_show_the_articles_words() -> None:
    text = "Climate bill: the Senate’s vote on Trump’s Russian OIL deal. The climate and oil."
    terms = ["climat", "senat", "russian", "trump", "oil", "unseen", "climat"]
    assert tx.as_written(terms, tx.readable_forms(terms, text, "en")) == (
        "climate", "Senate", "Russian", "Trump", "oil", "unseen")
    assert tx.as_written(["climat"], tx.readable_forms(["climat"], "", "en")) == ("climat",)


_OLD_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aZ9 _-'’.\n\t\u00a0éß\u212a北京ก,\"“")), max_size=40))
def test_words_keep_their_definition(text: str) -> None:
    # The definition: the word expression over NFKC, case-folded text, ’ written '; runs of
    # space-less scripts as bigrams. words() cuts ASCII text by a table instead.
    expected: list[str] = []
    for w in _OLD_WORD.findall(tx.normalise(text)):
        if tx._NO_SPACE.search(w):
            expected.extend([w] if len(w) == 1 else [w[i : i + 2] for i in range(len(w) - 1)])
        else:
            expected.append(w.replace("’", "'"))
    assert tx.words(text) == expected


def test_readable_forms_of_a_term_do_not_depend_on_the_other_terms() -> None:
    # The workers find the forms of all an article's terms; links use a few of them.
    text = ("Senate votes: the senate’s Climate bill and Trump's RUSSIAN oil deal. Russian "
            "climate talks, Trump and the Senate. Oil prices; climbing oil.")
    terms = ["senat", "climat", "trump", "russian", "oil", "price", "climb", "deal", "vote", "x"]
    everything = tx.readable_forms(terms, text, "en")
    assert everything["senat"] == "senate" and everything["russian"] == "RUSSIAN"  # as first written
    assert "x" not in everything
    rng = random.Random(3)
    for _ in range(200):
        some = rng.sample(terms, rng.randint(1, len(terms)))
        assert tx.readable_forms(some, text, "en") == {
            t: everything[t] for t in some if t in everything}


def _recurring_as_written(texts: list[str], min_share: float, min_docs: int) -> set[str]:
    """The recurring lines counted by their normalised strings: what the line hashes stand for."""
    counts: dict[str, int] = {}
    for t in texts:
        for line in {tx.normalise(x) for x in tx.split_lines(t)} - {""}:
            counts[line] = counts.get(line, 0) + 1
    threshold = max(min_docs, int(min_share * len(texts) + 0.999))
    return {line for line, c in counts.items() if c >= threshold}


_LINES = ["Share this article.", "SHARE  this article.", "Follow us on Telegram!", "Read more",
          "The council met on Monday.", "Schools reopen.", "Photo: Reuters", "  "]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_LINES), max_size=6), min_size=1, max_size=12),
       st.sampled_from([0.2, 0.5]), st.integers(1, 4))
def test_boilerplate_by_line_hashes_is_boilerplate_by_lines(
        texts: list[list[str]], min_share: float, min_docs: int) -> None:
    """Lines counted as hashes (what the store keeps of a clustered article) recur exactly where
    the lines themselves do, once a text however often it repeats one, and strip the same."""
    written = ["\n".join(lines) for lines in texts]
    boiler = tx.recurring_lines(map(tx.line_hashes, written), min_share, min_docs)
    expected = _recurring_as_written(written, min_share, min_docs)
    assert len(boiler) == len(expected)
    for t in written:
        kept = [tx.normalise(x) for x in tx.split_lines(tx.strip_lines(t, boiler))]
        assert kept == [tx.normalise(x) for x in tx.split_lines(t)
                        if tx.normalise(x) not in expected]


def test_line_hashes_are_the_same_in_every_process() -> None:
    """Stored line hashes are read by other processes and later versions: no salted hash."""
    assert tx.line_hashes("Share this article.\nRead more") == bytes.fromhex(
        "c6c1b5cad6504f2c8b352981ba857e57")
    assert tx.line_hashes("Read more\n read   MORE\nShare this article.") == tx.line_hashes(
        "Share this article.\nRead more")
