"""Benchmarks: every stage against a reference measured in the same run. `python -m benchmarks`.

The test suite's helpers are theirs too (a throwaway PostgreSQL server, a process's resident
memory): tests/ is put on the import path here, for every benchmark module."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
