"""The runtime driving Raft on 3 nodes over the in-memory network, under MockClock."""

from __future__ import annotations

import pytest
import trio

from consensus.errors import NotLeader
from consensus.runtime import Backpressure, DriverConfig, Timeout
from consensus.types import Entry, EntryKind

from .harness import SimCluster


async def test_propose_commits_on_all_nodes(autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery)
        await cluster.start_all()
        leader = await cluster.wait_leader()
        results = [await cluster.logs[leader].propose(b"%d" % n) for n in range(1, 11)]
        assert results[-1] == b"55"
        with trio.fail_after(5):
            while any(m.total != 55 for m in cluster.machines.values()):
                await trio.sleep(0.01)
        statuses = [log.status() for log in cluster.logs.values()]
        assert {s.leader for s in statuses} == {leader}
        assert all(s.applied_index >= 11 for s in statuses)  # 10 proposals + leader no-op
        nursery.cancel_scope.cancel()


async def test_follower_refuses_with_leader_hint(autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery)
        await cluster.start_all()
        leader = await cluster.wait_leader()
        await cluster.propose(1)
        follower = next(i for i in cluster.ids if i != leader)
        with pytest.raises(NotLeader, match=f"leader is probably node {leader}"):
            await cluster.logs[follower].propose(b"1")
        nursery.cancel_scope.cancel()


async def test_leader_crash_elects_new_leader_and_keeps_commits(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery)
        await cluster.start_all()
        for n in range(1, 6):
            await cluster.propose(n)
        old = await cluster.wait_leader()
        await cluster.crash(old)
        survivors = [i for i in cluster.ids if i != old]
        new = await cluster.wait_leader(survivors)
        assert new != old
        assert await cluster.propose(100) == b"115"
        await cluster.start(old)  # restarts from its storage and catches up
        with trio.fail_after(10):
            while cluster.machines[old].total != 115:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()


async def test_minority_partition_cannot_commit_majority_can(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery)
        await cluster.start_all()
        await cluster.propose(1)
        leader = await cluster.wait_leader()
        others = [i for i in cluster.ids if i != leader]
        cluster.network.partition([leader], others)
        with pytest.raises(Timeout, match=r"proposal did not finish within 1\.0s"):
            await cluster.logs[leader].propose(b"1000", timeout_s=1.0)
        new = await cluster.wait_leader(others)
        assert await cluster.logs[new].propose(b"5") == b"6"
        cluster.network.heal()
        with trio.fail_after(10):
            while any(m.total != 6 for m in cluster.machines.values()):
                await trio.sleep(0.01)
        assert cluster.leaders() == [new]  # the old leader's uncommitted 1000 is gone
        nursery.cancel_scope.cancel()


async def test_read_barrier_sees_every_completed_write(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """After a write returns anywhere, a read barrier on any node shows it."""
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery)
        await cluster.start_all()
        for n in range(1, 21):
            await cluster.propose(1)
            for node in cluster.ids:
                await cluster.logs[node].read_barrier(timeout_s=5)
                assert cluster.machines[node].total == n, f"node {node} read stale state"
        nursery.cancel_scope.cancel()


async def test_isolated_leader_read_barrier_fails(autojump_clock: trio.testing.MockClock) -> None:
    """A deposed leader cannot confirm a read (no stale reads from the minority side)."""
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery)
        await cluster.start_all()
        await cluster.propose(1)
        leader = await cluster.wait_leader()
        cluster.network.isolate(leader)
        with pytest.raises((Timeout, NotLeader)):
            await cluster.logs[leader].read_barrier(timeout_s=3)
        nursery.cancel_scope.cancel()


async def test_graceful_shutdown_transfers_leadership(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery)
        await cluster.start_all()
        await cluster.propose(3)
        leader = await cluster.wait_leader()
        start = trio.current_time()
        assert await cluster.logs[leader].shutdown() is True
        others = [i for i in cluster.ids if i != leader]
        new = await cluster.wait_leader(others)
        # a transfer is quicker than an election timeout (>= 10 ticks of 10 ms)
        assert trio.current_time() - start < 0.1
        del cluster.logs[leader]
        assert await cluster.logs[new].propose(b"4") == b"7"
        nursery.cancel_scope.cancel()


async def test_group_commit_one_fsync_covers_many_proposals(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery)
        await cluster.start_all()
        leader = await cluster.wait_leader()
        await cluster.propose(0)
        driver = cluster.logs[leader].driver
        before = driver.fsyncs
        async with trio.open_nursery() as proposers:
            for _ in range(200):
                proposers.start_soon(cluster.logs[leader].propose, b"1")
        assert cluster.machines[leader].total == 200
        assert driver.fsyncs - before < 20, f"{driver.fsyncs - before} fsyncs for 200 proposals"
        nursery.cancel_scope.cancel()


