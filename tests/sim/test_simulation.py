"""Whole runs of the simulator: the machinery over a trivially correct core, and Raft."""

from __future__ import annotations

import io
import random

import pytest

from consensus.errors import NotLeader
from consensus.messages import Message
from consensus.sim.cluster import Cluster, NodeDown
from consensus.sim.options import FaultKind, FaultOptions, SimConfig, available_faults
from consensus.sim.raft_spec import RAFT_SPEC
from consensus.sim.simulation import Simulation, run_seed
from consensus.storage.sim_disk import SimDiskStorage

from .fake_core import FAKE_SPEC

ALL = frozenset(available_faults())
NO_DISK = frozenset(available_faults(disk=False))


@pytest.mark.parametrize("seed", range(12))
def test_fixed_leader_core_survives_every_fault(seed: int) -> None:
    r = run_seed(FAKE_SPEC, SimConfig(nodes=3, duration_us=3_000_000, faults=NO_DISK), seed)
    assert r.violation is None, r.violation
    assert r.acked > 0
    assert r.elections == 1 or r.crashes > 0  # node 1 leads, again after each restart


def test_each_fault_kind_alone_runs_clean_on_raft() -> None:
    for kind in available_faults(disk=False):
        config = SimConfig(nodes=5, duration_us=3_000_000, faults=frozenset({kind}))
        for seed in range(3):
            r = run_seed(RAFT_SPEC, config, seed)
            assert r.violation is None, (kind, seed, r.violation)
            assert r.faults.enabled() == (kind,)
            assert r.acked > 0


def test_results_are_a_function_of_the_seed() -> None:
    config = SimConfig(nodes=3, duration_us=2_000_000, faults=ALL)
    assert run_seed(RAFT_SPEC, config, 11) == run_seed(RAFT_SPEC, config, 11)
    assert run_seed(RAFT_SPEC, config, 11).faults.disk  # the file-backed storage too
    assert run_seed(RAFT_SPEC, config, 11) != run_seed(RAFT_SPEC, config, 12)


def test_tracing_does_not_change_the_run() -> None:
    config = SimConfig(nodes=3, duration_us=2_000_000, faults=ALL)
    out = io.StringIO()
    traced = run_seed(RAFT_SPEC, config, 5, out)
    assert traced == run_seed(RAFT_SPEC, config, 5)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("# seed 5 protocol raft nodes 3 faults ")
    assert len(lines) == traced.events + 1  # one line per event, after the header
    assert lines[-1].endswith(f"converged at index {traced.commits}")
    times = [int(line.split()[0]) for line in lines[1:]]
    assert times == sorted(times)


def test_heal_phase_converges_and_probes_commit() -> None:
    config = SimConfig(nodes=5, duration_us=2_000_000, faults=frozenset({FaultKind.CRASH}))
    sim = Simulation(RAFT_SPEC, config, 2)
    r = sim.run()
    assert r.violation is None
    assert sim.workload.probes_acked == config.probes
    assert 2_000_000 < r.end_us < 2_000_000 + config.heal_limit_us
    applied = {h.replica.applied for h in sim.cluster.hosts}
    assert applied == {r.commits}
    assert all(sim.cluster.is_up(n) for n in sim.cluster.voters)


def test_single_node_cluster() -> None:
    r = run_seed(RAFT_SPEC, SimConfig(nodes=1, duration_us=1_000_000, faults=NO_DISK), 0)
    assert r.violation is None
    assert r.acked > 0
    assert r.messages == 0


def test_snapshots_are_taken_and_sent() -> None:
    """Some seed compacts often enough that a lagging node gets an InstallSnapshot."""
    config = SimConfig(nodes=3, duration_us=4_000_000, faults=frozenset({FaultKind.CRASH}))
    installs = 0
    for seed in range(20):
        sim = Simulation(RAFT_SPEC, config, seed)
        if not sim.snapshot_every_entries:
            continue
        r = sim.run()
        assert r.violation is None
        installs += sum(h.snapshot_index > 0 for h in sim.cluster.hosts)
    assert installs > 0


@pytest.mark.parametrize("seed", range(6))
def test_raft_on_a_simulated_disk_with_torn_crashes(seed: int) -> None:
    """The WAL under every crash mode (power loss, torn and scrambled write-back, process
    kill) and torn crashes between a leader's early send and its fsync; no EIO."""
    faults = FaultOptions(
        crash_every_us=300_000, downtime_us_max=300_000, torn_crash_rate=0.01, disk=True
    )
    config = SimConfig(nodes=3, duration_us=3_000_000)
    sim = Simulation(RAFT_SPEC, config, seed, faults=faults)
    r = sim.run()
    assert r.violation is None, r.violation
    assert r.crashes > 3
    assert all(isinstance(h.storage, SimDiskStorage) for h in sim.cluster.hosts)


def test_a_failed_fsync_stops_the_node_and_a_restart_brings_it_back() -> None:
    faults = FaultOptions(disk=True, fsync_fail_every_us=200_000, downtime_us_max=50_000)
    sim = Simulation(RAFT_SPEC, SimConfig(nodes=3, duration_us=1_000_000), 1, faults=faults)
    r = sim.run()
    assert r.storage_failures > 0
    assert sim.nemesis.fsync_failures == r.storage_failures
    assert r.violation is None, r.violation


# -- the Cluster alone --------------------------------------------------------------------
def test_cluster_crash_keeps_only_synced_state() -> None:
    mailbox: list[Message] = []
    cluster = Cluster(FAKE_SPEC, 3, random.Random(1), mailbox.append, record_applied=True)
    cluster.propose(1, b"a")
    assert cluster.host(1).storage.recover().entries[0].data == b"a"  # must_sync: synced
    with pytest.raises(NotLeader):
        cluster.propose(2, b"b")
    cluster.tick(1)
    for m in list(mailbox):
        cluster.deliver(m)
    for m in list(mailbox):
        if m.dst == 1:
            cluster.deliver(m)
    assert cluster.core(1).status().commit_index == 1
    # the new commit index was persisted without must_sync: not durable yet
    assert cluster.host(1).storage.recover().hard_state is None
    cluster.crash(1)
    with pytest.raises(NodeDown, match="node 1 is down"):
        cluster.propose(1, b"c")
    cluster.restart(1)
    assert cluster.core(1).status().last_index == 1
    assert cluster.core(1).status().commit_index == 0
    with pytest.raises(ValueError, match="node 1 is not down"):
        cluster.restart(1)
    with pytest.raises(ValueError, match="no node 4 in a cluster of 3"):
        cluster.host(4)


def test_cluster_messages_to_a_down_node_are_dropped() -> None:
    mailbox: list[Message] = []
    cluster = Cluster(FAKE_SPEC, 3, random.Random(1), mailbox.append, record_applied=True)
    cluster.propose(1, b"a")
    cluster.tick(1)
    to_two = [m for m in mailbox if m.dst == 2]
    assert to_two
    cluster.crash(2)
    assert cluster.deliver(to_two[0]) is False
    to_three = [m for m in mailbox if m.dst == 3]
    assert cluster.deliver(to_three[0]) is True
    for m in list(mailbox):
        if m.dst == 1:
            cluster.deliver(m)
    cluster.tick(1)
    for m in [m for m in mailbox if m.dst == 3]:
        cluster.deliver(m)
    log3 = cluster.host(3).replica.log
    assert log3 is not None and [e.data for e in log3] == [b"a"]
