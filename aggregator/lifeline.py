"""Worker processes die with the process that started them, even when it is killed (SIGKILL
leaves no chance to clean up): the kernel sends them SIGKILL when their parent ends (Linux's
PR_SET_PDEATHSIG), which also stops a worker stuck in a long regular expression, where no Python
code of its own could run.

Workers are started with the ``spawn`` method, so their parent is the process that needs them
(with ``forkserver`` it was the fork server, which itself stays alive while any worker holds
its pipe, and nothing died).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import multiprocessing.context
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def context() -> multiprocessing.context.BaseContext:
    """The start method for worker processes (see the module docstring)."""
    return multiprocessing.get_context("spawn")


def die_with(parent: int) -> None:
    """Call first thing in a worker: be killed when process ``parent`` ends; exit at once if it
    already has."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent ended before the line above took effect
        os._exit(1)
