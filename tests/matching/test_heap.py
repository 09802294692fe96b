"""The clusterer's large blocks of memory (matching/heap.py)."""

from __future__ import annotations

import platform
import sys

from aggregator.matching import heap


def test_large_blocks_are_mapped_where_the_c_library_is_glibc() -> None:
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert heap.map_large_blocks() is glibc
