"""Bounded decoding of Content-Encoding: bombs stop at the cap."""

from __future__ import annotations

import gzip
import zlib

import pytest

from aggregator.errors import FetchError
from aggregator.ingest.decode import BoundedDecoder


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
