"""``jepsen-lite run --env etcd`` against a real 3-member etcd: linearizable with etcd's
default (linearizable) reads under kill, pause and partition faults; with serializable
reads, the stale reads a partition allows are found (a counterexample from the
linearizability checker). Real runs of 15-30 s each: ``slow``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jepsen_lite.cli import main

from .etcd_support import needs_etcd

pytestmark = [pytest.mark.slow, needs_etcd]

STALE_READS = [
    "--nodes", "3", "--workload", "register", "--nemesis", "partition",
    "--time-limit", "15", "--keys", "4", "--option", "reader_processes=5",
]  # fmt: skip
"""Read-only clients pinned to their members (5 of 10 workers), the others writing; 4
keys, so each is written several times a second; each partition cuts one member off
(or, as a bridge, two members from each other)."""


def run(tmp_path: Path, args: list[str], seed: int) -> dict[str, Any]:
    out = tmp_path / f"seed-{seed}"
    status = main(["run", "--env", "etcd", *args, "--seed", str(seed), "--out", str(out)])
    (results,) = out.glob("*/2*/results.json")
    found: dict[str, Any] = json.loads(results.read_text())
    assert status == {"valid": 0, "invalid": 1, "unknown": 2}[found["verdict"]]
    return found


def checker(results: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in results["checkers"] if c["name"] == name]
    return found


@pytest.mark.parametrize(("workload", "seed"), [("register", 1), ("cas-register", 4)])
def test_etcd_is_linearizable_with_its_default_reads(
    tmp_path: Path, workload: str, seed: int
) -> None:
    args = ["--nodes", "3", "--workload", workload, "--nemesis", "kill,pause,partition"]
    results = run(tmp_path, [*args, "--time-limit", "30"], seed)
    assert results["verdict"] == "valid", results["checkers"]
    assert {f["kind"] for f in results["faults"]} == {"kill", "pause", "partition"}
    assert results["ops"]["ok"] > 500


def test_serializable_reads_are_found_stale_under_a_partition(tmp_path: Path) -> None:
    stale = run(tmp_path / "serializable", [*STALE_READS, "--option", "etcd_serializable=true"], 1)
    assert stale["verdict"] == "invalid"
    linearizable = checker(stale, "linearizable")
    assert linearizable["validity"] == "invalid"
    assert linearizable["details"]["counterexample"]["operation"].startswith("read")
    # the same test with etcd's default reads: the partition costs reads, not safety
    assert run(tmp_path / "linearizable", STALE_READS, 1)["verdict"] == "valid"