async def test_waiting_proposals_are_bounded(autojump_clock: trio.testing.MockClock) -> None:
    config = DriverConfig(
        tick_s=0.01, sync_in_thread=False, snapshot_entries=0, proposals_waiting_max=5
    )
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery, driver=config)
        await cluster.start_all()
        leader = await cluster.wait_leader()
        cluster.network.isolate(leader)  # nothing commits: proposals pile up
        log = cluster.logs[leader]
        for _ in range(5):
            nursery.start_soon(log.propose, b"1")
        await trio.sleep(0.001)
        with pytest.raises(Backpressure, match="5 proposals already wait on node"):
            await log.propose(b"1")
        nursery.cancel_scope.cancel()


async def test_snapshots_compact_and_restart_restores(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = DriverConfig(tick_s=0.01, sync_in_thread=False, snapshot_entries=10)
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery, driver=config)
        await cluster.start_all()
        for _ in range(25):
            await cluster.propose(2)
        leader = await cluster.wait_leader()
        victim = next(i for i in cluster.ids if i != leader)
        with trio.fail_after(5):
            while cluster.logs[victim].status().snapshot_index < 20:
                await trio.sleep(0.01)
        recovered = cluster.storage[victim].recover()
        assert recovered.snapshot is not None and recovered.snapshot.meta.index >= 20
        await cluster.crash(victim)
        for _ in range(25):  # the leader compacts past what the victim has
            await cluster.propose(2)
        await cluster.start(victim)
        with trio.fail_after(10):
            while cluster.machines[victim].total != 100:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()


async def test_committed_stream_yields_applied_entries(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery)
        await cluster.start_all()
        await cluster.propose(0)
        leader = await cluster.wait_leader()
        follower = next(i for i in cluster.ids if i != leader)
        await cluster.logs[follower].read_barrier()  # the follower has applied the 0
        with cluster.logs[follower].committed() as entries:
            for n in (5, 6, 7):
                await cluster.propose(n)
            seen = []
            with trio.fail_after(5):
                while len(seen) < 3:
                    entry = await entries.receive()
                    if entry.kind == EntryKind.NORMAL:
                        seen.append(int(entry.data))
        assert seen == [5, 6, 7]
        nursery.cancel_scope.cancel()


async def test_lossy_network_still_replicates(autojump_clock: trio.testing.MockClock) -> None:
    from consensus.transport import Faults

    faults = Faults(loss=0.1, duplicate=0.1, delay_s_min=0.0, delay_s_max=0.005)
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery, faults=faults, seed=11)
        await cluster.start_all()
        for _ in range(30):
            await cluster.propose(1, timeout_s=30)
        with trio.fail_after(20):
            while any(m.total != 30 for m in cluster.machines.values()):
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", ["raft", "multipaxos"])
async def test_same_interface_for_both_protocols(
    protocol: str, autojump_clock: trio.testing.MockClock
) -> None:
    """Propose, read barrier, leader crash and re-election through the one interface."""
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery, protocol=protocol)
        await cluster.start_all()
        for n in range(1, 6):
            assert await cluster.propose(n) == str(n * (n + 1) // 2).encode()
        for node in cluster.ids:
            await cluster.logs[node].read_barrier(timeout_s=5)
            assert cluster.machines[node].total == 15
        old = await cluster.wait_leader()
        await cluster.crash(old)
        new = await cluster.wait_leader([i for i in cluster.ids if i != old])
        assert await cluster.logs[new].propose(b"10", timeout_s=5) == b"25"
        status = cluster.logs[new].status()
        assert status.role == "leader" and status.leader == new
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("size", [1, 3])
async def test_every_applied_entry_is_durable_on_a_quorum(
    size: int, autojump_clock: trio.testing.MockClock
) -> None:
    """Whenever a state machine applies an entry (and so may answer its proposer), a
    majority of the nodes' storages already hold it durably; concurrent load and a lossy
    network exercise group commit and the early apply of already-durable entries."""
    from consensus.transport import Faults

    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery, size=size, faults=Faults(loss=0.05, delay_s_max=0.003))
        await cluster.start_all()
        checked = 0

        def durable_on_quorum(index: int, term: int) -> bool:
            holders = 0
            for storage in cluster.storage.values():
                entries = storage.recover().entries
                if any(e.index == index and e.term == term for e in entries):
                    holders += 1
            return holders > size // 2

        for machine_node in cluster.ids:
            machine = cluster.machines[machine_node]
            original = machine.apply

            def checking_apply(entry: Entry, original=original) -> bytes:  # type: ignore[no-untyped-def]
                nonlocal checked
                assert durable_on_quorum(entry.index, entry.term), (
                    f"entry {entry.index} applied early"
                )
                checked += 1
                return original(entry)

            machine.apply = checking_apply  # type: ignore[method-assign]
        async with trio.open_nursery() as load:
            for _ in range(8):

                async def writer() -> None:
                    for _ in range(25):
                        await cluster.propose(1, timeout_s=30)

                load.start_soon(writer)
        leader = await cluster.wait_leader()
        assert cluster.machines[leader].total == 200
        assert checked >= 200
        early = sum(log.driver.early_applies for log in cluster.logs.values())
        assert early > 0 or size == 1, "the early-apply path was not exercised"
        nursery.cancel_scope.cancel()
