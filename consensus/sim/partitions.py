"""Partition shapes: which directed links a network partition cuts.

A partition is a set of directed links ``(src, dst)`` that drop every message while the
partition lasts. Symmetric shapes cut both directions; asymmetric ones cut one.

- ``split``: the nodes fall into two random non-empty groups that cannot talk.
- ``isolate``: one node is cut off from everyone (both directions).
- ``bridge``: two halves that cannot talk, and one node that talks to both (each half
  plus the bridge may be a majority: two leaders may think they have quorum support).
- ``ring``: nodes on a random ring, each talking only to its nearest neighbours: every
  node sees a majority, but no two see the same one (Jepsen's majorities ring).
- ``one-way``: two random groups; messages from the first to the second are dropped,
  the reverse direction works.
- ``deaf`` / ``mute``: one node receives nothing / sends nothing.
- ``flaky``: every directed link is cut independently with probability 1/3.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import attrs

from ..quorum import majority
from ..types import NodeId

Link = tuple[NodeId, NodeId]


@attrs.frozen(slots=True)
class Partition:
    """A named shape and the directed links it cuts, sorted."""

    shape: str
    cut: tuple[Link, ...]

    def describe(self) -> str:
        links = " ".join(f"{a}->{b}" for a, b in self.cut)
        return f"{self.shape} [{links}]"


def _between(a: Sequence[NodeId], b: Sequence[NodeId], both: bool = True) -> set[Link]:
    cut = {(x, y) for x in a for y in b}
    if both:
        cut |= {(y, x) for x in a for y in b}
    return cut


def _two_groups(rng: random.Random, nodes: Sequence[NodeId]) -> tuple[list[NodeId], list[NodeId]]:
    order = list(nodes)
    rng.shuffle(order)
    at = rng.randrange(1, len(order))
    return order[:at], order[at:]


def split(rng: random.Random, nodes: Sequence[NodeId]) -> set[Link]:
    a, b = _two_groups(rng, nodes)
    return _between(a, b)


def isolate(rng: random.Random, nodes: Sequence[NodeId]) -> set[Link]:
    x = nodes[rng.randrange(len(nodes))]
    return _between([x], [n for n in nodes if n != x])


def bridge(rng: random.Random, nodes: Sequence[NodeId]) -> set[Link]:
    order = list(nodes)
    rng.shuffle(order)
    rest = order[1:]  # order[0] is the bridge
    half = len(rest) // 2
    return _between(rest[:half], rest[half:])


def ring(rng: random.Random, nodes: Sequence[NodeId]) -> set[Link]:
    order = list(nodes)
    rng.shuffle(order)
    n = len(order)
    reach = majority(n) // 2  # neighbours on each side: each node sees a majority
    cut: set[Link] = set()
    for i, x in enumerate(order):
        for j, y in enumerate(order):
            distance = min((i - j) % n, (j - i) % n)
            if distance > reach:
                cut.add((x, y))
    return cut


def one_way(rng: random.Random, nodes: Sequence[NodeId]) -> set[Link]:
    a, b = _two_groups(rng, nodes)
    return _between(a, b, both=False)


def deaf(rng: random.Random, nodes: Sequence[NodeId]) -> set[Link]:
    x = nodes[rng.randrange(len(nodes))]
    return {(n, x) for n in nodes if n != x}


def mute(rng: random.Random, nodes: Sequence[NodeId]) -> set[Link]:
    x = nodes[rng.randrange(len(nodes))]
    return {(x, n) for n in nodes if n != x}


def flaky(rng: random.Random, nodes: Sequence[NodeId]) -> set[Link]:
    return {(x, y) for x in nodes for y in nodes if x != y and rng.random() < 1 / 3}


SHAPES: dict[str, Callable[[random.Random, Sequence[NodeId]], set[Link]]] = {
    "split": split,
    "isolate": isolate,
    "bridge": bridge,
    "ring": ring,
    "one-way": one_way,
    "deaf": deaf,
    "mute": mute,
    "flaky": flaky,
}


def draw_partition(rng: random.Random, nodes: Sequence[NodeId]) -> Partition:
    """A partition of a random shape over ``nodes`` (at least two of them)."""
    if len(nodes) < 2:
        raise ValueError(f"a partition needs at least two nodes, got {len(nodes)}")
    names = sorted(SHAPES)
    shape = names[rng.randrange(len(names))]
    return Partition(shape, tuple(sorted(SHAPES[shape](rng, sorted(nodes)))))
