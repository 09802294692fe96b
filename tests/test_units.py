"""Unit tests of single pure functions: addresses, decoding, URLs, sanitising, schedules, text."""

from __future__ import annotations

import gzip
import json
import math
import random
import re
import zlib
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aggregator import urls
from aggregator.errors import FetchError
from aggregator.ingest import addresses, schedule
from aggregator.ingest.decode import BoundedDecoder
from aggregator.ingest.fetch import max_age_seconds, retry_after_seconds
from aggregator.ingest.sanitize import clean_html, to_text
from aggregator.matching import features as ft
from aggregator.matching import text as tx
from aggregator.matching.clusterer import _one_stretch
from aggregator.model import PendingArticle, StoryView
from aggregator.publish.terminal import format_story
from aggregator.store import vectors

LOOPBACK = addresses.parse_networks(["127.0.0.1/32"])


@pytest.mark.parametrize(("addr", "ok"), [
    ("93.184.216.34", True), ("2606:4700::1111", True),
    ("127.0.0.1", False), ("127.0.0.2", False), ("10.1.2.3", False), ("172.16.0.1", False),
    ("192.168.1.1", False), ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False),
    ("::1", False), ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False),
    ("2002:7f00:0001::", False), ("64:ff9b::a00:1", False), ("fe80::1", False), ("fc00::1", False),
    ("224.0.0.1", False), ("255.255.255.255", False), ("not-an-ip", False),
])
def test_address_policy(addr: str, ok: bool) -> None:
    assert addresses.allowed(addr, ()) is ok


def test_allowed_networks_are_exact() -> None:
    assert addresses.allowed("127.0.0.1", LOOPBACK)
    assert addresses.allowed("::ffff:127.0.0.1", LOOPBACK)
    assert not addresses.allowed("127.0.0.2", LOOPBACK)


def test_gzip_bomb_stops_at_the_cap() -> None:
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))
    d = BoundedDecoder("gzip", 1024 * 1024)
    with pytest.raises(FetchError) as e:
        d.feed(bomb)
    assert e.value.kind == "too_large"
    assert d.total <= 1024 * 1024 + 1


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "identity", ""])
def test_decoding_round_trip(encoding: str) -> None:
    data = b"<rss>" + b"x" * 100_000 + b"</rss>"
    raw = {"gzip": gzip.compress(data), "deflate": zlib.compress(data)}.get(encoding, data)
    d = BoundedDecoder(encoding, 10**6)
    for i in range(0, len(raw), 1000):
        d.feed(raw[i : i + 1000])
    assert d.finish() == data


def test_raw_deflate_is_accepted() -> None:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw = c.compress(b"hello feed") + c.flush()
    d = BoundedDecoder("deflate", 1000)
    d.feed(raw)
    assert d.finish() == b"hello feed"


@pytest.mark.parametrize(("url", "expected"), [
    ("https://Example.org/a?utm_source=x&id=3&fbclid=y#frag", "https://example.org/a?id=3"),
    ("http://example.org:80/p?gclid=1", "http://example.org/p"),
    ("/rel/path?mc_cid=1", "https://base.example/rel/path"),
    ("javascript:alert(1)", None), ("data:text/html,hi", None), ("", None),
])
def test_canonical_urls(url: str, expected: str | None) -> None:
    assert urls.canonical(url, "https://base.example/feed") == expected


def test_sanitiser_removes_active_content_and_is_idempotent() -> None:
    dirty = ('<p onclick="x()">Hi<script>alert(1)</script><a href="javascript:alert(1)">j</a>'
             '<a href="https://ok.example/">ok</a><form><input type="password"></form>'
             '<svg><a xlink:href="javascript:alert(1)">s</a></svg><iframe src="x"></iframe></p>')
    clean = clean_html(dirty)
    for bad in ("script", "onclick", "javascript", "form", "input", "svg", "iframe"):
        assert bad not in clean.lower()
    assert 'href="https://ok.example/"' in clean
    assert clean_html(clean) == clean


def test_to_text() -> None:
    assert to_text("<p>A &amp; B</p><p>C<br>D</p><script>x</script>") == "A & B\nC\nD"


