"""The columns ``articles.Articles`` is made of: vectors in blocks, strings in one buffer, and
values numbered once. Pure numpy.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

NONE = -1  # a numbered column's row that names nothing
T = TypeVar("T")
# An article's vector: its term ids and their weights.
Vector = tuple[np.ndarray, np.ndarray]


class Names(Generic[T]):
    """Values (outlets, stories, year sets) numbered in the order they come, so a column holds a
    number for each and every row naming one shares its object."""

    def __init__(self) -> None:
        self.values: list[T] = []
        self._number: dict[T, int] = {}

    def number(self, value: T) -> int:
        found = self._number.get(value)
        if found is None:
            found = self._number[value] = len(self.values)
            self.values.append(value)
        return found

    def find(self, value: T) -> int | None:
        """``value``'s number, None if it has none (without giving it one)."""
        return self._number.get(value)

    def only(self, column: np.ndarray) -> tuple[Names[T], np.ndarray]:
        """The values a ``column`` of numbers (-1: none) names, numbered anew in the order they
        came, and the column renumbered: articles leave, the stories they named need not stay."""
        used = np.unique(column[column != NONE])
        kept: Names[T] = Names()
        for number in used.tolist():
            kept.number(self.values[number])
        renumbered = np.full(len(self.values) + 1, NONE, column.dtype)  # -1 stays -1
        renumbered[used] = np.arange(len(used))
        return kept, renumbered[column]


@dataclass(frozen=True)
class Block:
    """The vectors of consecutive rows: row i's terms and weights lie at ``bounds[i]`` to
    ``bounds[i + 1]``. Where the block names at most 2^16 terms, each term is held as a 16-bit
    number of its place among them (``named``, in id order): half the memory of the term ids,
    which a window holds tens of millions of."""

    bounds: np.ndarray
    codes: np.ndarray  # the terms' places in ``named``; the term ids themselves if it is None
    named: np.ndarray | None
    weights: np.ndarray

    @staticmethod
    def of(vectors: Sequence[Vector]) -> Block:
        lengths = np.fromiter((len(t) for t, _ in vectors), np.int64, len(vectors))
        return Block.coded(
            np.concatenate(([0], np.cumsum(lengths))),
            np.concatenate([t for t, _ in vectors] + [np.zeros(0, np.int32)]),
            np.concatenate([w for _, w in vectors] + [np.zeros(0, np.float32)]),
        )

    @staticmethod
    def coded(bounds: np.ndarray, terms: np.ndarray, weights: np.ndarray) -> Block:
        named, codes = np.unique(terms, return_inverse=True)
        if len(named) > 1 << 16:
            return Block(bounds, terms, None, weights)
        return Block(bounds, codes.astype(np.uint16), named, weights)

    def __len__(self) -> int:
        return len(self.bounds) - 1

    @property
    def term_type(self) -> np.dtype[np.signedinteger]:
        return self.codes.dtype if self.named is None else self.named.dtype

    def terms(self, at: np.ndarray | slice) -> np.ndarray:
        """The term ids at the places ``at``."""
        codes: np.ndarray = self.codes[at]
        return codes if self.named is None else self.named[codes]

    def vector(self, row: int) -> Vector:
        lo, hi = int(self.bounds[row]), int(self.bounds[row + 1])
        return self.terms(slice(lo, hi)), self.weights[lo:hi]

    def lengths(self) -> np.ndarray:
        return np.diff(self.bounds)

    def part(self, keep: np.ndarray) -> Block:
        """The rows ``keep`` (a mask) as a block."""
        lengths = self.lengths()[keep]
        at = spans(self.bounds[:-1][keep], lengths)
        bounds = np.concatenate(([0], np.cumsum(lengths)))
        return Block(bounds, self.codes[at], self.named, self.weights[at])

    def term_ids(self) -> np.ndarray:
        """The distinct term ids the block may name (ascending)."""
        return np.unique(self.codes) if self.named is None else self.named

    def renumbered(self, new_of: np.ndarray) -> Block:
        """The block with each term id ``i`` as ``new_of[i]`` (an order-keeping renumbering: the
        places in ``named`` stay)."""
        if self.named is None:
            return Block(
                self.bounds, new_of[self.codes].astype(self.codes.dtype), None, self.weights
            )
        return Block(
            self.bounds, self.codes, new_of[self.named].astype(self.named.dtype), self.weights
        )

    def joined(self, other: Block) -> Block:
        every = slice(None)
        return Block.coded(
            np.concatenate((self.bounds, other.bounds[1:] + self.bounds[-1])),
            np.concatenate((self.terms(every), other.terms(every))),
            np.concatenate((self.weights, other.weights)),
        )


class Strings:
    """Strings (or None), a row each, one after the other in one buffer (and, if they are
    ``searched``, with a hash of each): thousands of short strings as objects took three times
    the memory of their characters."""

    def __init__(self, searched: bool = False) -> None:
        self._data = bytearray()
        self._ends = np.zeros(0, np.int64)
        self._hashes: np.ndarray | None = np.zeros(0, np.int64) if searched else None
        self._none = np.zeros(0, bool)

    def extend(self, values: Sequence[str | None]) -> None:
        encoded = [b"" if v is None else v.encode("utf-8") for v in values]
        lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
        self._ends = np.concatenate((self._ends, len(self._data) + np.cumsum(lengths)))
        self._data += b"".join(encoded)
        if self._hashes is not None:
            hashes = np.fromiter(map(hash, values), np.int64, len(values))
            self._hashes = np.concatenate((self._hashes, hashes))
        self._none = np.concatenate((self._none, [v is None for v in values]))

    def __getitem__(self, row: int) -> str | None:
        if self._none[row]:
            return None
        start = int(self._ends[row - 1]) if row else 0
        return self._data[start : int(self._ends[row])].decode("utf-8")

    def rows(self, values: Set[str]) -> np.ndarray:
        """The rows holding one of ``values``, in order (of strings ``searched``)."""
        if self._hashes is None:
            raise TypeError("these strings are not searched")
        maybe = np.flatnonzero(np.isin(self._hashes, [hash(v) for v in values]))
        exact = np.fromiter((self[row] in values for row in maybe.tolist()), bool, len(maybe))
        found: np.ndarray = maybe[exact]
        return found

    def where(self, keep: np.ndarray) -> Strings:
        """The rows ``keep`` (a mask)."""
        kept = Strings(searched=self._hashes is not None)
        lengths = np.diff(self._ends, prepend=0)
        data = np.frombuffer(self._data, np.uint8)
        kept._data = bytearray(data[spans(self._ends[keep] - lengths[keep], lengths[keep])])
        del data  # a view: the buffer may not grow while it lives
        kept._ends = np.cumsum(lengths[keep])
        kept._none = self._none[keep]
        if self._hashes is not None:
            kept._hashes = self._hashes[keep]
        return kept


def spans(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions ``starts[i]`` to ``starts[i] + lengths[i]`` of each i, one after the other,
    in one array."""
    total = int(lengths.sum())
    before = np.cumsum(lengths) - lengths
    positions: np.ndarray = np.arange(total) + np.repeat(starts - before, lengths)
    return positions
