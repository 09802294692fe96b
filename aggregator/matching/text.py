"""Text preparation for matching: normalisation, tokens, stems, shingles, names and numbers.

Pure functions; no I/O. Works for English and other Latin-script languages (Snowball stemmers
when the language is known) and falls back to character bigrams for scripts written without
spaces (Chinese, Japanese, Thai, ...).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

import numpy as np
import Stemmer

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)
# Scripts written without spaces between words: Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar.
_NO_SPACE = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0eff"
    r"\u1000-\u109f\u1780-\u17ff]"
)

_STEMMERS = {
    "en": "english",
    "fr": "french",
    "de": "german",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
    "sv": "swedish",
    "da": "danish",
    "no": "norwegian",
    "fi": "finnish",
    "ro": "romanian",
    "hu": "hungarian",
    "tr": "turkish",
    "ru": "russian",
}

# Function words of the languages we stem. Rarity weighting already discounts them; removing
# them keeps signatures and candidate sets about content.
STOP_WORDS = frozenset(
    """
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how i if in into is it its itself just
me more most my myself no nor not now of off on once only or other our ours ourselves out over
own same she should so some such than that the their theirs them themselves then there these
they this those through to too under until up very was we were what when where which while who
whom why will with would you your yours yourself yourselves said says say told according new one
two would year years s t it's don't won't can't mr mrs ms dr via amid per among upon whether yet
since though although le la les un une des du de et en est pour que qui dans sur par pas au aux
ce cette il elle ils der die das und ist nicht mit den dem ein eine einer zu von auf für im als
auch es sie el los las y del por con para una su al lo como más pero sus il gli di che non per
con una sono della dei nel alla o os as um uma do da dos das em no na que com para por
""".split()  # noqa: SIM905 - a word list reads best as text
)


def normalise(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


# ASCII text is cut into words by a character table and str.split, faster than the regular
# expression over a 500-word text; words with an apostrophe go through the expression.
_ASCII_GAPS = str.maketrans({c: " " for c in map(chr, range(128)) if not (c.isalnum() or c == "'")})


def words(text: str) -> list[str]:
    """Word tokens of normalised text; runs of space-less scripts become character bigrams."""
    text = unicodedata.normalize("NFKC", text).casefold()  # normalise() but for the spaces
    if text.isascii():
        return _ascii_words(text)
    found = _WORD.findall(text)
    if not _NO_SPACE.search(text):  # the common case: no per-word script check needed
        return [w.replace("’", "'") if "’" in w else w for w in found]
    out: list[str] = []
    for w in found:
        if _NO_SPACE.search(w):
            out.extend(_bigrams(w))
        else:
            out.append(w.replace("’", "'"))
    return out


def _ascii_words(text: str) -> list[str]:
    """``_WORD.findall(text)`` for ASCII text, with its case."""
    found = text.translate(_ASCII_GAPS).split()
    if "'" not in text:
        return found
    return [w for part in found for w in ([part] if "'" not in part else _WORD.findall(part))]


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


# PyStemmer's stem cache size (off: stemming is as fast as a lookup).
STEM_CACHE = 0


@lru_cache(maxsize=32)
def _stemmer(language: str | None) -> Stemmer.Stemmer | None:
    code = (language or "en").split("-")[0].lower()
    name = _STEMMERS.get(code)
    return Stemmer.Stemmer(name, STEM_CACHE) if name else None


def content_terms(text: str, language: str | None = None) -> list[str]:
    """Stemmed content words: stop words, one-letter words and bare punctuation removed."""
    toks = [w for w in words(text) if w not in STOP_WORDS and (len(w) > 1 or not w.isascii())]
    stemmer = _stemmer(language)
    if stemmer is None:
        return toks
    stems: list[str] = stemmer.stemWords(toks)
    return stems


def as_written(terms: Iterable[str], forms: Mapping[str, str]) -> tuple[str, ...]:
    """``terms`` in their written ``forms`` (``readable_forms``; a term without one as itself),
    duplicates dropped."""
    return tuple(dict.fromkeys(forms.get(t, t) for t in terms))


def readable_forms(terms: Iterable[str], text: str, language: str | None = None) -> dict[str, str]:
    """Stems and names as a reader knows them: each term as a word of ``text`` that it stems
    from, lower case if the text ever writes it so (headlines capitalise every word), else as
    first written ("climat" -> "climate", "russian" -> "Russian", "trump" -> "Trump" from
    "Trump's"). Terms no word matches are left out; each term's form depends on it alone."""
    open_ = set(terms)  # terms not yet seen in lower case
    text = unicodedata.normalize("NFKC", text)
    # Each written word once, in order of first use: a repeat can change nothing.
    if text.isascii():
        shown_words = list(dict.fromkeys(_ascii_words(text)))
        keys = [w.lower() for w in shown_words]
    else:
        shown_words = list(dict.fromkeys(_WORD.findall(text)))
        keys = [w.casefold().replace("’", "'") for w in shown_words]
    stemmer = _stemmer(language)
    stems: list[str] = stemmer.stemWords(keys) if stemmer else keys  # one call for all words
    found: dict[str, str] = {}
    for shown, word, stem in zip(shown_words, keys, stems, strict=True):
        if word not in open_ and stem not in open_:
            continue
        if "'" in shown or "’" in shown:
            shown = _POSSESSIVE.sub("", shown)
        for key in (word, stem):
            if key in open_ and (key not in found or shown.islower()):
                found[key] = shown
                if shown.islower():
                    open_.discard(key)
        if not open_:
            break
    return found


