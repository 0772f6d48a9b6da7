"""A simulated cluster for runtime tests: RaftCore + MemoryStorage + SimNetwork + driver.

Everything runs on Trio time, so tests use the ``autojump_clock`` fixture (MockClock with
autojump_threshold=0). Crashing a node cancels its driver and throws away unsynced
storage; restarting rebuilds the core from what storage recovered.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import trio

from consensus.core import ProtocolCore, Role
from consensus.raft import RaftConfig, RaftCore
from consensus.runtime import DriverConfig, ReplicatedLog, open_log
from consensus.runtime.protocols import make_core
from consensus.storage.memory import MemoryStorage
from consensus.storage.paxos_memory import PaxosMemoryStorage
from consensus.transport import Faults, SimNetwork
from consensus.types import Entry, NodeId


class Counter:
    """A state machine that adds the integer in each entry to a total."""

    def __init__(self) -> None:
        self.total = 0
        self.applied: list[int] = []

    def apply(self, entry: Entry) -> bytes:
        self.total += int(entry.data)
        self.applied.append(entry.index)
        return str(self.total).encode()

    def query(self, request: bytes) -> bytes:
        return str(self.total).encode()

    def snapshot(self) -> bytes:
        return str(self.total).encode()

    def restore(self, data: bytes) -> None:
        self.total = int(data)


DRIVER = DriverConfig(tick_s=0.01, sync_in_thread=False, snapshot_entries=0)


class SimCluster:
    def __init__(
        self,
        nursery: trio.Nursery,
        size: int = 3,
        seed: int = 7,
        faults: Faults | None = None,
        driver: DriverConfig = DRIVER,
        raft: RaftConfig | None = None,
        protocol: str = "raft",
        machine: Callable[[], Any] = Counter,
    ) -> None:
        self.protocol = protocol
        self.make_machine = machine
        self.nursery = nursery
        self.ids: tuple[NodeId, ...] = tuple(range(1, size + 1))
        self.seed = seed
        self.network = SimNetwork(seed, faults)
        self.driver_config = driver
        self.raft_config = raft or RaftConfig()
        self.storage: dict[NodeId, Any] = {
            i: MemoryStorage() if protocol == "raft" else PaxosMemoryStorage() for i in self.ids
        }
        self.machines: dict[NodeId, Any] = {}
        self.logs: dict[NodeId, ReplicatedLog] = {}
        self._scopes: dict[NodeId, trio.CancelScope] = {}
        self._restarts = 0
        nursery.start_soon(self.network.run)

    async def start_all(self) -> None:
        for i in self.ids:
            await self.start(i)

    async def start(self, node: NodeId) -> None:
        await self.nursery.start(self._run_node, node)

    async def _run_node(self, node: NodeId, task_status: trio.TaskStatus[None]) -> None:
        storage = self.storage[node]
        recovered = storage.recover()
        self._restarts += 1
        rng = random.Random(self.seed * 1000 + node * 10 + self._restarts)
        core: ProtocolCore[Any]
        if self.protocol == "raft":
            core = RaftCore(node, self.ids, rng, self.raft_config, recovered)
        else:
            core = make_core(self.protocol, node, self.ids, rng, recovered)
        transport = self.network.endpoint(node)
        machine = self.make_machine()
        with trio.CancelScope() as scope:
            self._scopes[node] = scope
            async with open_log(
                core, storage, transport, machine, self.driver_config, snapshot=recovered.snapshot
            ) as log:
                self.machines[node] = machine
                self.logs[node] = log
                task_status.started()
                await trio.sleep_forever()
        await transport.aclose()

    async def crash(self, node: NodeId) -> None:
        self._scopes[node].cancel()
        self.storage[node].crash()
        del self.logs[node]
        await self.network._endpoints[node].aclose()

    def leaders(self) -> list[NodeId]:
        return [i for i, log in self.logs.items() if log.status().role == Role.LEADER.value]

    async def wait_leader(
        self, among: Sequence[NodeId] | None = None, timeout_s: float = 10
    ) -> NodeId:
        among = tuple(among or self.ids)
        with trio.fail_after(timeout_s):
            while True:
                leaders = [n for n in self.leaders() if n in among]
                if len(leaders) == 1:
                    return leaders[0]
                await trio.sleep(0.01)

    async def propose(self, value: int, timeout_s: float = 10) -> bytes:
        """Propose on whichever node is leader now, retrying until it is applied."""
        from consensus.errors import NotLeader, ProposalDropped

        with trio.fail_after(timeout_s):
            while True:
                leader = await self.wait_leader()
                try:
                    return await self.logs[leader].propose(str(value).encode(), timeout_s=1.0)
                except (NotLeader, ProposalDropped):
                    await trio.sleep(0.01)
