"""``jepsen-lite run --env sim`` finds a broken safety rule in a real core (the test-only
``--broken`` switches of :mod:`jepsen_lite.runner.broken`), with a history the checker
rejects and a counterexample; the same run without the switch passes.

The default suite runs one known seed per switch (a regression check that the whole
chain, nemesis to checker, still catches it); the ``slow`` tests search a range of seeds
from scratch, as a user hunting the bug would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jepsen_lite.cli import main

READ_WITHOUT_QUORUM = [
    "--protocol", "raft", "--workload", "register", "--nemesis", "partition,clock",
    "--time-limit", "30", "--option", "reader_processes=5",
]  # fmt: skip
"""A deposed leader (isolated, its clock slowed) that answers reads without the heartbeat
round; read-only clients keep reading from it while a new leader takes writes."""
PROMISE_IGNORES_ACCEPTED = [
    "--protocol", "multipaxos", "--nodes", "3", "--workload", "register",
    "--nemesis", "kill,partition", "--time-limit", "20",
]  # fmt: skip
"""A new Multi-Paxos leader whose phase 1 drops what the acceptors had accepted."""
VOTE_WITHOUT_LOG_CHECK = [
    "--protocol", "raft", "--nodes", "3", "--workload", "register",
    "--nemesis", "kill,partition", "--time-limit", "12", "--recovery", "2",
]  # fmt: skip
"""Raft votes granted without the log up-to-date check: a stale node can win."""


def run(tmp_path: Path, args: list[str], seed: int, broken: str | None) -> dict[str, Any]:
    out = tmp_path / (broken or "clean")
    argv = ["run", "--env", "sim", *args, "--seed", str(seed), "--out", str(out)]
    argv += ["--report", "never"]  # reports are tested in test_report.py
    if broken is not None:
        argv += ["--broken", broken]
    status = main(argv)
    (results,) = out.glob("*/2*/results.json")
    found: dict[str, Any] = json.loads(results.read_text())
    assert status == {"valid": 0, "invalid": 1, "unknown": 2}[found["verdict"]]
    return found


def checker(results: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in results["checkers"] if c["name"] == name]
    return found


@pytest.mark.parametrize(
    ("args", "seed", "broken"),
    [
        (READ_WITHOUT_QUORUM, 1, "read-without-quorum"),
        (PROMISE_IGNORES_ACCEPTED, 5, "promise-ignores-accepted"),
    ],
)
def test_a_broken_core_fails_its_run_and_the_same_run_passes_without_it(
    tmp_path: Path, args: list[str], seed: int, broken: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = run(tmp_path, args, seed, broken)
    assert bad["verdict"] == "invalid"
    lin = checker(bad, "linearizable")
    assert lin["validity"] == "invalid" and "cannot linearize" in lin["summary"]
    assert "--broken " + broken in " ".join(bad["replay"])
    good = run(tmp_path, args, seed, None)
    assert good["verdict"] == "valid", [c["summary"] for c in good["checkers"]]
    out = capsys.readouterr().out
    assert "verdict: invalid" in out and "verdict: valid" in out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "broken", "seeds"),
    [
        (READ_WITHOUT_QUORUM, "read-without-quorum", range(1, 7)),
        (PROMISE_IGNORES_ACCEPTED, "promise-ignores-accepted", range(1, 9)),
        (VOTE_WITHOUT_LOG_CHECK, "vote-without-log-check", range(1, 13)),
    ],
)
def test_a_seed_search_finds_each_broken_core(
    tmp_path: Path, args: list[str], broken: str, seeds: range
) -> None:
    for seed in seeds:
        results = run(tmp_path / str(seed), args, seed, broken)
        if results["verdict"] == "invalid":
            bad = [c["name"] for c in results["checkers"] if c["validity"] == "invalid"]
            assert "linearizable" in bad or "invariants" in bad
            return
    pytest.fail(f"{broken}: no seed in {seeds} found it")
