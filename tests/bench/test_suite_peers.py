"""The ``peers`` and ``embedded`` suites: one tiny run each (real processes, ~5 s wall)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import trio

from consensus.bench.report import BenchReport
from consensus.bench.suites import embedded
from consensus.cli import main


def _args(**extra: object) -> argparse.Namespace:
    return argparse.Namespace(
        runs=1, quick=True, seconds=0.5, protocols=None, node_counts=None, peers=True, **extra
    )


@pytest.mark.skipif(
    shutil.which("etcd") is None, reason="etcd not installed: apt-get install etcd-server"
)
def test_peers_etcd_quick_run(tmp_path: Path) -> None:
    """etcd runs the very matrix of the local suite, with its options, through the CLI."""
    out = tmp_path / "peers.json"
    argv = ["bench", "peers", "--quick", "--runs", "1", "--seconds", "0.5"]
    argv += ["--local-warmup", "0.2", "--local-clients", "8", "--local-rate", "50"]
    assert main([*argv, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    names = [c["name"] for c in report["cells"]]
    assert names == ["etcd n=3 seq put", "etcd n=3 closed c=8 put", "etcd n=3 open r=50 put"]
    for cell in report["cells"]:
        assert cell["params"]["protocol"] == "etcd"
        assert cell["figures"]["ops_per_s"] > 0 and cell["figures"]["errors"] == 0
    assert report["versions"]["etcd"]


@pytest.mark.skipif(
    shutil.which("etcd") is None, reason="etcd not installed: apt-get install etcd-server"
)
def test_etcd_target_operations() -> None:
    from consensus.bench.etcd_target import EtcdTarget

    async def main() -> None:
        target = EtcdTarget(3)
        await target.start()
        try:
            assert len(target.pids()) == 3
            async with target.open_client() as client:
                s = client.session()
                assert await s.get("a") is None
                assert await s.cas("a", None, b"1")
                assert not await s.cas("a", None, b"2")
                assert await s.cas("a", b"1", b"3")
                await s.put("b", b"x")
                assert await s.txn([("a", b"3"), ("c", None)], [("a", b"4"), ("c", b"5")])
                assert not await s.txn([("a", b"3")], [("a", b"6")])
                assert await s.get("a") == b"4"
                assert await s.get("c") == b"5"
                assert await s.get("b") == b"x"
        finally:
            await target.stop()
        assert target.pids() == {}

    trio.run(main)


def test_embedded_raft_quick_run() -> None:
    report = BenchReport(argv=[])
    have_pso = importlib.util.find_spec("pysyncobj") is not None
    embedded.run(_args(embedded_windows="100", embedded_election_ms=300), report)
    names = {c.name for c in report.cells}
    assert "raft embedded n=3 w=100" in names
    if have_pso:
        assert "pysyncobj n=3 w=100" in names
    else:
        assert any("pip install pysyncobj" in s["why"] for s in report.skipped)
    for cell in report.cells:
        assert cell.figures["ops_per_s"] > 0
        f = cell.figures
        assert f["cpu_us_per_op"] == pytest.approx(
            f["cpu_us_per_op_leader"] + f["cpu_us_per_op_followers"]
        )
        assert "pid" not in f
        if cell.params["protocol"] == "pysyncobj":
            assert any("does not fsync" in n for n in cell.notes)
