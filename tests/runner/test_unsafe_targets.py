"""``jepsen-lite run`` catches the two unsafe replication designs (issue 14; the targets
are :mod:`consensus.unsafe`): under partitions and clock faults it reports lost
acknowledged writes and a non-linearizable history, with the checkers' explanation; the
same test against Raft and Multi-Paxos passes.

The default suite runs one known seed per design and per safe protocol; the ``slow``
tests search seeds from scratch (the figures are in docs/jepsen-run.md) and run both
designs in the ``local`` environment (real ``consensus serve`` processes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from consensus.cli import main as consensus_main
from jepsen_lite.cli import main

TEST = [
    "--nodes", "3", "--workload", "register", "--nemesis", "partition,clock",
    "--time-limit", "6", "--recovery", "2",
]  # fmt: skip
"""Three nodes, partitions and clock faults, six seconds of virtual time."""


def run(out: Path, protocol: str, seed: int, *extra: str) -> dict[str, Any]:
    argv = ["run", "--protocol", protocol, *TEST, *extra, "--seed", str(seed), "--out", str(out)]
    status = main(argv)
    (results,) = out.glob("*/2*/results.json")
    found: dict[str, Any] = json.loads(results.read_text())
    assert status == {"valid": 0, "invalid": 1, "unknown": 2}[found["verdict"]]
    return found


def invalid_checkers(results: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["summary"] for c in results["checkers"] if c["validity"] == "invalid"}


@pytest.mark.parametrize(("protocol", "seed"), [("unsafe-primary-backup", 1), ("unsafe-lww", 1)])
def test_each_unsafe_design_is_caught_with_an_explanation(
    tmp_path: Path, protocol: str, seed: int, capsys: pytest.CaptureFixture[str]
) -> None:
    results = run(tmp_path, protocol, seed)
    assert results["verdict"] == "invalid"
    bad = invalid_checkers(results)
    # the verdict comes from what clients saw, not from the environment's own checks
    assert set(bad) <= {"linearizable", "lost-writes"}, bad
    assert "cannot linearize" in bad["linearizable"]
    assert "final reads saw a lost state" in bad["lost-writes"]
    assert "overwritten for certain by write" in bad["lost-writes"]
    lost = next(c for c in results["checkers"] if c["name"] == "lost-writes")["details"]["lost"]
    assert lost and all(case["superseded_by"].startswith("write ") for case in lost)
    assert "verdict: invalid" in capsys.readouterr().out


@pytest.mark.parametrize(("protocol", "seed"), [("raft", 1), ("multipaxos", 2), ("paxos-lwt", 3)])
def test_the_same_test_passes_against_consensus(tmp_path: Path, protocol: str, seed: int) -> None:
    results = run(tmp_path, protocol, seed)
    assert results["verdict"] == "valid", invalid_checkers(results)


def test_serve_refuses_an_unsafe_protocol_without_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["serve", "--id", "1", "--listen", "127.0.0.1:1", "--cluster-id", "c"]
    assert consensus_main([*argv, "--protocol", "unsafe-lww"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--allow-unsafe-protocol" in err
    assert "loses acknowledged writes" in err


def test_run_names_the_unsafe_targets_for_an_unknown_protocol(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--protocol", "unsafe-nothing", "--seed", "1"]) == 3
    err = capsys.readouterr().err
    assert "unsafe-primary-backup" in err and "Traceback" not in err


SEEDS = range(1, 11)


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["unsafe-primary-backup", "unsafe-lww"])
def test_a_seed_search_finds_each_design(tmp_path: Path, protocol: str) -> None:
    """How many of seeds 1-10 find it (printed; docs/jepsen-run.md has the figures)."""
    found = [s for s in SEEDS if run(tmp_path / str(s), protocol, s)["verdict"] == "invalid"]
    print(f"{protocol}: found at seeds {found} of {SEEDS.start}-{SEEDS.stop - 1}")
    assert found


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["raft", "multipaxos", "paxos-lwt"])
def test_the_seed_search_passes_against_consensus(tmp_path: Path, protocol: str) -> None:
    for seed in SEEDS:
        results = run(tmp_path / str(seed), protocol, seed)
        assert results["verdict"] == "valid", (seed, invalid_checkers(results))


@pytest.mark.slow
@pytest.mark.parametrize(("protocol", "seed"), [("unsafe-primary-backup", 2), ("unsafe-lww", 1)])
def test_the_local_environment_catches_each_design(
    tmp_path: Path, protocol: str, seed: int
) -> None:
    """Real ``consensus serve --allow-unsafe-protocol`` processes, through the proxy."""
    results = run(
        tmp_path,
        protocol,
        seed,
        "--env",
        "local",
        "--time-limit",
        "15",
        "--nemesis",
        "clock,partition",
    )
    assert results["verdict"] == "invalid"
    assert set(invalid_checkers(results)) & {"linearizable", "lost-writes"}
