"""The local environment with real node processes: each fault takes effect (a
partitioned node falls behind and catches up, a killed node recovers from disk, a
paused node does not answer, a clock skew changes the node's clock, packet faults drop
frames) and no process survives the cluster, whatever ends it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from consensus.client import ClientError
from jepsen_lite.runner.api import Fault, TestSpec
from jepsen_lite.runner.envs import environment_class
from jepsen_lite.runner.envs.fault_proxy import FaultProxy, PacketFaults
from jepsen_lite.runner.envs.local import (
    LocalCluster,
    LocalClusterError,
    LocalEnvironment,
    open_local_cluster,
    packet_faults,
)
from jepsen_lite.runner.envs.process_control import LocalProcesses

SPEC = TestSpec(env="local", nodes=3, seed=5)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def applied(cluster: LocalCluster, node: int) -> int:
    reply = await cluster.control.snapshot_digest(cluster.endpoints[node])
    return reply.applied_index


async def test_every_fault_takes_effect(tmp_path: Path) -> None:
    """One cluster (starting one costs most of the time) through every fault in turn."""
    procs = LocalProcesses()
    async with open_local_cluster(SPEC, tmp_path, processes=procs) as cluster:
        assert len(procs.started) == 3 and set(procs.pids()) == {"node-1", "node-2", "node-3"}
        leader = await cluster.leader()
        assert leader in cluster.nodes
        lagging = next(n for n in cluster.nodes if n != leader)
        others = [n for n in cluster.nodes if n != lagging]
        async with cluster.session() as kv:
            # partition: the isolated node's log falls behind, and catches up after heal
            await cluster.partition(
                frozenset({(lagging, o) for o in others} | {(o, lagging) for o in others})
            )
            for i in range(20):
                await kv.put(f"k{i}", b"v")
            new_leader = await cluster.leader()
            assert new_leader is not None and new_leader != lagging
            assert await applied(cluster, lagging) < await applied(cluster, new_leader)
            await cluster.heal_network()
            digests = await cluster.snapshots()
            assert len(set(digests.values())) == 1 and None not in digests.values()
            assert len({await applied(cluster, n) for n in cluster.nodes}) == 1
            proxy = cluster.network
            assert isinstance(proxy, FaultProxy)
            assert proxy.stats.cut >= 1

            # packet loss: frames are dropped, writes still get through
            await cluster.packet(Fault("packet", "loss", params={"p": 0.3}))
            for i in range(30):
                await kv.put(f"lossy{i}", b"v")
            assert proxy.stats.total().dropped_loss > 0
            await cluster.packet(None)
            assert await kv.get("lossy29") == b"v"

            # kill and restart: the node is gone, comes back from its data dir
            victim = lagging
            first_pid = procs.pids()[f"node-{victim}"]
            await cluster.kill(victim)
            assert gone(first_pid)
            await kv.put("while-down", b"1")
            await cluster.restart(victim)
            await kv.put("after-restart", b"2")
            digests = await cluster.snapshots()
            assert len(set(digests.values())) == 1 and digests[victim] is not None

            # pause: the node does not answer; resumed, it does
            paused = next(n for n in cluster.nodes if n != victim)
            await cluster.pause(paused)
            with pytest.raises(ClientError):
                await cluster.control.status(cluster.endpoints[paused])
            assert await kv.get("while-down") == b"1"  # the other two still serve
            await cluster.resume(paused)
            status = await cluster.control.status(cluster.endpoints[paused])
            assert status.node_id == paused

            # clock: the skew shows in the node's NodeClock, reset undoes it
            skewed, plain = victim, paused
            await cluster.skew_clock(skewed, 3_600_000, 1.5)
            clock_ms, offset_ms, rate = await cluster.clock_reading(skewed)
            assert (offset_ms, rate) == (3_600_000, 1.5)
            other_ms, _, _ = await cluster.clock_reading(plain)
            assert clock_ms - other_ms > 3_000_000  # an hour ahead of an unskewed node
            await cluster.reset_clock(skewed)
            assert (await cluster.clock_reading(skewed))[1:] == (0.0, 1.0)
            with pytest.raises(NotImplementedError, match="sim"):
                await cluster.disk_fault(1, Fault("disk", "bit-flip"))
    assert len(procs.started) == 4 and all(gone(p) for p in procs.started)


def test_environment_run_stops_everything_on_error(tmp_path: Path) -> None:
    assert environment_class("local") is LocalEnvironment
    seen: list[int] = []

    async def main(cluster: object) -> None:
        assert isinstance(cluster, LocalCluster)
        seen.extend(cluster.processes.pids().values())
        raise LookupError("the test failed")

    with pytest.raises(LookupError, match="the test failed"):
        LocalEnvironment().run(TestSpec(env="local", nodes=1), str(tmp_path), main)
    assert len(seen) == 1 and all(gone(p) for p in seen)
    assert (tmp_path / "node-1.log").stat().st_size > 0


def test_environment_run_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    program = textwrap.dedent(
        f"""
        import signal  # SIGINT is ignored in a background job; the test sends it
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import trio
        from jepsen_lite.runner.api import TestSpec
        from jepsen_lite.runner.envs.local import LocalEnvironment

        async def main(cluster):
            await cluster.pause(2)
            print(*cluster.processes.pids().values(), flush=True)
            await trio.sleep_forever()

        LocalEnvironment().run(TestSpec(env="local", nodes=2), {str(tmp_path)!r}, main)
        """
    )
    runner = subprocess.Popen(
        [sys.executable, "-c", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert runner.stdout is not None
        pids = [int(p) for p in runner.stdout.readline().split()]
        assert len(pids) == 2 and not any(gone(p) for p in pids)
        runner.send_signal(signal.SIGINT)
        _, err = runner.communicate(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert "KeyboardInterrupt" in err
    assert all(gone(p) for p in pids)


async def test_a_node_that_cannot_start_is_reported_with_its_log(tmp_path: Path) -> None:
    spec = TestSpec(env="local", nodes=1, options={"log_level": "verbose"})
    procs = LocalProcesses()
    with pytest.raises(LocalClusterError, match="node 1 exited before opening its client port"):
        async with open_local_cluster(spec, tmp_path, processes=procs):
            pass
    assert all(gone(p) for p in procs.started)


def test_packet_fault_shapes_map_to_proxy_settings() -> None:
    assert packet_faults(Fault("packet", "loss", params={"p": 0.3})) == PacketFaults(loss=0.3)
    assert packet_faults(Fault("packet", "duplicate")) == PacketFaults(duplicate=0.1)
    delay = {"p": 0.0, "delay_ms": 40.0, "jitter_ms": 0.0}  # as the nemesis gives them
    assert packet_faults(Fault("packet", "delay", params=delay)) == PacketFaults(delay_ms=40)
    reorder = {"p": 0.4, "delay_ms": 15.0, "jitter_ms": 8.0}
    assert packet_faults(Fault("packet", "reorder", params=reorder)) == (
        PacketFaults(reorder=0.4, reorder_window_ms=8)
    )
    no_jitter = {"p": 0.4, "delay_ms": 15.0, "jitter_ms": 0.0}
    assert packet_faults(Fault("packet", "reorder", params=no_jitter)).reorder_window_ms == 15
    with pytest.raises(ValueError, match="unknown packet fault shape 'melt'"):
        packet_faults(Fault("packet", "melt"))
    with pytest.raises(ValueError, match="loss must be in"):
        packet_faults(Fault("packet", "loss", params={"p": 2.0}))
