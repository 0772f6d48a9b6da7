"""Hops and messages of one uncontended operation, counted in the simulator."""

from __future__ import annotations

import pytest

from consensus.sim.lwt_spec import LWT_SPEC
from consensus.sim.paxos_spec import MULTIPAXOS_SPEC
from consensus.sim.raft_spec import RAFT_SPEC
from consensus.sim.round_trips import count, main


@pytest.mark.parametrize("nodes", [3, 5])
def test_an_uncontended_lwt_operation_takes_two_round_trips(nodes: int) -> None:
    for c in count(LWT_SPEC, nodes):
        # prepare + promise + accept + accepted, to and from every other node
        assert (c.hops, c.messages) == (4, 4 * (nodes - 1)), c


def test_leader_based_protocols_take_one_round_trip_at_the_leader() -> None:
    for spec in (RAFT_SPEC, MULTIPAXOS_SPEC):
        for c in count(spec, 5):
            assert c.hops == 2 and c.messages >= 2 * 4, c


def test_the_command_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--nodes", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["protocol", "op"]
    assert len(lines) == 7
    assert main(["--nodes", "0"]) == 2
