"""A dependency graph of transactions with typed edges, and the cycle searches over it.

Edges (Adya's direct dependencies, plus real time):

- ``ww`` (write-write): T1 installed a version of a key that T2's version directly
  follows;
- ``wr`` (write-read): T2 read the version T1 installed;
- ``rw`` (read-write, an anti-dependency): T1 read a version that T2's write directly
  followed;
- ``rt`` (real time): T1 completed before T2 was invoked.

Each edge keeps the first reason it was added for, so that a cycle can be explained step
by step. Searches are restricted to edge kinds: :meth:`DepGraph.components` gives the
strongly connected components (Tarjan's algorithm, iterative), and
:meth:`DepGraph.cycle_through` the shortest cycle that uses one given edge (breadth-first
search back from its head to its tail), so every cycle reported is minimal among those
through that edge.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator

import attrs

WW, WR, RW, RT = "ww", "wr", "rw", "rt"
EDGE_KINDS = (WW, WR, RW, RT)

Why = str | Callable[[], str]
"""An edge's reason, or a function that writes it (only called for edges that end up in
a reported cycle, so a large history pays nothing for the text)."""


def _said(why: Why) -> str:
    return why if isinstance(why, str) else why()


@attrs.frozen(slots=True)
class Step:
    """One edge of a cycle: ``src`` precedes ``dst`` because of ``kind`` (``why``)."""

    src: int
    dst: int
    kind: str
    why: str


class DepGraph:
    """Transactions (by id) and typed edges between them."""

    __slots__ = ("_edges", "_out", "_why")

    def __init__(self) -> None:
        self._out: dict[int, dict[int, set[str]]] = {}
        self._why: dict[tuple[int, int, str], Why] = {}
        self._edges = 0

    def add_node(self, node: int) -> None:
        self._out.setdefault(node, {})

    def add(self, src: int, dst: int, kind: str, why: Why) -> None:
        """Add ``src -> dst`` of ``kind`` (a no-op for a self-edge); the first ``why`` of
        each (src, dst, kind) is kept."""
        if src == dst:
            return
        kinds = self._out.setdefault(src, {}).setdefault(dst, set())
        self._out.setdefault(dst, {})
        if kind not in kinds:
            kinds.add(kind)
            self._why[(src, dst, kind)] = why
            self._edges += 1

    def __len__(self) -> int:
        return self._edges

    def nodes(self) -> Iterable[int]:
        return self._out.keys()

    def edges(self, kinds: frozenset[str], within: set[int] | None = None) -> Iterator[Step]:
        """Every edge of ``kinds`` (both ends in ``within`` when given), in node order."""
        for src in sorted(self._out if within is None else within):
            for dst, have in sorted(self._out.get(src, {}).items()):
                if within is not None and dst not in within:
                    continue
                for kind in EDGE_KINDS:
                    if kind in have and kind in kinds:
                        yield Step(src, dst, kind, _said(self._why[(src, dst, kind)]))

    def _successors(self, node: int, kinds: frozenset[str]) -> Iterator[int]:
        for dst, have in self._out.get(node, {}).items():
            if not have.isdisjoint(kinds):
                yield dst

    def components(self, kinds: frozenset[str]) -> list[set[int]]:
        """The strongly connected components of more than one node, over ``kinds``."""
        index: dict[int, int] = {}
        low: dict[int, int] = {}
        on_stack: set[int] = set()
        stack: list[int] = []
        found: list[set[int]] = []
        counter = 0
        for root in sorted(self._out):
            if root in index:
                continue
            work: list[tuple[int, Iterator[int]]] = [(root, self._successors(root, kinds))]
            index[root] = low[root] = counter
            counter += 1
            stack.append(root)
            on_stack.add(root)
            while work:
                node, successors = work[-1]
                advanced = False
                for nxt in successors:
                    if nxt not in index:
                        index[nxt] = low[nxt] = counter
                        counter += 1
                        stack.append(nxt)
                        on_stack.add(nxt)
                        work.append((nxt, self._successors(nxt, kinds)))
                        advanced = True
                        break
                    if nxt in on_stack:
                        low[node] = min(low[node], index[nxt])
                if advanced:
                    continue
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(component)
        return found

    def cycle_through(
        self, edge: Step, kinds: frozenset[str], within: set[int]
    ) -> list[Step] | None:
        """The shortest cycle that starts with ``edge`` and returns from its ``dst`` to
        its ``src`` over edges of ``kinds`` inside ``within``; None if there is none."""
        start, goal = edge.dst, edge.src
        parent: dict[int, int] = {start: start}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            if node == goal:
                break
            for nxt in sorted(self._successors(node, kinds)):
                if nxt in within and nxt not in parent:
                    parent[nxt] = node
                    queue.append(nxt)
        if goal not in parent:
            return None
        path = [goal]
        while path[-1] != start:
            path.append(parent[path[-1]])
        path.reverse()  # start ... goal
        steps = [edge]
        for src, dst in itertools.pairwise(path):
            steps.append(self._step(src, dst, kinds))
        return steps

    def _step(self, src: int, dst: int, kinds: frozenset[str]) -> Step:
        have = self._out[src][dst]
        kind = next(k for k in EDGE_KINDS if k in have and k in kinds)
        return Step(src, dst, kind, _said(self._why[(src, dst, kind)]))
