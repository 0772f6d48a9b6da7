"""``consensus bench local`` end to end: one quick run of real raft processes (fsync on)
through the CLI, in this process; only that every cell has its figures is checked, never
their values (they depend on the machine). Also the op-mix parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consensus.bench.workload import parse_mix
from consensus.cli import main


def test_quick_local_run_has_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "local.json"
    argv = ["bench", "local", "--quick", "--runs", "1", "--seconds", "1", "--protocol", "raft"]
    assert main([*argv, "--local-warmup", "0.2", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    cells = {c["name"]: c for c in report["cells"]}
    assert list(cells) == [
        "raft n=3 seq put",
        "raft n=3 closed c=64 put",
        "raft n=3 open r=200 put",
    ]
    for cell in cells.values():
        figures = cell["figures"]
        for key in ("ops_per_s", "p50_ms", "p99_ms", "p99.9_ms", "errors", "cpu_us_per_op"):
            assert key in figures, (cell["name"], key)
        assert figures["ops_per_s"] > 0
        assert "cpu_us_per_op_leader" in figures and "cpu_us_per_op_client" in figures
        assert figures["rss_mib"] >= figures["rss_mib_leader"] > 1
        # each write is replicated to two followers and fsynced on at least a quorum
        assert figures["messages_per_op"] > 0 and figures["bytes_per_op"] > 16
        assert figures["fsyncs_per_op"] > 0
    assert cells["raft n=3 open r=200 put"]["figures"]["offered_per_s"] == 200
    assert report["skipped"] == []
    assert "raft n=3 seq put" in capsys.readouterr().out


def test_parse_mix() -> None:
    assert parse_mix("put") == {"put": 1.0}
    assert parse_mix("put=75,get=25") == {"put": 0.75, "get": 0.25}
    with pytest.raises(ValueError, match="unknown operation 'scan'"):
        parse_mix("put,scan")
    with pytest.raises(ValueError, match="must be positive"):
        parse_mix("put=0")