def test_retry_after_forms() -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds("Sun, 01 Nov 2026 00:10:00 GMT", now) == 600
    assert retry_after_seconds("soon", now) is None
    assert max_age_seconds("public, max-age=900") == 900


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    rng = random.Random(1)
    waits = [schedule.next_failure(now, 60, f, 1440, rng) - now for f in range(1, 12)]
    assert waits[0] <= timedelta(minutes=60) and waits[3] > timedelta(minutes=200)
    assert all(w <= timedelta(minutes=1440) for w in waits)
    assert schedule.retry_after(now, 10**9, 5, 1440) == now + timedelta(minutes=1440)
    assert schedule.retry_after(now, 1, 5, 1440) == now + timedelta(minutes=5)


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


def test_shared_terms_name_and_stem_once() -> None:
    a = {"russian": 0.5, "#russian": 0.5, "oil": 0.7}
    b = {"russian": 0.6, "#russian": 0.4, "oil": 0.7}
    assert ft.shared_terms(a, b) == ["oil", "russian"]


@pytest.mark.parametrize(("outlets", "articles", "expected"), [
    (("Daily Planet",), 1, "1 outlet, 1 article, 1 independent"),
    (("Daily Planet", "Morning Post"), 3, "2 outlets, 3 articles, 2 independent"),
])
def test_story_block_counts_outlets_and_articles_in_words(
    outlets: tuple[str, ...], articles: int, expected: str
) -> None:
    story = StoryView("s1", "Bridge closed", "", "2026-11-01T08:00:00Z", "2026-11-01T09:00:00Z",
                      "2026-11-01T09:00:00Z", outlets, len(outlets), articles, 1.0, ())
    block = format_story(1, story, datetime(2026, 11, 1, 10, tzinfo=UTC))
    assert expected in block and "2h ago" in block


def test_weigh_gives_unit_tfidf_vectors_key_terms_and_year_marks() -> None:
    vocabulary = ft.Vocabulary({"quake": 1, "city": 9, "@2013": 2}, 9)
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
    vocabulary = ft.Vocabulary({}, 0)
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
    vocabulary = ft.Vocabulary({"old": 3}, 5)
    for i in range(200):
        ids = vocabulary.ids(["old", f"new{i}"])
        assert vocabulary.count(ids, 1) == {"old": 1, f"new{i}": 1}
    assert len(vocabulary.terms) == 201
    assert vocabulary.idf(vocabulary.ids(["old", "new7"])) == pytest.approx(
        [math.log(206 / 204), math.log(206 / 2)]
    )


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


def _pending_at(hours: list[float]) -> list[PendingArticle]:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    return [PendingArticle(i, f"k{i}", "o", None, "t", "s", None, None,
                           (t0 + timedelta(hours=h)).isoformat(), True, "f", ("", "", ""))
            for i, h in enumerate(hours)]


@pytest.mark.parametrize(("hours", "kept"), [
    ([0, 1, 2], 3),
    ([0, 50, 100, 140], 4),  # gaps of at most one window (72 h): one batch
    ([0, 1, 80, 81], 2),  # a longer gap: no pair across it can be linked
    ([72 * k for k in range(15)], 11),  # at most ten windows of time from the first
])
def test_a_batch_covers_one_stretch_of_time(hours: list[float], kept: int) -> None:
    batch = _pending_at(hours)
    assert _one_stretch(batch, 72 * 3600.0) == batch[:kept]


def test_stored_vectors_round_trip_and_older_json_ones_still_read() -> None:
    # Terms are made by the tokeniser from hostile text: quotes, escapes, any script.
    vec = {'say "hi"': 0.123456789, "back\\slash": 1e-07, "ünï©ødé 東京": 0.5, "</script>": 0.0,
           "#name": 0.000015, "@2024": 0.0}
    stored = vectors.dumps(vec)
    back = vectors.loads(stored)
    assert list(back) == list(vec)  # in order
    assert back == pytest.approx(vec, rel=1e-7)
    assert vectors.loads(vectors.dumps({})) == {}
    with pytest.raises(ValueError, match="line break"):
        vectors.dumps({"two\nlines": 1.0})
    # Vectors that earlier versions stored as JSON text are read as they were written.
    assert vectors.loads(json.dumps({"quake": 0.12346, "#chile": 0.5})) == {"quake": 0.12346, "#chile": 0.5}


