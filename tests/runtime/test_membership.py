"""Membership changes through the replicated log (simulated network, Trio time).

Add a learner, let it catch up, promote it, remove an old voter (the leader too), restart
nodes and check the configuration comes back from their storage; refusals."""

from __future__ import annotations

import attrs
import pytest
import trio

from consensus.errors import NotLeader, ProposalDropped
from consensus.membership import ChangeKind, ConfChange, Membership, MembershipError
from consensus.runtime import ReplicatedLog
from consensus.runtime.errors import MembershipUnsupported
from consensus.storage.memory import MemoryStorage
from consensus.storage.paxos_memory import PaxosMemoryStorage
from consensus.types import NodeId

from .harness import DRIVER, Counter, SimCluster


class MemberCluster(SimCluster):
    """SimCluster whose nodes start from the first ``initial`` voters, so that more
    nodes can be started as joiners (built with the cluster's voters, not members)."""

    def add_node(self, node: NodeId) -> None:
        """Storage for a joiner: the harness starts it, like every node, with the
        cluster's first voters (``ids``), so it is not a member until added."""
        self.storage[node] = MemoryStorage() if self.protocol == "raft" else PaxosMemoryStorage()

    async def change(self, change: ConfChange, timeout_s: float = 10) -> Membership:
        """Propose ``change`` on the leader, retrying while it is not ready for it."""
        with trio.fail_after(timeout_s):
            while True:
                leader = await self.wait_leader(among=list(self.logs))
                try:
                    return await self.logs[leader].change_membership(change, timeout_s=2.0)
                except (NotLeader, ProposalDropped):
                    pass
                except MembershipError as exc:
                    if "yet" not in str(exc) and "behind" not in str(exc):
                        raise
                await trio.sleep(0.05)


def _voters(log: ReplicatedLog) -> tuple[NodeId, ...]:
    return log.membership().voters


def _paxos_reconfigurable() -> bool:
    from consensus.paxos import PaxosCore

    return callable(getattr(PaxosCore, "propose_change", None))


