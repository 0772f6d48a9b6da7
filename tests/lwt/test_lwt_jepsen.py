"""``jepsen-lite run --protocol paxos-lwt`` in the sim environment, every nemesis (disk
faults included): short register and cas-register runs are valid. Longer sweeps:
``-m slow``."""

from __future__ import annotations

from pathlib import Path

import pytest

from jepsen_lite.runner.api import FAULT_KINDS, TestSpec, Validity
from jepsen_lite.runner.envs.sim import SimEnvironment
from jepsen_lite.runner.run import RunResult, run_test


def run(tmp_path: Path, workload: str, seed: int, time_limit_s: float, nodes: int) -> RunResult:
    spec = TestSpec(
        workload=workload,
        nemesis=frozenset(FAULT_KINDS),
        protocol="paxos-lwt",
        nodes=nodes,
        concurrency=4,
        time_limit_s=time_limit_s,
        seed=seed,
        rate=30.0,
        keys=4,
    )
    folder = tmp_path / f"{workload}-{seed}"
    folder.mkdir()
    return run_test(spec, SimEnvironment(), folder)


def check(result: RunResult) -> None:
    verdicts = {c.name: c for c in result.checkers}
    assert result.validity is Validity.VALID, {n: c.summary for n, c in verdicts.items()}
    assert verdicts["linearizable"].validity is Validity.VALID


@pytest.mark.parametrize(("workload", "seed"), [("register", 3), ("cas-register", 4)])
def test_a_short_run_with_every_nemesis_is_valid(tmp_path: Path, workload: str, seed: int) -> None:
    result = run(tmp_path, workload, seed, time_limit_s=3, nodes=3)
    check(result)
    assert result.counts["ok"] > 20 and result.faults


@pytest.mark.slow
@pytest.mark.parametrize("workload", ["register", "cas-register"])
@pytest.mark.parametrize("seed", range(10, 20))
def test_runs_of_20_s_on_5_nodes_are_valid(tmp_path: Path, workload: str, seed: int) -> None:
    check(run(tmp_path, workload, seed, time_limit_s=20, nodes=5))
