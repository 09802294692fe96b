"""A process's resident memory as Linux's /proc/self/status gives it, for the tests and the
memory benchmarks. Not getrusage's ru_maxrss: it never goes down, so an earlier test's peak in
the same process hides the next one's, and a spawned process starts with its parent's."""

from __future__ import annotations


def status(field: str) -> int:
    """A size /proc/self/status gives, in bytes: ``VmRSS`` now, ``VmHWM`` the highest it has
    been (in a new process, its own highest)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def start_peak() -> int:
    """This process's RSS now, in bytes, with the kernel's record of its highest RSS set back
    to it (clear_refs), so that ``peak`` gives what follows."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")
    return status("VmRSS")


def peak() -> int:
    """The highest RSS of this process, in bytes, since ``start_peak``."""
    return status("VmHWM")
