"""The file stores under the real protocol cores: the simulator's Raft and Multi-Paxos
runs with every node on a simulated disk, crashed with torn writes, must stay safe."""

from __future__ import annotations

import itertools
from typing import Any

import attrs
import pytest

from consensus.sim.options import SimConfig, available_faults
from consensus.sim.simulation import run_seed
from consensus.storage import PaxosSimDiskStorage, SimDiskStorage, WalOptions
from consensus.storage.fs import CrashMode

SMALL = WalOptions(segment_bytes_max=4096)


def specs() -> dict[str, tuple[Any, type]]:
    from consensus.sim.paxos_spec import MULTIPAXOS_SPEC
    from consensus.sim.raft_spec import RAFT_SPEC

    return {
        "raft": (RAFT_SPEC, SimDiskStorage),
        "multipaxos": (MULTIPAXOS_SPEC, PaxosSimDiskStorage),
    }


@pytest.mark.parametrize("protocol", ["raft", "multipaxos"])
def test_simulated_cluster_on_simulated_disks(protocol: str) -> None:
    spec, disk = specs()[protocol]
    seeds = itertools.count()
    disks: list[Any] = []

    def make_storage() -> Any:
        disks.append(disk(next(seeds), crash_mode=CrashMode.TORN, options=SMALL))
        return disks[-1]

    on_disk = attrs.evolve(spec, make_storage=make_storage)
    # Our own disks (torn crashes) rather than the simulator's disk faults.
    faults = frozenset(available_faults(disk=False))
    config = SimConfig(nodes=3, duration_us=3_000_000, faults=faults)
    acked = 0
    for seed in range(8):
        result = run_seed(on_disk, config, seed)
        assert result.violation is None, (seed, result.violation)
        acked += result.acked
    assert acked > 0
    assert sum(d.fs.crashes for d in disks) > 0
