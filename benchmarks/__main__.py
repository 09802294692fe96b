"""Run every stage's benchmark and print one table: figure, reference, ratio, target."""

from __future__ import annotations

import sys

from .common import Row


def main() -> int:
    from . import bench_build, bench_cluster, bench_memory, bench_poll, bench_postgres

    stages = [bench_poll.bench_not_modified, bench_poll.bench_first_poll, bench_poll.bench_busy_host,
              bench_cluster.bench_throughput, bench_cluster.bench_scaling,
              bench_build.bench_build, bench_postgres.bench_pollers,
              bench_postgres.bench_busy_host, bench_postgres.bench_cluster, bench_postgres.bench_copy,
              bench_postgres.bench_window, bench_memory.bench_window, bench_memory.bench_feeds]
    only = sys.argv[1:]
    rows: list[Row] = []
    for fn in stages:
        if only and not any(o in fn.__module__ + "." + fn.__name__ for o in only):
            continue
        print(f"running {fn.__module__.split('.')[-1]}.{fn.__name__} ...", file=sys.stderr, flush=True)
        found = fn()
        rows.extend(found if isinstance(found, list) else [found])
    w = max(len(r.stage) for r in rows)
    print(f"{'stage':<{w}}  {'figure':>18}  {'reference (same run)':<40}  {'ratio':>7}  target")
    for r in rows:
        print(f"{r.stage:<{w}}  {r.figure:>18}  {r.reference:<40}  {r.ratio:>6.2f}x  "
              f"{r.target} {'ok' if r.ok else 'MISSED'}")
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
