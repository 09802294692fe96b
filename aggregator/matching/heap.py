"""Large blocks of memory mapped on their own, so that freeing one gives its memory back.

glibc's malloc puts a block below its mmap threshold in the heap, and raises the threshold to
the size of each mapped block that is freed. The clusterer makes and frees arrays of a few
megabytes all the time (a batch's scores and gathered vectors, an index segment rebuilt, a
column grown): once the threshold has risen past them they land in the heap, and the holes they
leave between the window's long-lived arrays stay the process's memory. A fixed threshold keeps
every large block mapped (docs/tuning.md, "LARGE_BLOCK"). Elsewhere than glibc, nothing changes.
"""

from __future__ import annotations

import ctypes
import sys

# Blocks of at least this many bytes are mapped on their own, and unmapped when freed.
LARGE_BLOCK = 512 * 1024
# mallopt's parameter for the mmap threshold, in glibc's malloc.h.
_M_MMAP_THRESHOLD = -3


def map_large_blocks() -> bool:
    """Fix glibc's mmap threshold at LARGE_BLOCK for this process; whether it could (only
    glibc on Linux has this mallopt parameter)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - glibc has it, musl and others do not
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK))
