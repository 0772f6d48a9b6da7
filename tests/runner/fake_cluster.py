"""A fake ``Cluster`` and ``Environment`` for runner tests: one in-process key-value store
(:mod:`.fakes`: a real ``KvSession`` over a real ``KvStateMachine``) behind every node,
under Trio's ``MockClock`` (virtual time, autojump), recording every fault call with the
virtual time it was made at.

Knobs (class attributes, so that the CLI can build an environment with no arguments;
tests subclass or monkeypatch them):

- ``FakeEnvironment.faults``: the fault kinds it claims to support;
- ``FakeCluster.hang_while``: the fault methods during which every request hangs (e.g.
  ``{"partition"}``: from ``partition`` until ``heal_network``), to exercise timeouts;
- ``FakeCluster.hang_forever_after``: once this method is called, every request hangs
  for good (the cluster never recovers);
- ``FakeCluster.diverge`` / ``unreadable``: nodes whose snapshot differs / is ``None``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import trio
import trio.testing

from consensus.client.kv import KvSession
from consensus.client.protocol import Consistency
from jepsen_lite.runner.api import FAULT_KINDS, Fault, NodeId, TestSpec, derive_seed

from .fakes import LocalBackend, local_session

T = TypeVar("T")


class GatedBackend(LocalBackend):
    """A :class:`LocalBackend` whose requests hang while ``cluster.hanging()``."""

    def __init__(self, cluster: FakeCluster) -> None:
        super().__init__()
        self.cluster = cluster

    async def propose(self, command: bytes) -> bytes:
        while self.cluster.hanging():
            await trio.sleep(0.05)
        return await super().propose(command)

    async def query(self, query: bytes, *, consistency: Consistency = "linearizable") -> bytes:
        while self.cluster.hanging():
            await trio.sleep(0.05)
        return await super().query(query, consistency=consistency)


class FakeCluster:
    """See the module doc. ``calls`` lists ``(virtual seconds, method, args)``."""

    hang_while: ClassVar[frozenset[str]] = frozenset()
    hang_forever_after: ClassVar[str | None] = None
    diverge: ClassVar[frozenset[NodeId]] = frozenset()
    unreadable: ClassVar[frozenset[NodeId]] = frozenset()
    leader_node: ClassVar[NodeId] = 1

    def __init__(self, nodes: int) -> None:
        self.nodes = tuple(range(1, nodes + 1))
        self.backend = GatedBackend(self)
        self.calls: list[tuple[float, str, tuple[Any, ...]]] = []
        self.killed: set[NodeId] = set()
        self.paused: set[NodeId] = set()
        self.sessions = 0
        self._start = trio.current_time()
        self._hang: set[str] = set()
        self._dead = False

    def now(self) -> float:
        return trio.current_time() - self._start

    def hanging(self) -> bool:
        return self._dead or bool(self._hang)

    def _call(self, name: str, *args: Any) -> None:
        self.calls.append((round(self.now(), 6), name, args))
        if name == self.hang_forever_after:
            self._dead = True
        if name in self.hang_while:
            self._hang.add(name)

    def _undo(self, name: str, *args: Any) -> None:
        self.calls.append((round(self.now(), 6), name, args))
        if name == self.hang_forever_after:
            self._dead = True

    @asynccontextmanager
    async def session(self) -> AsyncIterator[KvSession]:
        self.sessions += 1
        yield local_session(self.backend, now_ms=lambda: int(self.now() * 1000))

    async def leader(self) -> NodeId | None:
        down = self.killed | self.paused
        return None if self.leader_node in down else self.leader_node

    async def partition(self, blocked: frozenset[tuple[NodeId, NodeId]]) -> None:
        self._call("partition", blocked)

    async def heal_network(self) -> None:
        self._hang.discard("partition")
        self._undo("heal_network")

    async def packet(self, fault: Fault | None) -> None:
        if fault is None:
            self._hang.discard("packet")
            self._undo("packet", None)
        else:
            self._call("packet", fault)

    async def kill(self, node: NodeId) -> None:
        assert node not in self.killed and node not in self.paused, f"node {node} already down"
        self.killed.add(node)
        self._call("kill", node)

    async def restart(self, node: NodeId) -> None:
        assert node in self.killed, f"restart of node {node}, which is not killed"
        self.killed.discard(node)
        self._hang.discard("kill")
        self._undo("restart", node)

    async def pause(self, node: NodeId) -> None:
        assert node not in self.killed and node not in self.paused, f"node {node} already down"
        self.paused.add(node)
        self._call("pause", node)

    async def resume(self, node: NodeId) -> None:
        assert node in self.paused, f"resume of node {node}, which is not paused"
        self.paused.discard(node)
        self._hang.discard("pause")
        self._undo("resume", node)

    async def skew_clock(self, node: NodeId, offset_ms: float, rate: float) -> None:
        self._call("skew_clock", node, offset_ms, rate)

    async def reset_clock(self, node: NodeId) -> None:
        self._hang.discard("skew_clock")
        self._undo("reset_clock", node)

    async def disk_fault(self, node: NodeId, fault: Fault) -> None:
        self._call("disk_fault", node, fault.shape)

    async def snapshots(self) -> Mapping[NodeId, bytes | None]:
        snap = self.backend.machine.snapshot()
        out: dict[NodeId, bytes | None] = {}
        for node in self.nodes:
            if node in self.unreadable:
                out[node] = None
            elif node in self.diverge:
                out[node] = snap + b"!"
            else:
                out[node] = snap
        return out


class WatchedCluster(FakeCluster):
    """A fake cluster that exposes ``invariant_violations()`` (``violations``)."""

    violations: ClassVar[tuple[str, ...]] = ()

    def invariant_violations(self) -> tuple[str, ...]:
        return self.violations


class FakeEnvironment:
    """Runs ``main`` on a fresh ``cluster_class`` under a MockClock; keeps the cluster in
    ``last_cluster`` for inspection, writes one node log per node."""

    name: ClassVar[str] = "fake"
    faults: ClassVar[frozenset[str]] = frozenset(FAULT_KINDS)
    cluster_class: ClassVar[type[FakeCluster]] = FakeCluster
    last_cluster: ClassVar[FakeCluster | None] = None

    def run(self, spec: TestSpec, run_dir: str, main: Callable[[Any], Awaitable[T]]) -> T:
        async def body() -> T:
            cluster = self.cluster_class(spec.nodes)
            type(self).last_cluster = cluster
            result = await main(cluster)
            for node in cluster.nodes:
                Path(run_dir, f"node-{node}.log").write_text(f"fake node {node}\n")
            return result

        # Trio shuffles each scheduling batch with a module-level generator: seed it, so
        # the same spec gives the same history (what the sim environment does too)
        scheduler = trio._core._run._r
        saved = scheduler.getstate()
        scheduler.seed(derive_seed(spec.seed, "trio"))
        try:
            return trio.run(body, clock=trio.testing.MockClock(autojump_threshold=0))
        finally:
            scheduler.setstate(saved)