def shingle_hashes(text: str, size: int) -> np.ndarray:
    """The distinct 32-bit hashes of the word ``size``-shingles of a text (stop words kept),
    computed from per-word CRC-32s in numpy rather than by hashing each joined shingle string."""
    toks = words(text)
    if not toks:
        return np.zeros(0, dtype=np.uint32)
    if len(toks) < size:
        return np.array([zlib.crc32(" ".join(toks).encode("utf-8"))], dtype=np.uint32)
    h = np.fromiter(map(zlib.crc32, map(str.encode, toks)), dtype=np.uint64, count=len(toks))
    acc = np.zeros(len(h) - size + 1, dtype=np.uint64)
    for k in range(size):  # polynomial combination mod 2^32 of the words' hashes, in order
        acc = (acc * np.uint64(0x01000193) + h[k : len(h) - size + 1 + k]) & np.uint64(0xFFFFFFFF)
    # Sorted, then the repeats dropped: faster than np.unique.
    acc.sort()
    return acc[np.concatenate(([True], acc[1:] != acc[:-1]))].astype(np.uint32)


# A sentence ends after . ! ? : ; or a quote followed by space, or at a line break. Matched
# from the punctuation (not with a look-behind at every position, which is slower).
_SENTENCE_BREAK = re.compile(r"[.!?:;\"“”]\s+|\n+")
_INNER_WORD = re.compile(r"\s[\"'“‘(]?([^\W\d_][\w'’-]*)")
# The same for ASCII text, where only a capital can open a name: a fifth of the matches to test.
_INNER_CAPITAL = re.compile(r"\s[\"'(]?([A-Z][\w'-]*)")
# A number not inside a word or after a dot: the digit first and the check behind it, so the
# scan skips to digits (a leading look-behind would be tried at every position).
_NUMBER = re.compile(r"\d(?<![\w.]\d)(?:[\d.,:%-]*\d)?")


def sentences(text: str) -> list[str]:
    """``text`` cut into sentences (end punctuation kept, breaks dropped)."""
    out: list[str] = []
    start = 0
    for m in _SENTENCE_BREAK.finditer(text):
        out.append(text[start : m.start() if text[m.start()] == "\n" else m.start() + 1])
        start = m.end()
    out.append(text[start:])
    return out


