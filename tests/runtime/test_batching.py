"""Batching on the write path: ``RaftCore.propose_batch`` against one ``propose`` per
entry, and the driver handing every waiting proposal to the core at once."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing

from consensus.core import Role
from consensus.errors import InvariantViolation, NotLeader, ProposalDropped
from consensus.messages import AppendEntries, Message
from consensus.raft import RaftConfig, RaftCore
from consensus.runtime.driver import Driver
from consensus.runtime.waiters import Waiter
from consensus.storage.memory import MemoryStorage
from consensus.types import Entry

from .harness import SimCluster


class _Cluster:
    """Three Raft cores on a lossless in-order link; ``counts`` the messages sent."""

    def __init__(self, config: RaftConfig | None = None) -> None:
        ids = (1, 2, 3)
        self.cores = {i: RaftCore(i, ids, random.Random(i), config) for i in ids}
        self.storages = {i: MemoryStorage() for i in ids}
        self.applied: dict[int, list[Entry]] = {i: [] for i in ids}
        self.sent: list[Message] = []
        self.inflight: list[Message] = []

    def process(self) -> None:
        for i, core in self.cores.items():
            while core.has_ready():
                rd = core.ready()
                self.inflight.extend(rd.early_messages)
                self.storages[i].persist(rd.hard_state, rd.entries, rd.snapshot)
                self.inflight.extend(rd.messages)
                self.applied[i].extend(rd.committed)
                self.sent.extend(rd.early_messages)
                self.sent.extend(rd.messages)
                core.advance(rd)

    def stabilize(self) -> None:
        for _ in range(1000):
            self.process()
            if not self.inflight:
                return
            batch, self.inflight = self.inflight, []
            for message in batch:
                self.cores[message.dst].step(message)
        raise AssertionError("not stable")

    def elect_1(self) -> RaftCore:
        leader = self.cores[1]
        while leader.role is not Role.LEADER:
            leader.tick()
            self.stabilize()
        self.stabilize()
        return leader


def test_propose_batch_logs_and_commits_like_one_propose_per_entry() -> None:
    datas = [b"cmd-%d" % i for i in range(40)]
    one_by_one, batched = _Cluster(), _Cluster()
    leader = one_by_one.elect_1()
    one_by_one.sent.clear()
    tickets = [leader.propose(d) for d in datas]
    one_by_one.stabilize()
    leader_b = batched.elect_1()
    batched.sent.clear()
    assert leader_b.propose_batch(datas) == tickets
    batched.stabilize()
    for i in (1, 2, 3):
        assert batched.cores[i].log.entries == one_by_one.cores[i].log.entries
        assert batched.applied[i] == one_by_one.applied[i]
    assert leader_b.log.committed == leader.log.committed == tickets[-1].index
    appends = [m for m in batched.sent if isinstance(m, AppendEntries) and m.entries]
    # one AppendEntries per follower carries all 40 entries (instead of 40 each)
    assert len(appends) == 2 and all(len(m.entries) == 40 for m in appends)
    assert len([m for m in one_by_one.sent if isinstance(m, AppendEntries)]) >= 80


def test_propose_batch_takes_the_prefix_that_fits_then_refuses() -> None:
    cluster = _Cluster(RaftConfig(max_uncommitted_entries=5))
    leader = cluster.elect_1()
    tickets = leader.propose_batch([b"a", b"b", b"c", b"d", b"e", b"f", b"g"])
    assert len(tickets) == 5  # the leader's no-op is committed: 5 fit
    with pytest.raises(ProposalDropped, match="5 entries await commit"):
        leader.propose_batch([b"f", b"g"])
    assert leader.propose_batch([]) == []
    follower = cluster.cores[2]
    with pytest.raises(NotLeader, match="leader is probably node 1"):
        follower.propose_batch([b"x"])


def test_propose_batch_respects_entries_per_message() -> None:
    cluster = _Cluster(RaftConfig(max_entries_per_msg=16))
    leader = cluster.elect_1()
    cluster.sent.clear()
    leader.propose_batch([b"x"] * 40)
    cluster.process()
    appends = [m for m in cluster.sent if isinstance(m, AppendEntries) and m.dst == 2]
    assert [len(m.entries) for m in appends] == [16, 16, 8]


async def test_driver_hands_concurrent_proposals_over_in_few_batches(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery)
        await cluster.start_all()
        leader = await cluster.wait_leader()
        await cluster.propose(0)
        log = cluster.logs[leader]
        core = log.driver.core
        assert isinstance(core, RaftCore)
        calls = 0
        original = core.propose_batch

        def counting(datas: list[bytes]) -> list[object]:
            nonlocal calls
            calls += 1
            return list(original(datas))

        log.driver._propose_batch = counting  # type: ignore[assignment]
        async with trio.open_nursery() as proposers:
            for _ in range(100):
                proposers.start_soon(log.propose, b"1")
        assert cluster.machines[leader].total == 100
        assert calls <= 5, f"{calls} hand-overs for 100 concurrent proposals"
        nursery.cancel_scope.cancel()


async def test_proposal_refused_at_hand_over_fails_its_resolver(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery)
        await cluster.start_all()
        leader = await cluster.wait_leader()
        await cluster.propose(0)
        driver = cluster.logs[leader].driver
        waiter: Waiter[bytes] = Waiter()
        driver.propose_nowait(b"1", waiter)  # taken: this node leads right now
        target = next(i for i in cluster.ids if i != leader)
        driver.start_transfer(target)  # the core refuses proposals during a transfer
        with pytest.raises(ProposalDropped, match="leadership transfer to node"):
            await waiter.wait()
        nursery.cancel_scope.cancel()


async def test_core_failure_while_stepping_a_delivery_stops_the_node(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Messages are stepped in the transport's delivery callback; a core that raises
    there (a bug) must stop the node, not vanish into the transport's task (the TCP
    transport logs and drops a connection whose task fails)."""
    drivers: list[Driver] = []
    with pytest.raises(BaseExceptionGroup) as caught:
        async with trio.open_nursery() as nursery:
            cluster = SimCluster(nursery)
            await cluster.start_all()
            leader = await cluster.wait_leader()
            follower = next(i for i in cluster.ids if i != leader)
            drivers.append(cluster.logs[follower].driver)
            core = drivers[0].core
            original = core.step

            def broken_step(message: Message) -> None:
                if isinstance(message, AppendEntries) and message.entries:
                    raise InvariantViolation("core bug while stepping")
                original(message)

            core.step = broken_step  # type: ignore[method-assign]
            await cluster.propose(1)
            await trio.sleep(1)
    assert caught.value.subgroup(InvariantViolation) is not None
    # caught in the delivery callback, raised again by the Ready loop
    assert isinstance(drivers[0]._failure, InvariantViolation)
