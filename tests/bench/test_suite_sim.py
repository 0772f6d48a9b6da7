"""Suite ``sim`` of ``consensus bench``: one quick run in-process, checked for the protocol
steps it must count (a Raft command commits in one round trip, every cell has figures)."""

from __future__ import annotations

import argparse

import pytest

from consensus.bench.report import BenchReport
from consensus.bench.suites import sim
from consensus.cli.bench import configure


@pytest.fixture(scope="module")
def report() -> BenchReport:
    parser = argparse.ArgumentParser()
    configure(parser)
    args = parser.parse_args(["sim", "--quick", "--runs", "1", "--sim-seeds", "1"])
    out = BenchReport(argv=["sim", "--quick"])
    sim.run(args, out)
    return out


def _cell(report: BenchReport, protocol: str, nodes: int, scenario: str) -> dict[str, float]:
    for cell in report.cells:
        p = cell.params
        if (p["protocol"], p["nodes"], p["scenario"]) == (protocol, nodes, scenario):
            assert p["env"] == "sim"
            return cell.figures
    raise AssertionError(f"no cell {protocol} n={nodes} {scenario}")


def test_every_protocol_and_scenario_has_a_cell_per_node_count(report: BenchReport) -> None:
    for protocol in ("raft", "multipaxos"):
        for scenario in sim.SCENARIOS:
            assert _cell(report, protocol, 3, scenario)
    assert _cell(report, "paxos-lwt", 3, "steady")
    assert any(s["what"] == "paxos-lwt/leader-crash" for s in report.skipped)
    assert {c.params["nodes"] for c in report.cells} == {3}


def test_steady_state_counts_protocol_steps(report: BenchReport) -> None:
    raft = _cell(report, "raft", 3, "steady")
    assert raft["round_trips_per_op"] == 1.0  # leader -> followers -> leader
    assert _cell(report, "multipaxos", 3, "steady")["round_trips_per_op"] == 1.0
    assert _cell(report, "paxos-lwt", 3, "steady")["round_trips_per_op"] == 2.0  # prepare, accept
    for cell in report.cells:
        figures = cell.figures
        if cell.params["scenario"] == "leader-crash":
            assert figures["unavailable_ms"] > 0
            assert figures["messages_during_crash"] > 0
        else:
            assert figures["messages_per_op"] >= figures["messages_per_op_no_hb"] > 0
            assert figures["bytes_per_op"] > 0
            assert figures["fsyncs_per_op"] >= 1


def test_multipaxos_sends_one_accept_and_one_accepted_per_follower() -> None:
    figures = sim.pipelined(sim.SPECS["multipaxos"], 3, seed=0, rpt=5)
    assert figures["messages_per_op_no_hb"] == 4.0