def names(text: str) -> set[str]:
    """Capitalised words that do not open a sentence, plus numbers: the cheap proper-noun signal."""
    text = unicodedata.normalize("NFKC", text)
    found = {n.casefold() for n in _NUMBER.findall(text)}
    inner = _INNER_CAPITAL if text.isascii() else _INNER_WORD
    for sentence in sentences(text):
        for m in inner.finditer(sentence):
            word = m.group(1).rstrip("'’-")
            if len(word) > 1 and word[0].isupper():
                found.add(word.casefold())
    return found


def lead(text: str, max_words: int) -> str:
    """The first ``max_words`` words of a text, its line breaks kept (a line opens a sentence,
    so its first word is no name)."""
    parts = text.split(None, max_words)  # the rest of a long text stays one unsplit part
    if len(parts) <= max_words:
        return text.strip()
    return text[: len(text) - len(parts[max_words])].strip()


def line_hashes(text: str) -> bytes:
    """What a text is to boilerplate detection: the 64-bit hashes of its distinct normalised
    lines and sentences (split_lines), sorted, as little-endian bytes. The store keeps them for
    clustered articles, so that a feed's sample of earlier articles is read as these bytes
    rather than as their texts; a change to how lines are split, normalised or hashed must
    therefore clear the stored ones (``article_sketches.lines``)."""
    return distinct_hashes(hashed_lines(text))


def hashed_lines(text: str) -> list[int | None]:
    """The hash of each of a text's lines and sentences (split_lines) normalised, in order;
    None for one that normalises to nothing."""
    return _hashed(split_lines(text))


def _hashed(lines: Iterable[str]) -> list[int | None]:
    return [_line_hash(n) if (n := normalise(x)) else None for x in lines]


def distinct_hashes(hashed: Iterable[int | None]) -> bytes:
    """A text's hashed_lines as its line_hashes."""
    return np.array(sorted({h for h in hashed if h is not None}), dtype="<u8").tobytes()


def _line_hash(line: str) -> int:
    # blake2b: the same in every process and Python version (str.__hash__ is salted), and 64
    # bits make two different lines of one feed's sample collide practically never.
    return int.from_bytes(
        hashlib.blake2b(line.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little"
    )


def recurring_lines(texts: Iterable[bytes], min_share: float, min_docs: int) -> frozenset[int]:
    """The lines (as their hashes) that occur in at least ``min_share`` of the texts and
    ``min_docs`` texts, each text given as its line_hashes.

    Outlet-wide boilerplate (navigation, captions, share prompts, "also available at" footers)
    recurs across many articles of one outlet; real sentences of a story do not.
    """
    sets = [np.frombuffer(t, dtype="<u8") for t in texts]
    threshold = max(min_docs, int(min_share * len(sets) + 0.999))
    lines, counts = np.unique(np.concatenate([*sets, np.zeros(0, "<u8")]), return_counts=True)
    return frozenset(lines[counts >= threshold].tolist())


# A sentence ends at . ! or ? followed by space and anything but a lower-case letter.
_SENTENCE_END = re.compile(r"[.!?]\s+(?=[^a-z])")


def split_lines(text: str) -> list[str]:
    """Lines and sentences: the units in which outlet boilerplate repeats.

    Lines first, then sentences within each line: one regular expression with a look-behind at
    every position found the same segments several times slower."""
    out: list[str] = []
    for line in text.split("\n"):
        start = 0
        for m in _SENTENCE_END.finditer(line):
            out.append(line[start : m.start() + 1])
            start = m.end()
        out.append(line[start:])
    return [x.strip() for x in out if x and x.strip()]


def strip_lines(
    text: str, boilerplate: frozenset[int], hashed: Sequence[int | None] | None = None
) -> str:
    """``text`` without the lines that are outlet boilerplate (recurring_lines); ``hashed``:
    its hashed_lines, when they are at hand."""
    if not boilerplate:
        return text
    lines = split_lines(text)
    if hashed is None:
        hashed = _hashed(lines)
    return "\n".join(x for x, h in zip(lines, hashed, strict=True) if h not in boilerplate)


# A line in at least this share of an outlet's recent articles (and 4 of them) is boilerplate.
BOILERPLATE_SHARE = 0.2
BOILERPLATE_MIN_DOCS = 4
