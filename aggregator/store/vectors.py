"""Stored term vectors (``article_sketches.terms``): written as bytes, read from bytes or from
the JSON text earlier versions wrote (orjson: the only module that imports it).

The bytes are the term count (uint32), the weights (float32, little-endian) and the terms in
UTF-8, one per line (a term is a word, a stem or a name: never a line break): smaller and faster
to write than the JSON of earlier versions (docs/tuning.md, "Speed").
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import orjson

_COUNT = 4  # bytes of the term count


def dumps(vec: Mapping[str, float]) -> bytes:
    """A vector as stored."""
    terms = "\n".join(vec)
    if terms.count("\n") != max(0, len(vec) - 1):
        raise ValueError("a term of a stored vector holds a line break")
    weights = np.fromiter(vec.values(), dtype=np.float64, count=len(vec)).astype("<f4")
    return len(vec).to_bytes(_COUNT, "little") + weights.tobytes() + terms.encode("utf-8")


def load_pair(stored: bytes | str) -> tuple[list[str], np.ndarray]:
    """A stored vector as its terms and their weights, in either format, without a dictionary:
    the bytes' weights as the float32 they are (half the memory of a window's vectors), the
    JSON's as float64."""
    if isinstance(stored, str):
        vec = loads(stored)
        return list(vec), np.fromiter(vec.values(), dtype=np.float64, count=len(vec))
    n = int.from_bytes(stored[:_COUNT], "little")
    if not n:
        return [], np.zeros(0)
    weights = np.frombuffer(stored, dtype="<f4", count=n, offset=_COUNT).astype(np.float32)
    return stored[_COUNT + 4 * n :].decode("utf-8").split("\n"), weights


def loads(stored: bytes | str) -> dict[str, float]:
    """A stored vector, in either format."""
    if isinstance(stored, str):
        vec: dict[str, float] = orjson.loads(stored)
        return vec
    n = int.from_bytes(stored[:_COUNT], "little")
    if not n:
        return {}
    weights = np.frombuffer(stored, dtype="<f4", count=n, offset=_COUNT)
    terms = stored[_COUNT + 4 * n :].decode("utf-8").split("\n")
    return dict(zip(terms, weights.astype(np.float64).tolist(), strict=True))
