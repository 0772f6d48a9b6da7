"""Network partition shapes as sets of blocked directed links.

A partition is given to :meth:`jepsen_lite.runner.api.Cluster.partition` as the set of
directed links ``(src, dst)`` on which every message is dropped. The shapes (Jepsen's
``partition-random-node``, ``partition-random-halves``, ``partition-majorities-ring`` and
bridge), all symmetric (a link blocked one way is blocked the other way too):

- ``isolate-one`` / ``isolate-leader``: one node cut off from all others;
- ``halves``: a minority side (``n // 2`` nodes) cut off from the majority side;
- ``majority-ring``: the nodes in a ring, each seeing exactly the nodes within ring
  distance ``d`` (``2d + 1`` nodes including itself, at least a majority): every node sees
  a majority, but no two nodes see the same majority;
- ``bridge``: two sides, and one bridge node that sees both; the sides do not see each
  other (each side plus the bridge is a majority).

How a :class:`~jepsen_lite.runner.api.Fault`'s ``nodes`` encode a shape (resolved by the
schedule, except ``isolate-leader``, whose node is the leader when the fault starts):
``isolate-one``: ``(node,)``; ``halves``: the minority side; ``majority-ring``: every node
in ring order; ``bridge``: ``(bridge, *left, *right)`` with ``len(left) == (n - 1) // 2``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from .api import Fault, NodeId

PARTITION_SHAPES: tuple[str, ...] = (
    "isolate-one",
    "isolate-leader",
    "halves",
    "majority-ring",
    "bridge",
)

Links = frozenset[tuple[NodeId, NodeId]]


def shapes_for(n: int) -> tuple[str, ...]:
    """The shapes that cut something in a cluster of ``n`` nodes: a majority ring needs
    4 nodes (with 3, every node is within ring distance of both others) and a bridge 3;
    one node cannot be partitioned at all."""
    if n < 2:
        return ()
    return tuple(
        shape
        for shape in PARTITION_SHAPES
        if not (shape == "majority-ring" and n < 4) and not (shape == "bridge" and n < 3)
    )


def between_groups(groups: Sequence[Iterable[NodeId]]) -> Links:
    """Every directed link between two nodes of different groups (groups are disjoint)."""
    sets = [frozenset(group) for group in groups]
    blocked: set[tuple[NodeId, NodeId]] = set()
    for i, left in enumerate(sets):
        for j, right in enumerate(sets):
            if i != j:
                blocked.update((a, b) for a in left for b in right)
    return frozenset(blocked)


def ring_distance(n: int) -> int:
    """The ring distance ``d`` a node sees in a majority ring of ``n`` nodes: the least
    ``d`` with ``2d + 1`` at least a majority (``n // 2 + 1``)."""
    majority = n // 2 + 1
    return majority // 2  # 2d + 1 >= majority  <=>  d >= (majority - 1) / 2


def majority_ring(order: Sequence[NodeId]) -> Links:
    """The links blocked in a majority ring over ``order``: those between nodes more
    than :func:`ring_distance` apart along the ring."""
    n = len(order)
    d = ring_distance(n)
    blocked: set[tuple[NodeId, NodeId]] = set()
    for i, a in enumerate(order):
        for j, b in enumerate(order):
            gap = abs(i - j)
            if min(gap, n - gap) > d:
                blocked.add((a, b))
    return frozenset(blocked)


def bridge(bridge_node: NodeId, left: Iterable[NodeId], right: Iterable[NodeId]) -> Links:
    """The links blocked in a bridge: ``left`` and ``right`` cannot talk, ``bridge_node``
    talks to both."""
    return between_groups([list(left), list(right)])


def blocked_links(fault: Fault, nodes: Sequence[NodeId], leader: NodeId | None = None) -> Links:
    """The blocked directed links of partition ``fault`` over the cluster's ``nodes``.

    ``leader`` is the node to isolate for ``isolate-leader`` (required for it). Raises
    ``ValueError`` for a shape this module does not know or ``nodes`` that do not fit it.
    """
    everyone = list(nodes)
    shape = fault.shape
    if shape in ("isolate-one", "isolate-leader"):
        target = leader if shape == "isolate-leader" else (fault.nodes[0] if fault.nodes else None)
        if target is None or target not in everyone:
            raise ValueError(f"partition {shape}: no node to isolate among {everyone}")
        return between_groups([[target], [x for x in everyone if x != target]])
    if shape == "halves":
        side = set(fault.nodes)
        return between_groups([sorted(side), [x for x in everyone if x not in side]])
    if shape == "majority-ring":
        if sorted(fault.nodes) != sorted(everyone):
            raise ValueError("partition majority-ring: nodes must list every node in ring order")
        return majority_ring(fault.nodes)
    if shape == "bridge":
        if sorted(fault.nodes) != sorted(everyone):
            raise ValueError("partition bridge: nodes must be (bridge, *left, *right)")
        size = (len(everyone) - 1) // 2
        middle, rest = fault.nodes[0], fault.nodes[1:]
        return bridge(middle, rest[:size], rest[size:])
    raise ValueError(
        f"unknown partition shape {shape!r}: choose one of {', '.join(PARTITION_SHAPES)}"
    )


def plan_partition(shape: str, nodes: Sequence[NodeId], rng: random.Random) -> tuple[NodeId, ...]:
    """The ``Fault.nodes`` of a partition of ``shape``, drawn from ``rng`` (``()`` for
    ``isolate-leader``, resolved when it starts)."""
    order = list(nodes)
    rng.shuffle(order)
    if shape == "isolate-one":
        return (order[0],)
    if shape == "isolate-leader":
        return ()
    if shape == "halves":
        return tuple(sorted(order[: len(order) // 2]))
    if shape in ("majority-ring", "bridge"):
        return tuple(order)
    raise ValueError(
        f"unknown partition shape {shape!r}: choose one of {', '.join(PARTITION_SHAPES)}"
    )


def links_json(links: Links) -> list[list[NodeId]]:
    """Blocked links as sorted ``[src, dst]`` pairs (for history and results files)."""
    return [[a, b] for a, b in sorted(links)]
