"""The sim environment: real cores, driver, store and sessions on virtual time, and
every fault it offers changes what the cluster does."""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
import trio

from consensus.client.client import ClientTimeout
from consensus.core import Role
from consensus.types import Entry
from jepsen_lite.runner.api import Cluster, Fault, TestSpec
from jepsen_lite.runner.envs import environment_class
from jepsen_lite.runner.envs.sim import SimCluster, SimEnvironment
from jepsen_lite.runner.envs.sim_invariants import Invariants

T = TypeVar("T")


def run(tmp_path: Path, main: Callable[[SimCluster], Awaitable[T]], **spec: Any) -> T:
    fields: dict[str, Any] = {"nodes": 3, "seed": 1, "nemesis": frozenset()}
    fields.update(spec)

    async def body(cluster: Cluster) -> T:
        return await main(cast(SimCluster, cluster))

    return SimEnvironment().run(TestSpec(**fields), str(tmp_path), body)


def node_log(tmp_path: Path, node: int) -> str:
    return (tmp_path / f"node-{node}.log").read_text()


async def wait_leader(cluster: SimCluster, other_than: int | None = None) -> int:
    with trio.fail_after(10):
        while True:
            leader = await cluster.leader()
            if leader is not None and leader != other_than:
                return leader
            await trio.sleep(0.01)


@pytest.mark.parametrize("protocol", ["raft", "multipaxos"])
def test_operations_run_on_the_real_store_and_replicas_converge(
    tmp_path: Path, protocol: str
) -> None:
    async def main(cluster: SimCluster) -> Any:
        async with cluster.session() as kv:
            await kv.put("a", b"1")
            assert await kv.get("a") == b"1"
            assert (await kv.cas("a", b"2", expected_value=b"1")).applied
            assert not (await kv.cas("a", b"3", expected_value=b"1")).applied
            assert await kv.get("a", consistency="stale") in (b"1", b"2", None)
            assert await kv.get("a") == b"2"
        leader = await cluster.leader()
        return cluster.now(), leader, await cluster.snapshots(), cluster.invariant_violations()

    now, leader, snaps, violations = run(tmp_path, main, protocol=protocol)
    assert 0 < now < 5 and leader in (1, 2, 3)
    assert None not in snaps.values() and len(set(snaps.values())) == 1
    assert violations == ()
    assert sorted(os.listdir(tmp_path)) == ["node-1.log", "node-2.log", "node-3.log"]
    assert "started (incarnation 1, memory storage" in node_log(tmp_path, 1)


def test_the_registry_finds_the_sim_environment() -> None:
    assert environment_class("sim") is SimEnvironment
    assert SimEnvironment.faults == frozenset(
        {"partition", "kill", "pause", "clock", "packet", "disk"}
    )


def test_kill_and_restart_the_leader(tmp_path: Path) -> None:
    async def main(cluster: SimCluster) -> Any:
        async with cluster.session() as kv:
            await kv.put("k", b"before")
            old = await wait_leader(cluster)
            await cluster.kill(old)
            assert cluster.host(old).log is None
            await kv.put("k", b"during")  # the majority elects another leader
            new = await cluster.leader()
            await cluster.restart(old)
            snaps = await cluster.snapshots()
            assert await kv.get("k") == b"during"
        return old, new, snaps

    old, new, snaps = run(tmp_path, main)
    assert new not in (None, old)
    assert snaps[old] is not None and len(set(snaps.values())) == 1
    log = node_log(tmp_path, old)
    assert "killed: unsynced writes lost" in log and "started (incarnation 2" in log


