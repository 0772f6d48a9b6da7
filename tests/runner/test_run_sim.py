"""``jepsen-lite run`` end to end in the real ``sim`` environment with the real register
workload (skipped until both are installed): a short run is valid, and ``replay``
reproduces its history byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jepsen_lite.cli import main

pytest.importorskip("jepsen_lite.runner.envs.sim")
pytest.importorskip("jepsen_lite.runner.workloads.register")


def test_a_short_sim_run_is_valid_and_replays_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "run", "--env", "sim", "--workload", "register", "--nemesis", "all", "--nodes", "3",
        "--concurrency", "4", "--time-limit", "8", "--rate", "30", "--keys", "4",
        "--seed", "3", "--out", str(tmp_path), "--report", "never",
    ]  # fmt: skip
    assert main(argv) in (0, 2), capsys.readouterr().out  # unknown: a disk victim unread
    (folder,) = [p for p in (tmp_path / "raft-register-all").iterdir() if p.name != "latest"]
    results = json.loads((folder / "results.json").read_text())
    verdicts = {c["name"]: c["validity"] for c in results["checkers"]}
    assert verdicts["availability"] == "valid" and verdicts["invariants"] == "valid"
    assert "invalid" not in verdicts.values()
    assert results["ops"]["ok"] > 50 and results["faults"]
    capsys.readouterr()
    main(["replay", str(folder), "--report", "never"])
    assert "history: byte-identical" in capsys.readouterr().out
