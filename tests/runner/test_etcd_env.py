"""The etcd environment with real etcd members: each fault takes effect (a member cut off
by the peer proxy serves stale serializable reads and no linearizable ones, a killed
member's clients move on and it recovers from its data dir, a paused member does not
answer), no process survives the cluster however it ends, and without etcd the
environment says what to install."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import trio

from consensus.client.client import ClientTimeout
from jepsen_lite.cli import main as cli_main
from jepsen_lite.runner import envs
from jepsen_lite.runner.api import TestSpec
from jepsen_lite.runner.envs import EnvironmentUnavailable, environment_class
from jepsen_lite.runner.envs import etcd as etcd_env
from jepsen_lite.runner.envs.etcd import EtcdCluster, EtcdEnvironment, open_etcd_cluster
from jepsen_lite.runner.envs.etcd_backend import EtcdBackend
from jepsen_lite.runner.envs.process_control import LocalProcesses

from .etcd_support import gone, needs_etcd

SPEC = TestSpec(
    env="etcd",
    nodes=3,
    seed=5,
    options={"client_timeout_s": 1.0, "heartbeat_ms": 50, "election_ms": 500},
)
"""Short timeouts, so that the calls that must time out do so quickly."""


async def put_until_ok(cluster: EtcdCluster, home: int, key: str, value: bytes) -> None:
    """Put through a session pinned to ``home`` until it is acknowledged (an election
    after a fault may take a few seconds on a loaded machine)."""
    for _ in range(10):
        async with cluster.session(home) as kv:
            try:
                await kv.put(key, value)
                return
            except ClientTimeout:
                continue
    raise AssertionError(f"no put of {key} was acknowledged")


@needs_etcd
async def test_every_fault_takes_effect(tmp_path: Path) -> None:
    procs = LocalProcesses(stop_timeout_s=etcd_env.STOP_TIMEOUT_S)
    async with open_etcd_cluster(SPEC, tmp_path, processes=procs) as cluster:
        assert set(procs.pids()) == {"node-1", "node-2", "node-3"}
        leader = await cluster.leader()
        assert leader in cluster.nodes and len(cluster.member_ids) == 3
        cut = next(n for n in cluster.nodes if n != leader)
        others = [n for n in cluster.nodes if n != cut]
        await put_until_ok(cluster, leader, "r", b"1")

        # partition: the cut-off member serves its old state to serializable reads only
        await cluster.partition(frozenset({(cut, o) for o in others} | {(o, cut) for o in others}))
        assert cluster.proxy is not None and cluster.proxy.stats.cut > 0
        await put_until_ok(cluster, others[0], "r", b"2")
        async with cluster.session(cut) as stale:
            assert await stale.get("r", consistency="stale") == b"1"
            with pytest.raises(ClientTimeout):
                await stale.get("r")
        cluster.serializable = True  # what option etcd_serializable=true sets
        async with cluster.session(cut) as stale:
            assert await stale.get("r") == b"1"  # now every read is serializable
        cluster.serializable = False
        await cluster.heal_network()
        for _ in range(100):
            async with cluster.session(cut) as kv:
                if await kv.get("r", consistency="stale") == b"2":
                    break
            await trio.sleep(0.1)
        else:
            raise AssertionError("the healed member never caught up")

        # kill: the member's clients move to the next member; it recovers from disk
        victim = others[1]
        await cluster.kill(victim)
        assert "node-" + str(victim) not in procs.pids()
        failovers = cluster.failovers
        await put_until_ok(cluster, victim, "r", b"3")
        assert cluster.failovers > failovers
        await cluster.restart(victim)
        async with cluster.session(victim) as kv:
            for _ in range(100):
                if await kv.get("r", consistency="stale") == b"3":
                    break
                await trio.sleep(0.1)
            else:
                raise AssertionError("the restarted member never caught up")
            assert isinstance(kv.backend, EtcdBackend)
            assert kv.backend.home == cluster.nodes.index(victim)  # back home, nothing moved

        # pause: the member accepts connections but answers nothing
        await cluster.pause(cut)
        async with cluster.session(cut) as kv:
            with pytest.raises(ClientTimeout):
                await kv.get("r", consistency="stale")
        await cluster.resume(cut)
        async with cluster.session(cut) as kv:
            assert await kv.get("r", consistency="stale") in (b"2", b"3")

        snapshots = await cluster.snapshots()
        assert set(snapshots) == {1, 2, 3} and None not in snapshots.values()
        assert len(set(snapshots.values())) == 1
        for fault in (cluster.skew_clock(1, 5.0, 1.0), cluster.reset_clock(1)):
            with pytest.raises(NotImplementedError, match="clock faults are not supported"):
                await fault
        pids = list(procs.pids().values())
    assert len(procs.started) == 4 and all(gone(p) for p in procs.started + pids)


@needs_etcd
def test_environment_run_stops_everything_on_error(tmp_path: Path) -> None:
    assert environment_class("etcd") is EtcdEnvironment
    seen: list[int] = []

    async def main(cluster: object) -> None:
        assert isinstance(cluster, EtcdCluster)
        seen.extend(cluster.processes.pids().values())
        raise LookupError("the test failed")

    with pytest.raises(LookupError, match="the test failed"):
        EtcdEnvironment().run(TestSpec(env="etcd", nodes=1), str(tmp_path), main)
    assert len(seen) == 1 and all(gone(p) for p in seen)
    assert (tmp_path / "node-1.log").stat().st_size > 0


@needs_etcd
def test_environment_run_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    program = textwrap.dedent(
        f"""
        import signal  # SIGINT is ignored in a background job; the test sends it
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import trio
        from jepsen_lite.runner.api import TestSpec
        from jepsen_lite.runner.envs.etcd import EtcdEnvironment

        async def main(cluster):
            await cluster.pause(1)
            print(*cluster.processes.pids().values(), flush=True)
            await trio.sleep_forever()

        EtcdEnvironment().run(TestSpec(env="etcd", nodes=1), {str(tmp_path)!r}, main)
        """
    )
    runner = subprocess.Popen(
        [sys.executable, "-c", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert runner.stdout is not None
        pids = [int(p) for p in runner.stdout.readline().split()]
        assert len(pids) == 1 and not any(gone(p) for p in pids)
        runner.send_signal(signal.SIGINT)
        _, err = runner.communicate(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert "KeyboardInterrupt" in err
    assert all(gone(p) for p in pids)


@needs_etcd
async def test_a_member_that_cannot_start_is_reported_with_its_log(tmp_path: Path) -> None:
    spec = TestSpec(env="etcd", nodes=1, options={"log_level": "chatty"})
    procs = LocalProcesses(stop_timeout_s=etcd_env.STOP_TIMEOUT_S)
    with pytest.raises(etcd_env.EtcdClusterError, match="etcd member 1 exited; last lines"):
        async with open_etcd_cluster(spec, tmp_path, processes=procs):
            pass
    assert procs.started and all(gone(p) for p in procs.started)


def test_without_etcd_the_environment_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(etcd_env, "etcd_binary", lambda spec=None: None)
    with pytest.raises(EnvironmentUnavailable, match="apt-get install etcd-server"):
        EtcdEnvironment()
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    status = cli_main(["run", "--env", "etcd", "--out", str(tmp_path), "--time-limit", "1"])
    assert status == 3
    assert err.getvalue().strip() == (
        "jepsen-lite run: error: --env: environment 'etcd' is not available: "
        "etcd not installed: apt-get install etcd-server"
    )
    assert "etcd" in envs.ENVIRONMENTS


def test_options_are_checked(tmp_path: Path) -> None:
    def cluster(**options: object) -> EtcdCluster:
        spec = TestSpec(env="etcd", nodes=1, options=options)
        return EtcdCluster(spec, tmp_path, "etcd", LocalProcesses(), None, {}, {})

    assert cluster(etcd_serializable=True).serializable
    assert not cluster().serializable
    with pytest.raises(ValueError, match="option etcd_serializable must be true or false, got 1"):
        cluster(etcd_serializable=1)
    with pytest.raises(ValueError, match="option client_timeout_s must be a positive number"):
        cluster(client_timeout_s="soon")


def test_unsupported_faults_are_refused_and_all_leaves_them_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jepsen_lite.runner.run import RunError, prepare

    monkeypatch.setattr(etcd_env, "etcd_binary", lambda spec=None: "/bin/true")
    env = EtcdEnvironment()
    every = TestSpec(env="etcd", nodes=3, nemesis=frozenset({"all"}))
    assert prepare(every, env).kinds == {"partition", "kill", "pause"}
    with pytest.raises(RunError, match="clock"):
        prepare(TestSpec(env="etcd", nodes=3, nemesis=frozenset({"clock"})), env)
