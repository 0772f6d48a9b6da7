"""The benchmark's ``--kv-ops`` mode runs end to end on a real 3-node cluster (tiny
counts; the figures are not checked, only that every operation ran and succeeded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consensus.runtime.bench_cluster import KV_OPS, main


@pytest.mark.parametrize("protocol", ["raft", "multipaxos"])
def test_kv_ops_runs(protocol: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(
        [
            "--kv-ops",
            "--protocol",
            protocol,
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
    report = json.loads(out[-1])
    assert report["protocol"] == protocol
    assert list(report["kv_ops"]) == list(KV_OPS)
    for op in KV_OPS:
        assert report["kv_ops"][op]["sequential"]["ops"] == 5
        assert report["kv_ops"][op]["concurrent"]["clients"] == 2
        assert f"| {op} |" in "\n".join(out)
