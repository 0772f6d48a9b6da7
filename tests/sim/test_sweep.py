"""Seed sweeps: many seeded runs of Raft under swarm-drawn faults, every invariant on.

The default suite runs ~110 short seeds; ``-m slow`` runs the long sweeps. A failure
prints each failing seed's violation and the command that replays it.
"""

from __future__ import annotations

import pytest

from consensus.cli.sim import faults_text
from consensus.sim.options import FaultKind, SimConfig, available_faults
from consensus.sim.raft_spec import RAFT_SPEC
from consensus.sim.simulation import SimResult, run_seed

ALL = frozenset(available_faults())


def sweep(config: SimConfig, seeds: range) -> list[SimResult]:
    return [run_seed(RAFT_SPEC, config, seed) for seed in seeds]


def report(failed: list[SimResult], config: SimConfig) -> str:
    faults = faults_text(config.faults, available_faults())
    return "\n".join(
        f"seed {r.seed}: {r.violation.describe() if r.violation else ''}\n"
        f"  replay: consensus sim --protocol raft --nodes {config.nodes} --seeds {r.seed} "
        f"--faults {faults} --time {config.duration_us / 1e6:g}"
        for r in failed
    )


@pytest.mark.parametrize(
    ("nodes", "seeds"), [(3, range(0, 40)), (4, range(80, 110)), (5, range(140, 180))]
)
def test_raft_sweep(nodes: int, seeds: range) -> None:
    config = SimConfig(nodes=nodes, duration_us=8_000_000, faults=ALL)
    results = sweep(config, seeds)
    failed = [r for r in results if r.violation is not None]
    assert not failed, report(failed, config)
    assert sum(r.acked for r in results) > 100 * len(results)
    assert sum(r.crashes for r in results) > 0
    assert sum(r.partitions for r in results) > 0
    assert sum(r.faults.disk for r in results) > 0


@pytest.mark.slow
@pytest.mark.parametrize("nodes", [3, 5, 7])
def test_raft_long_sweep(nodes: int) -> None:
    config = SimConfig(nodes=nodes, duration_us=30_000_000, faults=ALL)
    failed = [r for r in sweep(config, range(1000, 1300)) if r.violation is not None]
    assert not failed, report(failed, config)


@pytest.mark.slow
def test_raft_sweep_with_disk_faults() -> None:
    config = SimConfig(
        nodes=5, duration_us=20_000_000, faults=frozenset({FaultKind.DISK, FaultKind.CRASH})
    )
    results = sweep(config, range(2000, 2200))
    failed = [r for r in results if r.violation is not None]
    assert not failed, report(failed, config)
    assert sum(r.faults.disk for r in results) > 50
    assert sum(r.storage_failures for r in results) > 0
