"""Bounded decoding of Content-Encoding. Pure: bytes in, bytes out, never more than the cap.

A cap checked per decoded chunk overshoots on compression bombs (one 1 MB gzip chunk can inflate
to 1 GB); here every decompress call is limited to what is left of the cap.
"""

from __future__ import annotations

import zlib

from aggregator.errors import FetchError

SUPPORTED = ("gzip", "x-gzip", "deflate", "identity", "")


class BoundedDecoder:
    def __init__(self, encoding: str, max_bytes: int) -> None:
        enc = encoding.strip().lower()
        if enc not in SUPPORTED:
            raise FetchError("bad_encoding", f"unsupported Content-Encoding {encoding!r}")
        self.max_bytes = max_bytes
        self.total = 0
        self._raw_deflate = False
        self._z: zlib._Decompress | None
        if enc in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            self._z = zlib.decompressobj()
            self._deflate_started = False
        else:
            self._z = None
        self.parts: list[bytes] = []

    def _too_large(self) -> FetchError:
        return FetchError("too_large", f"body larger than {self.max_bytes} bytes once decoded")

    def feed(self, chunk: bytes) -> None:
        if self._z is None:
            self.total += len(chunk)
            if self.total > self.max_bytes:
                raise self._too_large()
            self.parts.append(chunk)
            return
        data = chunk
        while data:
            room = self.max_bytes - self.total + 1
            try:
                out = self._z.decompress(data, room)
            except zlib.error as e:
                if not self.total and not self._raw_deflate and self._is_deflate():
                    # Some servers send raw deflate without the zlib header.
                    self._raw_deflate = True
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise FetchError("bad_encoding", f"corrupt compressed body: {e}") from e
            self.total += len(out)
            if self.total > self.max_bytes:
                raise self._too_large()
            self.parts.append(out)
            data = self._z.unconsumed_tail
            if self._z.eof:
                break

    def _is_deflate(self) -> bool:
        return hasattr(self, "_deflate_started")

    def finish(self) -> bytes:
        if self._z is not None and not self._z.eof:
            try:
                tail = self._z.flush(self.max_bytes - self.total + 1)
            except zlib.error as e:
                raise FetchError("bad_encoding", f"corrupt compressed body: {e}") from e
            self.total += len(tail)
            if self.total > self.max_bytes:
                raise self._too_large()
            self.parts.append(tail)
        return b"".join(self.parts)
