"""MinHash signatures and LSH indexes: the only module that imports datasketch.

Two sketches per article:
- a *copy* signature over word 3-shingles of the whole text, in 32 bands of 4 rows, which finds
  texts at Jaccard >= ~0.5: republished text (wire copy, one article at two URLs, edited
  versions);
- a *story* signature over the article's key terms (its rarest content words), indexed with
  one row per band so that any two articles sharing key terms become candidates.

Both are indexed by BandIndex, MinHash LSH as datasketch's MinHashLSH does it (the same
candidates: tests/matching/test_sketch.py) in a few numpy calls per batch instead of Python
calls per band and article.

Signatures are datasketch MinHash values (its permutations and ``affine32`` scheme), computed
for a whole batch at once here (tests/matching/test_sketch.py checks they equal datasketch's
MinHash), and stored as bytes (little-endian uint32 per permutation); ``SKETCH_VERSION`` is stored beside them
and signatures are never mixed across it.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from aggregator.matching import minhash

SEED = 1
SCHEME = "affine32"
SKETCH_VERSION = (
    f"datasketch-{importlib.metadata.version('datasketch').split('.')[0]}/{SCHEME}/seed{SEED}"
)

# Permutations of the copy signature, banded COPY_BANDS (bands, rows).
COPY_PERMS = 128
COPY_BANDS = (32, 4)

# Permutations of the story signature, indexed as as many bands of one row.
STORY_PERMS = 64  # indexed as 64 bands of 1 row


def _hash32(item: bytes) -> int:
    # CRC-32: much faster than datasketch's default SHA-1, and uniform enough over words.
    return zlib.crc32(item)


@lru_cache(maxsize=8)
def permutations(num_perm: int) -> minhash.Permutations:
    """datasketch's permutations for signatures of ``num_perm`` values (our seed and scheme),
    made once per size. datasketch is imported here, when a signature is first made: its import
    pulls in much of scipy (0.2 s and 34 MB), which a command that does not cluster never needs."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=SEED, scheme=SCHEME).permutations
    return a, b


def signature(items: Iterable[str], num_perm: int) -> bytes:
    """MinHash signature of a set of strings, as bytes."""
    return signatures([list(items)], num_perm)[0]


def signatures(sets: Sequence[Sequence[str]], num_perm: int) -> list[bytes]:
    """``signature`` of many sets at once, without a MinHash object per set."""
    sizes = np.fromiter((len(s) for s in sets), dtype=np.int64, count=len(sets))
    hashes = _term_hashes(itertools.chain.from_iterable(sets), int(sizes.sum()))
    return minhash.signatures(hashes, sizes, permutations(num_perm))


def _term_hashes(terms: Iterable[str], count: int) -> np.ndarray:
    """The 32-bit hash of each of ``count`` terms."""
    return np.fromiter((_hash32(t.encode("utf-8")) for t in terms), dtype=np.uint32, count=count)


class TermHashes:
    """The 32-bit hash of each term by its id (features.Vocabulary's numbering), made once per
    term: story signatures of a batch are then a lookup and ``minhash.signatures``."""

    def __init__(self) -> None:
        self._hashes = np.zeros(0, dtype=np.uint32)

    def signatures(
        self, terms: Sequence[str], ids: np.ndarray, sizes: np.ndarray, num_perm: int
    ) -> list[bytes]:
        """``signatures`` of consecutive sets of term ids (``sizes`` each), ``terms`` naming
        every id."""
        known = len(self._hashes)
        if len(terms) > known:
            fresh = _term_hashes(itertools.islice(terms, known, None), len(terms) - known)
            self._hashes = np.concatenate((self._hashes, fresh))
        return minhash.signatures(self._hashes[ids], sizes, permutations(num_perm))

    def keep(self, used: np.ndarray) -> None:
        """The hashes of the terms ``used`` (ids, ascending) only, numbered as
        ``features.Vocabulary.keep`` numbers them; those not made yet are made when needed."""
        self._hashes = self._hashes[used[used < len(self._hashes)]]


