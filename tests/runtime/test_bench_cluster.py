"""The benchmark's ``--kv-ops`` mode runs end to end on a real 3-node cluster of each
protocol, both in one run (tiny counts; the figures are not checked, only that every
operation ran and succeeded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consensus.runtime.bench_cluster import KV_OPS, main


def test_kv_ops_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(
        [
            "--kv-ops",
            "--protocol",
            "raft",
            "--protocol",
            "multipaxos",
            "--writes",
            "5",
            "--clients",
            "2",
            "--seconds",
            "0.1",
            "--data-dir",
            str(tmp_path / "data"),
        ]
    )
    out = capsys.readouterr().out.strip().splitlines()
    reports = [json.loads(line) for line in out if line.startswith("{")]
    assert [r["protocol"] for r in reports] == ["raft", "multipaxos"]
    assert "get-lease" in KV_OPS and "get-stale" in KV_OPS
    for report in reports:
        assert list(report["kv_ops"]) == list(KV_OPS)
        for op in KV_OPS:
            assert report["kv_ops"][op]["sequential"]["ops"] == 5
            assert report["kv_ops"][op]["concurrent"]["clients"] == 2
    for op in KV_OPS:
        assert sum(f"| {op} |" in line for line in out) == 2


def test_more_than_one_protocol_needs_kv_ops(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--protocol", "raft", "--protocol", "multipaxos"])
    assert exit_.value.code == 2
    assert "--protocol more than once needs --kv-ops" in capsys.readouterr().err
