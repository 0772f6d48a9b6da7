"""The ``peers`` and ``embedded`` suites: one tiny run each (real processes, ~5 s wall)."""

from __future__ import annotations

import argparse
import importlib.util
import shutil

import pytest

from consensus.bench.report import BenchReport
from consensus.bench.suites import embedded, peers


def _args(**extra: object) -> argparse.Namespace:
    return argparse.Namespace(
        runs=1, quick=True, seconds=1.0, protocols=None, node_counts=None, peers=True, **extra
    )


@pytest.mark.skipif(
    shutil.which("etcd") is None, reason="etcd not installed: apt-get install etcd-server"
)
def test_peers_etcd_quick_run() -> None:
    report = BenchReport(argv=[])
    peers.run(_args(peers_clients=8, peers_connections=8), report)
    names = [c.name for c in report.cells]
    assert names == ["etcd n=3 sequential put", "etcd n=3 closed c=8 put"]
    for cell in report.cells:
        assert cell.params["protocol"] == "etcd"
        assert cell.figures["ops_per_s"] > 0


def test_embedded_raft_quick_run() -> None:
    report = BenchReport(argv=[])
    have_pso = importlib.util.find_spec("pysyncobj") is not None
    embedded.run(_args(embedded_windows="100"), report)
    names = {c.name for c in report.cells}
    assert "raft embedded n=3 w=100" in names
    if have_pso:
        assert "pysyncobj n=3 w=100" in names
    else:
        assert any("pip install pysyncobj" in s["why"] for s in report.skipped)
    for cell in report.cells:
        assert cell.figures["ops_per_s"] > 0
        if cell.params["protocol"] == "pysyncobj":
            assert any("does not fsync" in n for n in cell.notes)
