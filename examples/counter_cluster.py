"""A 3-node Raft cluster in one Trio program, replicating a counter.

Run it::

    python examples/counter_cluster.py

Each node is a protocol core (``RaftCore``) driven by the runtime over an in-memory
network (``SimNetwork``), with its own in-memory storage and its own ``Counter`` state
machine. The program proposes increments on whichever node leads, reads the counter back
linearizably from every node, crashes the leader, and keeps counting on the new one.
"""

from __future__ import annotations

import random

import trio

from consensus.errors import NotLeader, ProposalDropped
from consensus.raft import RaftCore
from consensus.runtime import DriverConfig, ReplicatedLog, open_log
from consensus.storage.memory import MemoryStorage
from consensus.transport import SimNetwork
from consensus.types import Entry

VOTERS = (1, 2, 3)


class Counter:
    """The state machine: each command is a decimal increment; the result is the total."""

    def __init__(self) -> None:
        self.value = 0

    def apply(self, entry: Entry) -> bytes:
        self.value += int(entry.data)
        return str(self.value).encode()

    def query(self, request: bytes) -> bytes:
        return str(self.value).encode()

    def snapshot(self) -> bytes:
        return str(self.value).encode()

    def restore(self, data: bytes) -> None:
        self.value = int(data)


async def run_node(
    node: int,
    network: SimNetwork,
    logs: dict[int, ReplicatedLog],
    task_status: trio.TaskStatus[trio.CancelScope] = trio.TASK_STATUS_IGNORED,
) -> None:
    core = RaftCore(node, VOTERS, random.Random(node))
    # MemoryStorage syncs instantly, so no worker thread is needed for fsync
    config = DriverConfig(tick_s=0.01, sync_in_thread=False)
    with trio.CancelScope() as scope:
        async with open_log(
            core, MemoryStorage(), network.endpoint(node), Counter(), config
        ) as log:
            logs[node] = log
            task_status.started(scope)
            await trio.sleep_forever()


async def leader_of(logs: dict[int, ReplicatedLog]) -> int:
    while True:
        leaders = [n for n, log in logs.items() if log.status().role == "leader"]
        if len(leaders) == 1:
            return leaders[0]
        await trio.sleep(0.01)


async def increment(logs: dict[int, ReplicatedLog], by: int) -> int:
    """Propose on the current leader, retrying across leader changes."""
    while True:
        node = await leader_of(logs)
        try:
            return int(await logs[node].propose(str(by).encode(), timeout_s=1.0))
        except (NotLeader, ProposalDropped):
            await trio.sleep(0.01)


async def main(rounds: int = 5) -> int:
    network = SimNetwork(seed=42)
    logs: dict[int, ReplicatedLog] = {}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(network.run)
        scopes = {n: await nursery.start(run_node, n, network, logs) for n in VOTERS}
        for _ in range(rounds):
            total = await increment(logs, 1)
        print(
            f"counter is {total} after {rounds} increments (leader: node {await leader_of(logs)})"
        )
        for node, log in sorted(logs.items()):
            print(f"  node {node} reads {int(await log.query(b''))} (linearizable read)")
        old = await leader_of(logs)
        scopes[old].cancel()  # crash the leader
        del logs[old]
        total = await increment(logs, 10)
        print(f"node {old} crashed; node {await leader_of(logs)} leads; counter is {total}")
        nursery.cancel_scope.cancel()
    return total


if __name__ == "__main__":
    trio.run(main)
