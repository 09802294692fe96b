"""MinHash signatures and LSH indexes: the only module that imports datasketch.

Two sketches per article:
- a *copy* signature over word 3-shingles of the whole text, indexed for Jaccard >= ~0.5 by
  datasketch's MinHashLSH, which finds republished text (wire copy, one article at two URLs,
  edited versions);
- a *story* signature over the article's key terms (its rarest content words), indexed with
  one row per band so that any two articles sharing key terms become candidates. With one row
  a band is a single MinHash value, so that index is a plain inverted index from (position,
  value) to articles (ValueIndex): the same candidates as MinHashLSH(params=(64, 1)) at a
  twentieth of the cost (datasketch hashes and stores each band through several Python layers:
  ~0.35 ms per article to insert and query, a third of the clustering time).

Signatures are datasketch MinHash values (its permutations and ``affine32`` scheme), computed
for a whole batch at once here (tests/test_sketch.py checks they equal datasketch's MinHash), and
stored as bytes (little-endian uint32 per permutation); ``SKETCH_VERSION`` is stored beside them
and signatures are never mixed across it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from functools import lru_cache

import datasketch
import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

from . import minhash

SEED = 1
SCHEME = "affine32"
SKETCH_VERSION = f"datasketch-{datasketch.__version__.split('.')[0]}/{SCHEME}/seed{SEED}"

# Copy level. 128 permutations banded 32 x 4 find 96-100 % of pairs with Jaccard >= 0.5 at
# ~0.8 candidates per document (DESIGN.md, measured on republished news); each candidate's
# estimate is then verified against COPY_THRESHOLD (stories.py).
COPY_PERMS = 128
COPY_BANDS = (32, 4)

# Story level: 64 permutations, 64 bands of 1 row. Two articles become candidates with probability
# 1-(1-J)^64 over their key-term sets: 73 % when they share 1 of ~40 key terms (J~0.02), >99 % from
# 4 shared terms. Scoring then decides (scoring.py, stories.py). Measured against scoring every
# pair: 32 bands over 20 key terms cost 0.044 ARI on ecbplus-dev, 64 bands over 40 key terms 0.006,
# 128 over 60 nothing (at more candidates per article).
STORY_PERMS = 64  # indexed as 64 bands of 1 row (ValueIndex)


def _hash32(item: bytes) -> int:
    # CRC-32 is ~10x faster than the default SHA-1 and uniform enough for MinHash over words.
    return zlib.crc32(item)


@lru_cache(maxsize=8)
def permutations(num_perm: int) -> minhash.Permutations:
    """datasketch's permutations for signatures of ``num_perm`` values (our seed and scheme);
    generating them costs ~0.15 ms, so they are made once per size."""
    a, b = MinHash(num_perm=num_perm, seed=SEED, scheme=SCHEME).permutations
    return a, b


def signature(items: Iterable[str], num_perm: int) -> bytes:
    """MinHash signature of a set of strings, as bytes."""
    return signatures([list(items)], num_perm)[0]


def signatures(sets: Sequence[Sequence[str]], num_perm: int) -> list[bytes]:
    """``signature`` of many sets at once (a MinHash object per set cost ~0.1 ms with its
    set-up, a tenth of an article's time)."""
    sizes = np.fromiter((len(s) for s in sets), dtype=np.int64, count=len(sets))
    hashes = np.fromiter(
        (_hash32(t.encode("utf-8")) for s in sets for t in s),
        dtype=np.uint32,
        count=int(sizes.sum()),
    )
    return minhash.signatures(hashes, sizes, permutations(num_perm))


def _lean(sig: bytes) -> LeanMinHash:
    values = np.frombuffer(sig, dtype="<u4").astype(np.uint64)
    return LeanMinHash(seed=SEED, hashvalues=values, scheme=SCHEME)


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


def rank_by_jaccard(sig: bytes, others: list[bytes]) -> list[int]:
    """Indexes of ``others`` from most to least similar to ``sig`` (stable for ties)."""
    return [int(i) for i in np.argsort(-jaccards(sig, others), kind="stable")]


class Index:
    """An LSH index over signatures of one kind, keyed by article id."""

    def __init__(self, num_perm: int, bands: tuple[int, int]) -> None:
        self._lsh = MinHashLSH(num_perm=num_perm, params=bands)
        self._keys: set[int] = set()

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def add(self, key: int, sig: bytes) -> None:
        if key in self._keys:
            return
        self._lsh.insert(key, _lean(sig), check_duplication=False)
        self._keys.add(key)

    def remove(self, key: int) -> None:
        if key in self._keys:
            self._lsh.remove(key)
            self._keys.discard(key)

    def query(self, sig: bytes) -> list[int]:
        return sorted(int(k) for k in self._lsh.query(_lean(sig)))


class ValueIndex:
    """Articles by (position, value) of their signatures: two articles are candidates when any
    position holds the same value, as in MinHash LSH with bands of one row.

    The entries are one sorted numpy array of (position, value) keys beside the article of
    each, so a whole batch is looked up in a few numpy calls (a dict of postings cost ~0.1 ms
    per article to fill and query). Additions and removals are applied at the next query."""

    def __init__(self, num_perm: int) -> None:
        self._num_perm = num_perm
        self._offsets = np.arange(num_perm, dtype=np.uint64) << np.uint64(32)
        self._keys = np.zeros(0, dtype=np.uint64)  # sorted
        self._ids = np.zeros(0, dtype=np.int64)  # the article of each key
        self._members: set[int] = set()
        self._added: dict[int, bytes] = {}  # members not yet in the arrays
        self._removed: set[int] = set()  # former members whose keys are still in the arrays

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, key: object) -> bool:
        return key in self._members

    def add(self, key: int, sig: bytes) -> None:
        if key in self._members:
            return
        if len(sig) != 4 * self._num_perm:
            raise ValueError(f"signature of {len(sig) // 4} values, index of {self._num_perm}")
        self._members.add(key)
        self._added[key] = sig

    def remove(self, key: int) -> None:
        if key not in self._members:
            return
        self._members.discard(key)
        if self._added.pop(key, None) is None:
            self._removed.add(key)

    def _settle(self) -> None:
        keys, ids = self._keys, self._ids
        if self._removed:
            gone = np.fromiter(self._removed, dtype=np.int64, count=len(self._removed))
            keep = ~np.isin(ids, gone)
            keys, ids = keys[keep], ids[keep]
            self._removed.clear()
        if self._added:
            values = np.frombuffer(b"".join(self._added.values()), dtype="<u4")
            new_keys = (values.reshape(-1, self._num_perm) | self._offsets).ravel()
            new_ids = np.repeat(
                np.fromiter(self._added, dtype=np.int64, count=len(self._added)),
                self._num_perm,
            )
            keys, ids = np.concatenate((keys, new_keys)), np.concatenate((ids, new_ids))
            order = np.argsort(keys, kind="stable")
            keys, ids = keys[order], ids[order]
            self._added.clear()
        self._keys, self._ids = keys, ids

    def query(self, sig: bytes) -> list[int]:
        return self.query_many([sig])[0]

    def query_many(self, sigs: Sequence[bytes]) -> list[list[int]]:
        """The members sharing a (position, value) with each signature, in id order."""
        self._settle()
        values = np.frombuffer(b"".join(sigs), dtype="<u4")
        if len(values) != len(sigs) * self._num_perm:
            raise ValueError(f"signatures of another size than {self._num_perm} values")
        wanted = (values.reshape(-1, self._num_perm) | self._offsets).ravel()
        order = np.argsort(wanted, kind="stable")  # looked up in key order: 3x fewer cache misses
        wanted = wanted[order]
        lo = np.searchsorted(self._keys, wanted, side="left")
        counts = np.searchsorted(self._keys, wanted, side="right") - lo
        ends = np.cumsum(counts)
        total = int(ends[-1]) if len(ends) else 0
        found = self._ids[np.arange(total) + np.repeat(lo - ends + counts, counts)]
        query = np.repeat(order // self._num_perm, counts)
        width = int(self._ids.max(initial=0)) + 1  # (query, article) pairs as one number
        pairs = np.sort(query * width + found, kind="stable")  # radix sort: 10x np.unique
        pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
        bounds = np.searchsorted(pairs // width, np.arange(len(sigs) + 1))
        ids: list[int] = (pairs % width).tolist()
        return [ids[bounds[i] : bounds[i + 1]] for i in range(len(sigs))]


def copy_index() -> Index:
    return Index(COPY_PERMS, COPY_BANDS)


def story_index() -> ValueIndex:
    return ValueIndex(STORY_PERMS)