def test_a_partition_deposes_the_leader_and_heal_reunites(tmp_path: Path) -> None:
    async def main(cluster: SimCluster) -> Any:
        async with cluster.session() as kv:
            await kv.put("k", b"1")
            old = await wait_leader(cluster)
            others = [n for n in cluster.nodes if n != old]
            blocked = frozenset(
                (a, b) for a in cluster.nodes for b in cluster.nodes if a != b and old in (a, b)
            )
            await cluster.partition(blocked)
            await trio.sleep(2)
            terms = {n: cluster.host(n).log.status() for n in others}  # type: ignore[union-attr]
            leaders = [n for n, st in terms.items() if st.role == Role.LEADER.value]
            await kv.put("k", b"2")
            await cluster.heal_network()
            snaps = await cluster.snapshots()
        return old, leaders, snaps, cluster.network.dropped_partitioned

    old, leaders, snaps, dropped = run(tmp_path, main)
    assert len(leaders) == 1 and leaders[0] != old
    assert dropped > 0 and None not in snaps.values() and len(set(snaps.values())) == 1


def test_total_packet_loss_stops_progress_until_cleared(tmp_path: Path) -> None:
    async def main(cluster: SimCluster) -> Any:
        async with cluster.session() as kv:
            await kv.put("k", b"1")
            await cluster.packet(Fault("packet", "loss", params={"p": 1.0}))
            with pytest.raises(ClientTimeout):
                await kv.put("k", b"2")
            await cluster.packet(None)
            await kv.put("k", b"3")
            return await kv.get("k")

    assert run(tmp_path, main, options={"client_timeout_s": 2.0}) == b"3"


def _delivered(cluster: SimCluster) -> tuple[int, int]:
    eps = cluster.network._endpoints.values()
    return sum(e.stats.sent for e in eps), sum(e.stats.received for e in eps)


def test_duplication_and_delay_change_delivery(tmp_path: Path) -> None:
    async def main(cluster: SimCluster) -> Any:
        async with cluster.session() as kv:
            await kv.put("k", b"0")
            out = {}
            for name, fault in [
                ("none", None),
                ("dup", Fault("packet", "duplicate", params={"p": 1.0})),
                ("delay", Fault("packet", "delay", params={"delay_ms": 30, "jitter_ms": 0})),
            ]:
                await cluster.packet(fault)
                sent0, got0 = _delivered(cluster)
                start = cluster.now()
                for i in range(5):
                    await kv.put("k", str(i).encode())
                took = cluster.now() - start
                await trio.sleep(0.5)
                sent1, got1 = _delivered(cluster)
                out[name] = ((got1 - got0) / (sent1 - sent0), took / 5)
            await cluster.packet(None)
            return out

    out = run(tmp_path, main)
    assert 0.9 < out["none"][0] <= 1.0 and out["none"][1] < 0.02
    assert out["dup"][0] > 1.8
    assert out["delay"][1] >= 0.06  # a round trip leader -> follower -> leader: 2 x 30 ms


def test_reorder_gives_later_messages_earlier_delivery(tmp_path: Path) -> None:
    async def main(cluster: SimCluster) -> Any:
        await trio.lowlevel.checkpoint()
        route = cluster._packet_route(Fault("packet", "reorder", params={"p": 0.5}))
        rng = random.Random(3)
        delays = [route(cast(Any, None), rng)[0] for _ in range(100)]
        base = cluster._base_route(cast(Any, None), rng)
        return delays, base

    delays, base = run(tmp_path, main)
    overtaken = sum(1 for a, b in itertools.pairwise(delays) if b < a)
    assert overtaken > 10 and all(d >= base[0] for d in delays)
    with pytest.raises(ValueError, match="unknown packet fault shape 'spray'"):
        run(tmp_path, _bad_packet)


async def _bad_packet(cluster: SimCluster) -> None:
    await cluster.packet(Fault("packet", "spray"))


