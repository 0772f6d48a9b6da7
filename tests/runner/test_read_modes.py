"""What each read mode gives under faults, as ``jepsen-lite run --env sim`` finds it
(``--option read_consistency=linearizable|lease|stale``; docs/kv.md, "Read consistency").

- ``stale``: a partitioned node keeps answering from its old state: not linearizable.
- ``lease``: linearizable under partitions and clock faults within the drift bound
  (``--option clock_drift_max=0.1``, the cores' ``lease_drift_max``); with a deposed
  leader whose clock runs at 0.01-0.05x (the nemesis default when clock faults are in
  the test) its lease outlives the new leader's election and the run can find stale
  reads: the bound is an assumption, not something the leader can check.

The default suite runs known seeds (the lease pair with one seed: the same fault windows,
only the clock rates differ); the ``slow`` tests search seeds from scratch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jepsen_lite.cli import main
from jepsen_lite.runner.api import TestSpec
from jepsen_lite.runner.nemesis import NemesisError, schedule
from jepsen_lite.runner.workloads.common import read_consistency

SMALL = [
    "--protocol", "raft", "--workload", "register", "--nodes", "3", "--time-limit", "6",
    "--recovery", "1", "--concurrency", "6", "--keys", "5", "--option", "reader_processes=3",
]  # fmt: skip
"""A short run: read-only clients keep reading from whichever node they reach."""
DEPOSED = [*SMALL[:7], "15", *SMALL[8:], "--nemesis", "partition,clock"]
"""Long enough for an isolate-leader partition with the leader's clock slowed."""
FULL = [
    "--protocol", "raft", "--workload", "register", "--time-limit", "30",
    "--option", "reader_processes=5",
]  # fmt: skip
"""The default run (5 nodes, 30 s), as in test_finds_bugs."""


def run(tmp_path: Path, args: list[str], seed: int, mode: str, *extra: str) -> dict[str, Any]:
    out = tmp_path / f"{mode}-{seed}-{len(extra)}"
    argv = ["run", "--env", "sim", *args, "--option", f"read_consistency={mode}", *extra]
    status = main([*argv, "--seed", str(seed), "--out", str(out)])
    (results,) = out.glob("*/2*/results.json")
    found: dict[str, Any] = json.loads(results.read_text())
    assert status == {"valid": 0, "invalid": 1, "unknown": 2}[found["verdict"]]
    (test,) = out.glob("*/2*/test.json")
    assert json.loads(test.read_text())["options"]["read_consistency"] == mode
    return found


def invalid_checkers(results: dict[str, Any]) -> list[str]:
    return [c["name"] for c in results["checkers"] if c["validity"] != "valid"]


def test_stale_reads_are_not_linearizable_under_partitions(tmp_path: Path) -> None:
    args = [*SMALL, "--nemesis", "partition"]
    assert invalid_checkers(run(tmp_path, args, 2, "stale")) == ["linearizable"]


def test_lease_reads_are_linearizable_within_the_drift_bound_and_can_go_stale_beyond_it(
    tmp_path: Path,
) -> None:
    beyond = run(tmp_path, DEPOSED, 1, "lease")  # a deposed leader's clock at 0.01-0.05x
    assert invalid_checkers(beyond) == ["linearizable"]
    # the same windows, every clock within 10% of the others
    within = run(tmp_path, DEPOSED, 1, "lease", "--option", "clock_drift_max=0.1")
    assert within["verdict"] == "valid", [c["summary"] for c in within["checkers"]]


def test_the_read_option_is_checked() -> None:
    spec = TestSpec(options={"read_consistency": "eventual"})
    with pytest.raises(ValueError, match="read_consistency must be one of linearizable, lease"):
        read_consistency(spec)
    assert read_consistency(TestSpec()) == "linearizable"
    assert read_consistency(TestSpec(options={"read_consistency": "lease"})) == "lease"


def test_clock_drift_max_bounds_every_clock_rate_and_keeps_the_windows() -> None:
    import random

    base = TestSpec(nemesis=frozenset({"partition", "clock"}), nodes=3, time_limit_s=60.0)
    free = schedule(base, random.Random(4))
    bounded = schedule(
        TestSpec(
            nemesis=base.nemesis, nodes=3, time_limit_s=60.0, options={"clock_drift_max": 0.1}
        ),
        random.Random(4),
    )
    assert [(w.start_s, w.end_s, w.fault.shape) for w in free] == [
        (w.start_s, w.end_s, w.fault.shape) for w in bounded
    ]
    rates = [
        w.fault.params.get("rate", w.fault.params.get("leader_clock_rate"))
        for w in bounded
        if w.fault.params.get("rate", w.fault.params.get("leader_clock_rate")) is not None
    ]
    assert rates and all(0.948 <= r <= 1.054 for r in rates)
    assert min(rates) / max(rates) >= 0.9 or len(set(rates)) == 1
    with pytest.raises(NemesisError, match="clock_drift_max must be a number in"):
        schedule(
            TestSpec(nemesis=frozenset({"clock"}), options={"clock_drift_max": 1.5}),
            random.Random(1),
        )


@pytest.mark.slow
def test_a_seed_search_finds_stale_reads_within_a_few_seeds(tmp_path: Path) -> None:
    args = [*FULL, "--nemesis", "partition"]
    for seed in range(1, 6):
        if run(tmp_path, args, seed, "stale")["verdict"] == "invalid":
            return
    pytest.fail("stale reads: no seed in 1..5 found a non-linearizable history")


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["raft", "multipaxos"])
def test_lease_reads_stay_linearizable_across_seeds_within_the_bound(
    tmp_path: Path, protocol: str
) -> None:
    args = [*FULL, "--nemesis", "partition,clock,kill", "--option", "clock_drift_max=0.1"]
    args[1] = protocol
    for seed in range(1, 5):
        results = run(tmp_path, args, seed, "lease")
        assert results["verdict"] == "valid", (seed, [c["summary"] for c in results["checkers"]])


@pytest.mark.slow
def test_a_seed_search_finds_stale_lease_reads_beyond_the_bound(tmp_path: Path) -> None:
    args = [*FULL, "--nemesis", "partition,clock"]
    for seed in range(1, 9):
        if run(tmp_path, args, seed, "lease")["verdict"] == "invalid":
            return
    pytest.fail("lease reads at a deposed leader's 0.01x clock: no seed in 1..8 found one")
