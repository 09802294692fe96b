"""Average-link agglomerative clustering over a sparse graph of scored pairs. Generic: items
are ints, clusters may carry labels (the stories they hold); the story rules are in stories.py.

Clusters are numbered in the order they are given; a pair's link is the sum of its edges divided
by the product of the clusters' sizes (pairs without an edge count as zero). The closest pair
merges while its average is at least the threshold, ties to the lower cluster numbers, so the
result depends on the input alone, never on dictionary or arrival order.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class Cluster:
    members: list[int]
    labels: set[str] = field(default_factory=set)  # what it holds (stories), merged with it
    split_from: str | None = None  # a part that keeps no label: the label it left


class AverageLink:
    """Clusters of items, the sum of the edges between each pair of them, and agglomeration."""

    def __init__(self, labelled: Sequence[tuple[str, list[int]]], singles: Sequence[int]) -> None:
        """Clusters for ``labelled`` groups (a label and its items) first, in order, then one
        for each item of ``singles``."""
        self.clusters: dict[int, Cluster] = {}
        self.home: dict[int, int] = {}
        for label, items in labelled:
            c = len(self.clusters)
            self.clusters[c] = Cluster(list(items), {label})
            self.home.update((m, c) for m in items)
        for item in singles:
            self.home[item] = len(self.clusters)
            self.clusters[len(self.clusters)] = Cluster([item])
        self.sums: dict[int, dict[int, float]] = {c: {} for c in self.clusters}

    def add_edge(self, a: int, b: int, s: float) -> None:
        ca, cb = self.home[a], self.home[b]
        if ca == cb:
            return
        self.sums[ca][cb] = self.sums[ca].get(cb, 0.0) + s
        self.sums[cb][ca] = self.sums[ca][cb]

    def join(self, a: int, b: int) -> None:
        """Put items ``a`` and ``b`` in one cluster, whatever their edges."""
        ca, cb = self.home[a], self.home[b]
        if ca != cb:
            self._merge(min(ca, cb), max(ca, cb))

    def _merge(self, a: int, b: int) -> int:
        """Merge cluster b into a; return a."""
        sums = self.sums
        ca, cb = self.clusters[a], self.clusters.pop(b)
        ca.members.extend(cb.members)
        ca.labels |= cb.labels
        for m in cb.members:
            self.home[m] = a
        for c, s in sums.pop(b).items():
            if c == a:
                continue
            sums[a][c] = sums[a].get(c, 0.0) + s
            sums[c][a] = sums[a][c]
            sums[c].pop(b, None)
        sums[a].pop(b, None)
        return a

    def average(self, a: int, b: int) -> float:
        size = len(self.clusters[a].members) * len(self.clusters[b].members)
        return self.sums[a].get(b, 0.0) / size

    def agglomerate(self, threshold: float) -> None:
        """Merge the closest pair of clusters while its average link (missing pairs count as
        zero) is at least ``threshold``; ties go to the lower cluster numbers."""
        heap: list[tuple[float, int, int]] = []
        for a, row in self.sums.items():
            for b in row:
                if a < b and (v := self.average(a, b)) >= threshold:
                    heap.append((-v, a, b))
        heapq.heapify(heap)
        while heap:
            neg, a, b = heapq.heappop(heap)
            if (
                a not in self.clusters
                or b not in self.clusters
                or abs(self.average(a, b) + neg) > 1e-12
            ):
                continue  # a stale entry: one of the pair has merged since
            keep = self._merge(a, b)
            for c in self.sums[keep]:
                v = self.average(keep, c)
                if v >= threshold:
                    heapq.heappush(heap, (-v, min(keep, c), max(keep, c)))

    def agglomerate_again(self, sums: Mapping[tuple[int, int], float], threshold: float) -> None:
        """Agglomerate the clusters as they stand with ``sums`` (cluster pair -> sum of the
        edges between them) in place of the sums kept so far."""
        self.sums = {c: {} for c in self.clusters}
        for (a, b), total in sums.items():
            if total > 0:
                self.sums[a][b] = self.sums[b][a] = total
        self.agglomerate(threshold)

    def part(
        self,
        key: int,
        parts: Sequence[list[int]],
        labels: Sequence[set[str]],
        split_from: Sequence[str | None],
    ) -> None:
        """Replace cluster ``key`` (once agglomerated: the parts keep no sums of edges to other
        clusters) by ``parts`` of its members, with their ``labels`` and, for a part that keeps
        none, the label it left. The first part keeps the number ``key``."""
        self.clusters.pop(key)
        for other in self.sums.pop(key):
            self.sums[other].pop(key, None)
        for i, part in enumerate(parts):
            c = key if i == 0 else max(self.clusters) + 1
            self.clusters[c] = Cluster(list(part), set(labels[i]), split_from[i])
            self.sums[c] = {}
            for m in part:
                self.home[m] = c

    def members_of(self, item: int) -> list[int]:
        return self.clusters[self.home[item]].members