def jaccards(sig: bytes, others: Sequence[bytes]) -> np.ndarray:
    """Estimated Jaccard similarity of the set behind ``sig`` with each set behind ``others``
    (signatures of its size), in one numpy comparison: a text repeated thousands of times has
    thousands of candidates."""
    mine = np.frombuffer(sig, dtype="<u4")
    if not others or not len(mine):
        return np.zeros(len(others))
    stack = np.frombuffer(b"".join(others), dtype="<u4").reshape(len(others), -1)
    agree: np.ndarray = (stack == mine).sum(axis=1) / len(mine)
    return agree


class BandIndex:
    """MinHash LSH over signatures of ``num_perm`` values cut into bands of ``rows`` values: two
    articles are candidates when all values of some band agree, as in datasketch's MinHashLSH.

    Each band of a signature is one key (with one row, its 32-bit value; with several, a 32-bit
    hash of its values: a copy found by chance costs one signature read and comparison), and
    each band's entries are sorted numpy arrays of keys beside the article of each, so a whole
    batch is looked up in a few numpy calls per band, where datasketch's MinHashLSH hashes and
    stores each band through several Python layers (docs/tuning.md, "Speed"). The candidates are MinHashLSH's (the tests compare them), plus,
    with several rows, any pair whose band values differ but hash alike (rarely: docs/tuning.md,
    "SEGMENT_ENTRIES"), which the Jaccard estimate then drops.

    The entries lie in segments of at most SEGMENT_ENTRIES, each band sorted, so adding or
    removing articles re-sorts one segment at a time: one sorted array of a whole window took
    twice its size again while it was rebuilt (docs/tuning.md, "The window's memory").
    Additions and removals are applied at the next query, or when SETTLE_ENTRIES wait."""

    def __init__(self, num_perm: int, rows: int = 1) -> None:
        if num_perm % rows:
            raise ValueError(f"{num_perm} values do not cut into bands of {rows}")
        self._num_perm = num_perm
        self._rows = rows
        self._segments: list[_Segment] = []
        self._added: dict[int, bytes] = {}  # members not yet in the segments
        self._removed: set[int] = set()  # former members whose keys are still in the segments

    def __len__(self) -> int:
        self._settle()
        return sum(len(s.members) for s in self._segments)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is a member, by a search of every segment (the index keeps no set of
        its members: its caller knows them)."""
        self._settle()
        return any(bool((s.members == key).any()) for s in self._segments)

    def add(self, key: int, sig: bytes) -> None:
        """Index ``key``'s signature; ``key`` must not be a member."""
        if len(sig) != 4 * self._num_perm:
            raise ValueError(f"signature of {len(sig) // 4} values, index of {self._num_perm}")
        self._added[key] = sig
        if len(self._added) * self._num_perm // self._rows >= SETTLE_ENTRIES:
            self._settle()  # enough: their signatures need not wait for a query

    def remove(self, key: int) -> None:
        """Unindex ``key``, which must be a member."""
        if self._added.pop(key, None) is None:
            self._removed.add(key)

    def _band_keys(self, sigs: Sequence[bytes]) -> np.ndarray:
        """The key of each band of each signature, one row of keys per signature."""
        values = np.frombuffer(b"".join(sigs), dtype="<u4")
        if len(values) != len(sigs) * self._num_perm:
            raise ValueError(f"signatures of another size than {self._num_perm} values")
        if self._rows == 1:
            return values.reshape(len(sigs), -1)
        bands = values.reshape(len(sigs), -1, self._rows).astype(np.uint64)
        h = bands[..., 0]
        for k in range(1, self._rows):
            h = (h * _MIX) ^ bands[..., k]  # multiplication modulo 2^64
        mixed = (h ^ (h >> np.uint64(31))) * _MIX
        top: np.ndarray = (mixed >> np.uint64(32)).astype(np.uint32)  # its high 32 bits
        return top

    def _settle(self) -> None:
        if self._removed:
            gone = np.fromiter(self._removed, dtype=np.int64, count=len(self._removed))
            self._segments = [s.without(gone) for s in self._segments]
            self._removed.clear()
        if self._added:
            members = list(self._added.items())
            self._added.clear()
            step = max(1, SEGMENT_ENTRIES * self._rows // self._num_perm)
            for start in range(0, len(members), step):
                chunk = members[start : start + step]
                keys = self._band_keys([sig for _, sig in chunk]).T
                ids = np.fromiter((k for k, _ in chunk), np.int64, len(chunk))
                self._segments.append(_Segment.of(keys, ids))
        self._segments = _merged(self._segments)

    def query(self, sig: bytes) -> list[int]:
        found: list[int] = self.query_many([sig])[0].tolist()
        return found

    def query_many(self, sigs: Sequence[bytes]) -> list[np.ndarray]:
        """The members sharing a band with each signature, in id order (int64 arrays, not
        lists: a batch finds hundreds an article, docs/tuning.md, "Speed")."""
        return [ids for ids, _ in self.query_counted(sigs)]

    def query_counted(self, sigs: Sequence[bytes]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``query_many``, each member found with the number of bands it shares with the
        signature: with one row per band, how many of the signatures' values agree, so their
        estimated Jaccard similarity times the values per signature. Looked up QUERY_CHUNK
        signatures at a time as the answers are taken: the band entries found before they are
        made distinct are many times the articles, and a caller keeping a few of each article's
        members need not hold all of them at once."""
        self._settle()
        for start in range(0, len(sigs), QUERY_CHUNK):
            yield from self._lookup(sigs[start : start + QUERY_CHUNK])

    def _lookup(self, sigs: Sequence[bytes]) -> list[tuple[np.ndarray, np.ndarray]]:
        band_keys = self._band_keys(sigs).T  # a row of the signatures' keys per band
        order = np.argsort(band_keys, axis=1)  # looked up in key order: fewer cache misses
        queries, found = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        for band, (wanted, asked) in enumerate(
            zip(np.take_along_axis(band_keys, order, axis=1), order, strict=True)
        ):
            for segment in self._segments:
                keys = segment.keys[band]
                lo = np.searchsorted(keys, wanted, side="left")
                counts = np.searchsorted(keys, wanted, side="right") - lo
                ends = np.cumsum(counts)
                total = int(ends[-1]) if len(ends) else 0
                at = np.arange(total) + np.repeat(lo - ends + counts, counts)
                found.append(segment.ids(band, at))
                queries.append(np.repeat(asked, counts))
        ids = np.concatenate(found).astype(np.int64)
        width = int(ids.max(initial=0)) + 1  # (query, article) pairs as one number
        # numpy's default sort of integers is its vectorised quicksort, faster than its stable one,
        # and equal integers need no stable order.
        pairs = np.sort(np.concatenate(queries) * width + ids)
        first = np.flatnonzero(np.concatenate(([True], pairs[1:] != pairs[:-1])))
        bands = np.diff(np.append(first, len(pairs)))  # an article is in each band once
        pairs = pairs[first]
        bounds = np.searchsorted(pairs // width, np.arange(len(sigs) + 1)).tolist()
        ids = pairs % width
        return [
            (ids[bounds[i] : bounds[i + 1]], bands[bounds[i] : bounds[i + 1]])
            for i in range(len(sigs))
        ]


# Entries (band keys) per segment of a BandIndex: what re-sorting one costs in memory.
SEGMENT_ENTRIES = 1 << 20
# Entries whose signatures wait for the next query before they are settled into segments at
# most (bounds the memory of the signatures held meanwhile).
SETTLE_ENTRIES = 1 << 16
# Signatures looked up at a time (bounds the memory of the entries a lookup finds).
QUERY_CHUNK = 50


@dataclass(frozen=True)
class _Segment:
    """Band keys, a row per band, each row in sorted order beside the article of each, given as
    its place in ``members`` in the narrowest type that numbers them, rather than its id (what
    an entry takes: docs/tuning.md, "SEGMENT_ENTRIES")."""

    keys: np.ndarray
    places: np.ndarray
    members: np.ndarray  # article ids (int64) by place

    @staticmethod
    def sorted(
        rows: Iterable[tuple[np.ndarray, np.ndarray]],
        shape: tuple[int, int],
        members: np.ndarray,
        kind: Literal["quicksort", "stable"] = "quicksort",
    ) -> _Segment:
        """A segment of ``shape`` (bands, entries per band) from each band's keys and places
        (``rows``), each band's entries put in key order (ties in any: a key's articles are
        found together); ``kind="stable"`` for rows that are two sorted runs, which it merges in
        one pass. A band at a time, so sorting takes memory for one band beside the segment."""
        sorted_keys = np.empty(shape, dtype=np.uint32)
        sorted_places = np.empty(shape, dtype=_place_type(len(members)))
        for band, (row, row_places) in enumerate(rows):
            order = np.argsort(row, kind=kind)
            sorted_keys[band] = row[order]
            sorted_places[band] = row_places[order]
        return _Segment(sorted_keys, sorted_places, members)

    @staticmethod
    def of(keys: np.ndarray, members: np.ndarray) -> _Segment:
        """A segment of articles ``members`` (ids), ``keys`` a row per band, a column per
        article."""
        places = np.arange(len(members))
        return _Segment.sorted(((row, places) for row in keys), keys.shape, members)

    def joined(self, other: _Segment) -> _Segment:
        """This segment and ``other`` as one, ``other``'s articles placed after this one's."""
        members = np.concatenate((self.members, other.members))
        places = _place_type(len(members))
        shift = places(len(self.members))
        rows = (
            (
                np.concatenate((keys, other_keys)),
                np.concatenate((own.astype(places), other_own.astype(places) + shift)),
            )
            for keys, other_keys, own, other_own in zip(
                self.keys, other.keys, self.places, other.places, strict=True
            )
        )
        width = self.keys.shape[1] + other.keys.shape[1]
        return _Segment.sorted(rows, (len(self.keys), width), members, kind="stable")

    @property
    def size(self) -> int:
        """Entries in all bands."""
        return int(self.keys.size)

    def ids(self, band: int, at: np.ndarray) -> np.ndarray:
        """The articles of the entries ``at`` of ``band``."""
        found: np.ndarray = self.members[self.places[band][at]]
        return found

    def without(self, gone: np.ndarray) -> _Segment:
        staying = ~np.isin(self.members, gone)
        if staying.all():
            return self
        keep = staying[self.places]  # an article is in every band: as many kept in each
        renumbered = (np.cumsum(staying) - 1).astype(self.places.dtype)
        bands = len(self.keys)
        return _Segment(
            self.keys[keep].reshape(bands, -1),
            renumbered[self.places[keep]].reshape(bands, -1),
            self.members[staying],
        )


def _merged(segments: list[_Segment]) -> list[_Segment]:
    """``segments`` without empty ones, neighbours merged while the two fit in one segment."""
    out: list[_Segment] = []
    for s in segments:
        if not s.size:
            continue
        if out and out[-1].size + s.size <= SEGMENT_ENTRIES:
            s = out.pop().joined(s)
        out.append(s)
    return out


def _place_type(members: int) -> type[np.unsignedinteger]:
    """The narrowest type that numbers ``members`` articles by their place in a segment."""
    return np.uint16 if members <= 1 << 16 else np.uint32


# An odd 64-bit constant (splitmix64's) mixing a band's values into one hash.
_MIX = np.uint64(0x9E3779B97F4A7C15)


def copy_index() -> BandIndex:
    bands, rows = COPY_BANDS
    return BandIndex(bands * rows, rows)


def story_index() -> BandIndex:
    return BandIndex(STORY_PERMS)