def test_a_paused_leader_is_replaced_and_catches_up_on_resume(tmp_path: Path) -> None:
    async def main(cluster: SimCluster) -> Any:
        async with cluster.session() as kv:
            await kv.put("k", b"1")
            old = await wait_leader(cluster)
            host = cluster.host(old)
            await cluster.pause(old)
            applied = host.log.status().applied_index  # type: ignore[union-attr]
            ticks = host.core.ticks  # type: ignore[union-attr]
            for i in range(5):
                await kv.put("k", str(i).encode())
            new = await wait_leader(cluster, other_than=old)
            still = host.log.status().applied_index  # type: ignore[union-attr]
            same_ticks = host.core.ticks == ticks  # type: ignore[union-attr]
            queued = len(host.core.queued)  # type: ignore[union-attr]
            await cluster.resume(old)
            snaps = await cluster.snapshots()
        return old, new, applied, still, same_ticks, queued, snaps

    old, new, applied, still, same_ticks, queued, snaps = run(tmp_path, main)
    assert new != old and applied == still and same_ticks and queued > 0
    assert snaps[old] is not None and len(set(snaps.values())) == 1
    assert "paused" in node_log(tmp_path, old) and "resumed" in node_log(tmp_path, old)


def test_a_fast_clock_ticks_faster_until_reset(tmp_path: Path) -> None:
    async def main(cluster: SimCluster) -> Any:
        await wait_leader(cluster)

        async def ticks_over(seconds: float) -> dict[int, int]:
            before = {n: cluster.host(n).core.ticks for n in cluster.nodes}  # type: ignore[union-attr]
            await trio.sleep(seconds)
            return {n: cluster.host(n).core.ticks - before[n] for n in cluster.nodes}  # type: ignore[union-attr]

        await cluster.skew_clock(2, 500, 3.0)
        skewed = await ticks_over(1.0)
        reads = cluster.host(2).clock.now_s() - cluster.clock_base()
        await cluster.reset_clock(2)
        reset = await ticks_over(1.0)
        return skewed, reads, reset

    skewed, reads, reset = run(tmp_path, main)
    assert skewed[2] >= 2.5 * skewed[1]
    assert 2.4 < reads < 2.6  # 1 s at rate 3 is 2 s ahead, plus the 500 ms offset
    assert abs(reset[2] - reset[1]) <= 2
    assert "clock skewed: offset +500 ms, rate 3" in node_log(tmp_path, 2)


def test_disk_faults_need_disk_storage(tmp_path: Path) -> None:
    async def main(cluster: SimCluster) -> None:
        await cluster.disk_fault(1, Fault("disk", "bit-flip"))

    with pytest.raises(NotImplementedError, match="disk faults need disk-backed storage"):
        run(tmp_path, main)


@pytest.mark.parametrize("protocol", ["raft", "multipaxos"])
def test_a_bit_flip_in_durable_data_is_refused_and_the_node_stays_down(
    tmp_path: Path, protocol: str
) -> None:
    async def main(cluster: SimCluster) -> Any:
        async with cluster.session() as kv:
            for i in range(30):
                await kv.put(f"k{i % 3}", str(i).encode())
            leader = await wait_leader(cluster)
            victim = next(n for n in cluster.nodes if n != leader)
            await cluster.disk_fault(victim, Fault("disk", "bit-flip"))
            await cluster.kill(victim)
            await cluster.restart(victim)
            await kv.put("after", b"1")
            snaps = await cluster.snapshots()
        return victim, cluster.host(victim).log, list(cluster.refusals), snaps

    victim, log, refusals, snaps = run(tmp_path, main, protocol=protocol, nemesis={"disk"})
    assert log is None and [n for n, _ in refusals] == [victim]
    assert snaps[victim] is None
    assert len({s for n, s in snaps.items() if n != victim}) == 1
    text = node_log(tmp_path, victim)
    assert "flipped" in text and "recovery refused its storage, staying down" in text
    assert "disk storage" in text


