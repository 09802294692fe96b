"""Stored term vectors (``article_sketches.terms``): written as bytes, read from bytes or from
the JSON text earlier versions wrote (orjson: the only module that imports it).

The bytes are the term count (uint32), the weights (float32, little-endian) and the terms in
UTF-8, one per line (a term is a word, a stem or a name: never a line break). Against JSON with
weights to 5 decimals, a vector takes a third less room and is written in a fraction of the time:
on the 20,000-article benchmark the clusterer's writes took 0.08 instead of 0.11 ms an article,
and the database grew by 4.7 instead of 5.8 KB an article. float32 keeps weights closer than 5
decimals did (to 1 part in 10^7).
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
