"""Average-link agglomeration (matching/agglomeration.py), apart from the story rules."""

from __future__ import annotations

from aggregator.matching.agglomeration import AverageLink


def _clusters(link: AverageLink) -> list[list[int]]:
    return sorted(sorted(c.members) for c in link.clusters.values())


def test_pairs_join_while_their_average_link_clears_the_bar() -> None:
    link = AverageLink([], [1, 2, 3, 4])
    for a, b, s in [(1, 2, 0.9), (2, 3, 0.5), (1, 3, 0.1), (3, 4, 0.05)]:
        link.add_edge(a, b, s)
    link.agglomerate(0.3)
    # 1-2 first (0.9); {1,2}-3 averages (0.5 + 0.1) / 2 = 0.3; {1,2,3}-4: 0.05 / 3
    assert _clusters(link) == [[1, 2, 3], [4]]


def test_missing_pairs_count_as_zero() -> None:
    link = AverageLink([], [1, 2, 3])
    link.add_edge(1, 2, 0.9)
    link.add_edge(2, 3, 0.5)  # 1-3 has no edge: {1,2}-3 averages 0.25
    link.agglomerate(0.3)
    assert _clusters(link) == [[1, 2], [3]]


def test_labelled_groups_start_together_and_merge_their_labels() -> None:
    link = AverageLink([("s1", [1, 2]), ("s2", [3])], [4])
    link.add_edge(4, 1, 0.8)
    link.add_edge(4, 2, 0.8)
    link.add_edge(4, 3, 0.7)
    link.add_edge(3, 1, 0.6)
    link.add_edge(3, 2, 0.6)  # {1,2,4}-{3} then averages (0.7 + 0.6 + 0.6) / 3
    link.agglomerate(0.5)
    (cluster,) = link.clusters.values()
    assert sorted(cluster.members) == [1, 2, 3, 4] and cluster.labels == {"s1", "s2"}


def test_ties_go_to_the_lower_cluster_numbers_whatever_the_edge_order() -> None:
    edges = [(1, 2, 0.6), (3, 4, 0.6), (2, 3, 0.6)]
    results = []
    for order in (edges, edges[::-1]):
        link = AverageLink([], [1, 2, 3, 4])
        for a, b, s in order:
            link.add_edge(a, b, s)
        link.agglomerate(0.5)
        results.append(_clusters(link))
    assert results[0] == results[1] == [[1, 2], [3, 4]]


def test_join_and_part() -> None:
    link = AverageLink([], [1, 2, 3])
    link.join(1, 3)
    assert link.members_of(3) == [1, 3]
    key = link.home[1]
    link.part(key, [[1], [3]], [{"s"}, set()], [None, "s"])
    assert _clusters(link) == [[1], [2], [3]] and link.clusters[link.home[3]].split_from == "s"