def test_invariants_flag_two_entries_at_one_index_and_two_leaders_in_one_term() -> None:
    inv = Invariants(with_terms=True)
    inv.observe_applied(1, [Entry(1, 1, b"a"), Entry(2, 1, b"b")])
    inv.observe_applied(2, [Entry(1, 1, b"a")])
    assert inv.violations == []
    inv.observe_applied(2, [Entry(2, 2, b"b")])
    inv.observe_applied(3, [Entry(2, 1, b"c")])
    inv.observe_role(1, Role.LEADER, 4)
    inv.observe_role(2, Role.FOLLOWER, 4)
    inv.observe_role(1, Role.LEADER, 4)
    assert len(inv.violations) == 2
    inv.observe_role(3, Role.LEADER, 4)
    assert len(inv.violations) == 3
    assert "node 2 applied (term 2" in inv.violations[0]
    assert "node 3 applied (term 1" in inv.violations[1]
    assert "nodes 1 and 3 both led term 4" in inv.violations[2]


def test_bad_specs_get_one_line_errors(tmp_path: Path) -> None:
    async def main(cluster: SimCluster) -> None:
        await trio.lowlevel.checkpoint()

    with pytest.raises(ValueError, match="unknown protocol 'zab'"):
        run(tmp_path, main, protocol="zab")
    with pytest.raises(ValueError, match="unknown broken-core switch 'x'"):
        run(tmp_path, main, options={"broken": "x"})
    with pytest.raises(ValueError, match="option client_timeout_s must be a number"):
        run(tmp_path, main, options={"client_timeout_s": "soon"})
    with pytest.raises(ValueError, match="option storage must be"):
        run(tmp_path, main, options={"storage": "tape"})
    with pytest.raises(ValueError, match="does not exist"):
        run(tmp_path / "missing", main)


def test_trio_scheduling_is_seeded_during_a_run_and_restored_after(tmp_path: Path) -> None:
    import trio._core._run as trio_run

    before = trio_run._r.getstate()
    allowed = trio_run._ALLOW_DETERMINISTIC_SCHEDULING  # True under Hypothesis' plugin

    async def main(cluster: SimCluster) -> tuple[bool, float]:
        await trio.lowlevel.checkpoint()
        return trio_run._ALLOW_DETERMINISTIC_SCHEDULING, trio.current_time()

    assert run(tmp_path, main) == (True, 0.0)
    assert trio_run._ALLOW_DETERMINISTIC_SCHEDULING is allowed
    assert trio_run._r.getstate() == before


def test_a_base_link_latency_slows_every_round_trip(tmp_path: Path) -> None:
    async def main(cluster: SimCluster) -> float:
        async with cluster.session() as kv:
            await kv.put("k", b"0")
            start = cluster.now()
            for i in range(5):
                await kv.put("k", str(i).encode())
            return (cluster.now() - start) / 5

    instant = run(tmp_path, main)
    slow = run(tmp_path, main, options={"link_delay_ms": 5})
    assert instant < 0.005 and slow >= 0.010  # leader -> follower -> leader: 2 x 5 ms


def test_the_leaders_clock_drives_the_store_and_a_fast_clock_speeds_it(tmp_path: Path) -> None:
    from consensus.runtime import clock as clock_module

    if not hasattr(clock_module, "run_clock_ticks"):
        pytest.skip("this runtime has no leader clock ticks (the store uses client time)")

    async def main(cluster: SimCluster) -> tuple[int, int]:
        async with cluster.session() as kv:
            await kv.put("a", b"1")
        leader = await wait_leader(cluster)

        def store_ms() -> int:
            machine = cluster.host(leader).machine
            assert machine is not None
            return int(machine.sessions.clock_ms)

        t0 = store_ms()
        await trio.sleep(4)
        t1 = store_ms()
        for node in cluster.nodes:
            await cluster.skew_clock(node, 0, 2.0)
        await trio.sleep(4)
        return t1 - t0, store_ms() - t1

    normal, fast = run(tmp_path, main)
    assert 3000 <= normal <= 4500 and 7000 <= fast <= 8500
