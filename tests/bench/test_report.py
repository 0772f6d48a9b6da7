"""The bench report format: medians and spreads over runs, JSON, table, CLI errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from consensus.bench.latency import Latency
from consensus.bench.report import SCHEMA, BenchReport
from consensus.cli import main


def test_cell_median_and_spread_over_runs() -> None:
    report = BenchReport(argv=[])
    cell = report.cell("local", "raft n=3", {"protocol": "raft", "nodes": 3})
    for ops in (100.0, 300.0, 200.0):
        cell.add_run({"ops_per_s": ops, "p50_ms": ops / 100})
    assert cell.figures == {"ops_per_s": 200.0, "p50_ms": 2.0}
    assert cell.spread["ops_per_s"] == [100.0, 300.0]


def test_a_figure_that_is_not_finite_is_refused() -> None:
    cell = BenchReport(argv=[]).cell("x", "y", {})
    with pytest.raises(ValueError, match="ops_per_s"):
        cell.add_run({"ops_per_s": math.nan})


def test_latency_percentiles_are_within_a_tenth_of_a_percent() -> None:
    lat = Latency()
    for i in range(1, 10_001):
        lat.record(i / 1e5)  # 0.01 ms .. 100 ms
    figures = lat.figures()
    assert lat.count == 10_000
    assert figures["p50_ms"] == pytest.approx(50.0, rel=2e-3)
    assert figures["p99.9_ms"] == pytest.approx(99.9, rel=2e-3)


def test_json_holds_machine_load_and_cells(tmp_path: Path) -> None:
    report = BenchReport(argv=["bench"])
    report.cell("sim", "c", {"nodes": 3}).add_run({"messages_per_op": 4.0})
    report.finish()
    report.write_json(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["schema"] == SCHEMA
    assert data["machine"]["cpus"] >= 1 and len(data["machine"]["load_after"]) == 3
    assert data["cells"][0]["figures"] == {"messages_per_op": 4.0}


def test_unknown_suite_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "no-such-suite"]) == 2
    err = capsys.readouterr().err
    assert "unknown suite no-such-suite" in err and "known:" in err


def test_json_into_a_missing_directory_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "sim", "--json", str(tmp_path / "no" / "r.json")]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_plot_without_throughput_cells_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "sim", "--quick", "--runs", "1", "--sim-seeds", "1", "--protocol", "raft"]
    assert main([*argv, "--plot", str(tmp_path / "p.png")]) == 3
    assert "no cell of this run has a throughput figure" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--runs", "0"], "argument --runs: expected a whole number > 0, got '0'"),
        (["--seconds", "-1"], "argument --seconds: expected a number > 0, got '-1'"),
        (["local", "--local-clients", "0"], "argument --local-clients: expected a whole number"),
        (["local", "--local-mix", "scan"], "unknown operation 'scan'"),
    ],
)
def test_bad_numbers_and_mixes_are_refused_when_the_command_line_is_read(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