PROTOCOLS = [
    "raft",
    pytest.param(
        "multipaxos",
        marks=pytest.mark.skipif(
            not _paxos_reconfigurable(), reason="PaxosCore has no membership yet"
        ),
    ),
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_add_promote_remove_keeps_writes_working(
    autojump_clock: trio.abc.Clock, protocol: str
) -> None:
    async with trio.open_nursery() as nursery:
        c = MemberCluster(nursery, protocol=protocol)
        await c.start_all()
        await c.propose(1)
        c.add_node(4)
        await c.start(4)
        assert not c.logs[4].membership().is_member(4)  # a joiner, passive
        m = await c.change(ConfChange(ChangeKind.ADD_LEARNER, 4))
        assert m.learners == (4,) and m.voters == (1, 2, 3)
        await c.propose(2)
        with trio.fail_after(5):  # the learner receives the log
            while c.machines[4].total != 3:
                await trio.sleep(0.01)
        m = await c.change(ConfChange(ChangeKind.PROMOTE, 4))
        assert m.voters == (1, 2, 3, 4) and m.learners == ()
        m = await c.change(ConfChange(ChangeKind.REMOVE, 1))
        assert m.voters == (2, 3, 4)
        await c.propose(3)
        with trio.fail_after(5):
            while not all(c.machines[n].total == 6 for n in (2, 3, 4)):
                await trio.sleep(0.01)
        for n in (2, 3, 4):
            assert c.logs[n].applied_membership() == m
        status = c.logs[await c.wait_leader(among=[2, 3, 4])].status()
        assert status.membership == m
        assert [n for n, _ in status.progress] == [2, 3, 4]
        nursery.cancel_scope.cancel()


async def test_remove_the_leader(autojump_clock: trio.abc.Clock) -> None:
    async with trio.open_nursery() as nursery:
        c = MemberCluster(nursery)
        await c.start_all()
        await c.propose(1)
        leader = await c.wait_leader()
        m = await c.change(ConfChange(ChangeKind.REMOVE, leader))
        assert leader not in m.members and len(m.voters) == 2
        rest = [n for n in c.ids if n != leader]
        new = await c.wait_leader(among=rest)
        assert new != leader
        with trio.fail_after(10):
            while True:
                try:
                    await c.logs[new].propose(b"5", timeout_s=1.0)
                    break
                except (NotLeader, ProposalDropped):
                    new = await c.wait_leader(among=rest)
        assert c.logs[leader].status().role != "leader"
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_restart_recovers_membership(autojump_clock: trio.abc.Clock, protocol: str) -> None:
    async with trio.open_nursery() as nursery:
        c = MemberCluster(nursery, protocol=protocol)
        await c.start_all()
        await c.propose(1)
        c.add_node(4)
        await c.start(4)
        await c.change(ConfChange(ChangeKind.ADD_LEARNER, 4, "127.0.0.1:9"))
        m = await c.change(ConfChange(ChangeKind.PROMOTE, 4))
        await c.propose(2)
        for n in (1, 2, 3, 4):
            await c.crash(n)
        for n in (1, 2, 3, 4):
            await c.start(n)
        for n in (1, 2, 3, 4):
            assert c.logs[n].membership() == m
            assert m.address(4) == "127.0.0.1:9"
        assert (await c.propose(4)) == b"7"
        nursery.cancel_scope.cancel()


async def test_snapshots_carry_the_configuration(autojump_clock: trio.abc.Clock) -> None:
    driver = attrs.evolve(DRIVER, snapshot_entries=5)
    async with trio.open_nursery() as nursery:
        c = MemberCluster(nursery, driver=driver)
        await c.start_all()
        await c.propose(1)
        m = await c.change(ConfChange(ChangeKind.ADD_LEARNER, 4, "127.0.0.1:9"))
        for _ in range(12):  # past two snapshots: the CONFIG entry is compacted away
            await c.propose(1)
        leader = await c.wait_leader()
        snapshot = c.storage[leader].snapshot()
        assert snapshot is not None and snapshot.meta.index > 3
        assert (snapshot.meta.learners, snapshot.meta.addresses) == ((4,), ((4, "127.0.0.1:9"),))
        c.add_node(4)
        await c.start(4)  # the learner catches up from a snapshot
        with trio.fail_after(5):
            while c.machines[4].total != 13:
                await trio.sleep(0.01)
        assert c.logs[4].applied_membership() == m
        for n in (1, 2, 3, 4):
            await c.crash(n)
        for n in (1, 2, 3, 4):
            await c.start(n)
            assert c.logs[n].membership() == m
        nursery.cancel_scope.cancel()


async def test_refusals(autojump_clock: trio.abc.Clock) -> None:
    async with trio.open_nursery() as nursery:
        c = MemberCluster(nursery)
        await c.start_all()
        await c.propose(1)
        leader = await c.wait_leader()
        follower = next(n for n in c.ids if n != leader)
        with pytest.raises(NotLeader):
            await c.logs[follower].change_membership(ConfChange(ChangeKind.ADD_LEARNER, 9))
        with pytest.raises(MembershipError, match="already a voter"):
            await c.logs[leader].change_membership(ConfChange(ChangeKind.PROMOTE, 2))
        with pytest.raises(MembershipError, match="not a member"):
            await c.logs[leader].change_membership(ConfChange(ChangeKind.REMOVE, 7))
        nursery.cancel_scope.cancel()


async def test_unsupported_protocol_says_so(autojump_clock: trio.abc.Clock) -> None:
    async with trio.open_nursery() as nursery:
        c = SimCluster(nursery, protocol="paxos-lwt", machine=Counter)
        await c.start_all()
        log = c.logs[1]
        log.protocol = "paxos-lwt"
        with pytest.raises(MembershipUnsupported, match="not supported by protocol paxos-lwt"):
            await log.change_membership(ConfChange(ChangeKind.ADD_LEARNER, 4))
        with pytest.raises(MembershipUnsupported):
            log.membership()
        nursery.cancel_scope.cancel()
