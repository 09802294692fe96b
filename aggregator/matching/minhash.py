"""MinHash signatures in numpy from hashed sets and given permutations: the arithmetic of
datasketch's ``affine32`` scheme (sketch.py owns datasketch and the permutations, and
tests/matching/test_sketch.py checks the bytes equal datasketch's MinHash). Kept apart so that the
extraction worker processes need numpy only: importing datasketch pulls in scipy, which slows
each worker's start on the path of a run's first batch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# (a, b) of each permutation, uint32 arrays of the signature's length.
Permutations = tuple[np.ndarray, np.ndarray]


def signatures(hashes: np.ndarray, sizes: np.ndarray, permutations: Permutations) -> list[bytes]:
    """Signatures of consecutive sets (``sizes`` values each) of 32-bit ``hashes``: each hash
    mixed by the MurmurHash3 finalizer, then ``a * h + b`` modulo 2^32 per permutation, the
    minimum kept (little-endian uint32 bytes; an empty set gets all ones). One product per set
    (a reduction over many sets at once was slower)."""
    a, b = permutations
    h = hashes ^ (hashes >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    h = h ^ (h >> np.uint32(16))
    empty = np.full(len(a), 0xFFFFFFFF, dtype="<u4").tobytes()
    out: list[bytes] = []
    start = 0
    for size in sizes.tolist():
        if not size:
            out.append(empty)
            continue
        part = h[start : start + size, None]
        start += size
        out.append((part * a + b).min(axis=0).astype("<u4").tobytes())
    return out


def of_hashed(hashes: Sequence[np.ndarray], permutations: Permutations) -> list[bytes]:
    """Signatures of sets already hashed to 32-bit integers (text.shingle_hashes)."""
    sizes = np.fromiter((len(h) for h in hashes), dtype=np.int64, count=len(hashes))
    flat = np.concatenate([*hashes, np.zeros(0, np.uint32)]).astype(np.uint32, copy=False)
    return signatures(flat, sizes, permutations)
