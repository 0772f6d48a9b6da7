"""Multi-Paxos in the simulator: seed sweeps with every fault, the Paxos invariant
checker, and proof that the checker can fail."""

from __future__ import annotations

import pytest

from consensus.core import Ready
from consensus.errors import InvariantViolation
from consensus.messages import AcceptedRecord, Ballot, PaxosHardState
from consensus.paxos import proposer
from consensus.sim.options import SimConfig, available_faults
from consensus.sim.paxos_spec import MULTIPAXOS_SPEC, MultiPaxosInvariants
from consensus.sim.protocols import protocols
from consensus.sim.simulation import run_seed
from consensus.types import Entry

from .helpers import new_core

ALL_FAULTS = frozenset(available_faults(disk=MULTIPAXOS_SPEC.make_disk_storage is not None))


def sweep(seeds: range, nodes: int) -> list[str]:
    config = SimConfig(nodes=nodes, faults=ALL_FAULTS)
    failures = []
    for seed in seeds:
        result = run_seed(MULTIPAXOS_SPEC, config, seed)
        if result.violation is not None:
            failures.append(f"seed {seed}: {result.violation.describe()}")
        elif result.acked == 0:
            failures.append(f"seed {seed}: nothing acknowledged")
    return failures


def test_multipaxos_is_registered_with_the_simulator() -> None:
    assert protocols()["multipaxos"] is MULTIPAXOS_SPEC


@pytest.mark.slow
def test_fifty_seeds_with_all_faults_stay_safe_and_recover_after_heal() -> None:
    # Each run ends with a heal phase in which probes must commit and every node must
    # converge (the simulator's liveness check); a violation of any kind fails the seed.
    assert sweep(range(50), nodes=3) == []


def test_five_seeds_on_five_nodes_with_all_faults() -> None:
    assert sweep(range(100, 105), nodes=5) == []


@pytest.mark.slow
def test_a_thousand_seeds_on_three_and_five_nodes() -> None:
    assert sweep(range(1000, 2000), nodes=3) == []
    assert sweep(range(105, 110), nodes=5) == []  # once in the default suite
    assert sweep(range(2000, 2500), nodes=5) == []


def test_the_same_seed_replays_identically() -> None:
    config = SimConfig(nodes=3, faults=ALL_FAULTS)
    assert run_seed(MULTIPAXOS_SPEC, config, 7) == run_seed(MULTIPAXOS_SPEC, config, 7)


def test_the_checker_catches_a_proposer_that_ignores_phase_one_votes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = proposer.RangePhaseOne.promised

    def forgetful(self: proposer.RangePhaseOne, acceptor: int, commit: int, votes: object) -> None:
        real(self, acceptor, commit, ())

    monkeypatch.setattr(proposer.RangePhaseOne, "promised", forgetful)
    config = SimConfig(nodes=3, faults=ALL_FAULTS)
    found = [run_seed(MULTIPAXOS_SPEC, config, seed).violation for seed in range(5)]
    assert any(v is not None and v.invariant == "one-value-per-slot" for v in found)


# -- the invariant checker on its own ---------------------------------------------------
B1, B2 = Ballot(1, 1), Ballot(2, 2)
X = Entry(1, B1.as_term(), b"x")
Y = Entry(1, B2.as_term(), b"y")


def test_two_values_learned_at_one_slot_are_a_violation() -> None:
    inv = MultiPaxosInvariants()
    core = new_core(1)
    inv.observe(1, core, Ready(entries=(X,)))
    with pytest.raises(InvariantViolation, match="one-value-per-slot: slot 1"):
        inv.observe(2, core, Ready(entries=(Y,)))


def test_a_majority_vote_counts_as_chosen_even_if_nobody_learned_it() -> None:
    inv = MultiPaxosInvariants()
    core = new_core(1)
    for node in (1, 2):
        inv.observe(node, core, Ready(hard_state=PaxosHardState(B1, 0, (AcceptedRecord(B1, X),))))
    with pytest.raises(InvariantViolation, match=r"is chosen \(a majority voted for it"):
        inv.observe(3, core, Ready(committed=(Y,)))


def test_one_ballot_voting_two_values_at_a_slot_is_a_violation() -> None:
    inv = MultiPaxosInvariants()
    core = new_core(1)
    other = Entry(1, B1.as_term(), b"other")
    inv.observe(1, core, Ready(hard_state=PaxosHardState(B1, 0, (AcceptedRecord(B1, X),))))
    with pytest.raises(InvariantViolation, match=r"ballot \(1, 1\) proposed"):
        inv.observe(2, core, Ready(hard_state=PaxosHardState(B1, 0, (AcceptedRecord(B1, other),))))


def test_delivering_out_of_slot_order_is_a_violation() -> None:
    inv = MultiPaxosInvariants()
    with pytest.raises(InvariantViolation, match="apply-order: node 1 delivered slot 2 after 0"):
        inv.observe(1, new_core(1), Ready(committed=(Entry(2, 5, b"x"),)))


def test_a_promise_going_back_is_a_violation() -> None:
    inv = MultiPaxosInvariants()
    core = new_core(1)
    inv.observe(1, core, Ready(hard_state=PaxosHardState(B2, 0, ()), must_sync=True))
    with pytest.raises(InvariantViolation, match=r"promise-monotone: node 1 promised \(1, 1\)"):
        inv.observe(1, core, Ready(hard_state=PaxosHardState(B1, 0, ()), must_sync=True))
    with pytest.raises(
        InvariantViolation, match=r"restarted promising \(0, 0\), below the \(2, 2\)"
    ):
        inv.restarted(1, new_core(1))
