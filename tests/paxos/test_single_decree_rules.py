"""The single-decree pieces, one textbook rule per test ("init, step, check").

Rules from Lamport's "Paxos Made Simple": an acceptor promises a Prepare whose ballot is
at least every ballot it promised (P1a) and reports its vote; it accepts an Accept unless
it promised a higher ballot; a proposer with a majority of promises proposes the value of
the highest-ballot vote reported (P2c), or its own if none; a value is chosen when a
majority accepted it in one ballot.
"""

from __future__ import annotations

import pytest

from consensus.errors import InvariantViolation
from consensus.messages import ZERO_BALLOT, AcceptedRecord, Ballot
from consensus.paxos.acceptor import AcceptorState, on_accept, on_prepare
from consensus.paxos.learner import AcceptTally, Learner
from consensus.paxos.proposer import PhaseOne, RangePhaseOne, highest, next_ballot
from consensus.quorum import VoteResult
from consensus.types import Entry

B1 = Ballot(1, 1)
B2 = Ballot(1, 2)
B3 = Ballot(2, 1)
V = Entry(1, B1.as_term(), b"v")
W = Entry(1, B2.as_term(), b"w")


# -- ballots ----------------------------------------------------------------------------
def test_ballots_order_by_round_then_node() -> None:
    assert ZERO_BALLOT < B1 < B2 < B3
    assert sorted([B3, B1, B2]) == [B1, B2, B3]


def test_ballot_term_encoding_is_order_preserving_and_invertible() -> None:
    assert B1.as_term() == 2**16 + 1
    assert Ballot.from_term(B3.as_term()) == B3
    assert B1.as_term() < B2.as_term() < B3.as_term()


def test_ballot_with_an_unencodable_node_id_is_refused() -> None:
    with pytest.raises(ValueError, match="node ids must be < 65536"):
        Ballot(1, 2**16).as_term()
    with pytest.raises(ValueError, match="an encoded ballot is >= 0, got -1"):
        Ballot.from_term(-1)


def test_next_ballot_is_the_next_round_with_own_node_id() -> None:
    assert next_ballot(3, B2) == Ballot(2, 3)
    assert next_ballot(3, B2) > B2


# -- acceptor ---------------------------------------------------------------------------
def test_acceptor_promises_a_ballot_above_its_promise() -> None:
    state, ok = on_prepare(AcceptorState(), B1)
    assert ok and state.promised == B1


def test_acceptor_refuses_a_prepare_below_its_promise() -> None:
    state, ok = on_prepare(AcceptorState(B2), B1)
    assert not ok and state.promised == B2


def test_acceptor_answers_a_duplicated_prepare_the_same_way() -> None:
    state, _ = on_prepare(AcceptorState(), B1)
    again, ok = on_prepare(state, B1)
    assert ok and again == state


def test_acceptor_promise_keeps_its_vote_to_report() -> None:
    vote = AcceptedRecord(B1, V)
    state, ok = on_prepare(AcceptorState(B1, vote), B2)
    assert ok and state.accepted == vote and state.promised == B2


def test_acceptor_accepts_at_its_promised_ballot() -> None:
    state, ok = on_accept(AcceptorState(B1), B1, V)
    assert ok and state.accepted == AcceptedRecord(B1, V)


def test_acceptor_accepting_a_higher_ballot_raises_its_promise() -> None:
    state, ok = on_accept(AcceptorState(B1), B2, W)
    assert ok and state.promised == B2 and state.accepted == AcceptedRecord(B2, W)


def test_acceptor_refuses_an_accept_below_its_promise() -> None:
    state, ok = on_accept(AcceptorState(B2), B1, V)
    assert not ok and state.accepted is None


def test_acceptor_duplicated_accept_changes_nothing() -> None:
    state, _ = on_accept(AcceptorState(), B1, V)
    again, ok = on_accept(state, B1, V)
    assert ok and again == state


def test_two_values_in_one_ballot_are_an_invariant_violation() -> None:
    state, _ = on_accept(AcceptorState(), B1, V)
    with pytest.raises(InvariantViolation, match=r"slot 1: ballot 1\.1 proposed two values"):
        on_accept(state, B1, Entry(1, B1.as_term(), b"other"))


def test_acceptor_state_cannot_hold_a_vote_above_its_promise() -> None:
    with pytest.raises(InvariantViolation, match=r"accepted ballot 1\.2 is above promised 1\.1"):
        AcceptorState(B1, AcceptedRecord(B2, W))


# -- proposer ---------------------------------------------------------------------------
def test_highest_picks_the_vote_of_the_highest_ballot() -> None:
    low, high = AcceptedRecord(B1, V), AcceptedRecord(B2, W)
    assert highest([None, low, high, None]) == high
    assert highest([None, None]) is None


def test_phase_one_needs_a_majority_of_promises() -> None:
    p1 = PhaseOne(B1, (1, 2, 3))
    p1.promised(1, None)
    assert p1.result() is VoteResult.PENDING
    p1.promised(2, None)
    assert p1.result() is VoteResult.WON


def test_phase_one_counts_a_duplicated_promise_once() -> None:
    p1 = PhaseOne(B1, (1, 2, 3))
    p1.promised(1, None)
    p1.promised(1, None)
    assert p1.result() is VoteResult.PENDING


def test_phase_one_is_lost_once_a_majority_refused() -> None:
    p1 = PhaseOne(B1, (1, 2, 3))
    p1.refused(2)
    p1.refused(3)
    assert p1.result() is VoteResult.LOST


def test_proposer_without_reported_votes_proposes_its_own_value() -> None:
    p1 = PhaseOne(B3, (1, 2, 3))
    p1.promised(1, None)
    p1.promised(2, None)
    assert p1.value(Entry(1, B3.as_term(), b"own")) == Entry(1, B3.as_term(), b"own")


def test_proposer_adopts_the_value_of_the_highest_reported_vote() -> None:
    p1 = PhaseOne(B3, (1, 2, 3))
    p1.promised(1, AcceptedRecord(B1, V))
    p1.promised(2, AcceptedRecord(B2, W))
    assert p1.value(Entry(1, B3.as_term(), b"own")) == W  # keeps W's origin term


def test_range_phase_one_keeps_the_highest_vote_per_slot_and_the_best_commit() -> None:
    p1 = RangePhaseOne(B3, (1, 2, 3), first_slot=5)
    s5_low = AcceptedRecord(B1, Entry(5, B1.as_term(), b"a"))
    s5_high = AcceptedRecord(B2, Entry(5, B2.as_term(), b"b"))
    s7 = AcceptedRecord(B1, Entry(7, B1.as_term(), b"c"))
    below = AcceptedRecord(B2, Entry(4, B2.as_term(), b"old"))
    p1.promised(1, 4, (s5_low, s7))
    p1.promised(2, 6, (below, s5_high))
    assert p1.result() is VoteResult.WON
    assert p1.votes == {5: s5_high, 7: s7}
    assert (p1.max_commit, p1.max_commit_node) == (6, 2)
    assert p1.frontier() == 7


def test_range_phase_one_frontier_without_votes_is_the_best_commit() -> None:
    p1 = RangePhaseOne(B3, (1, 2, 3), first_slot=3)
    p1.promised(1, 2, ())
    assert p1.frontier() == 2


# -- learner ----------------------------------------------------------------------------
def test_value_is_chosen_when_a_majority_accepted_it_in_one_ballot() -> None:
    tally = AcceptTally(B1, V, (1, 2, 3, 4, 5))
    assert [tally.record(n) for n in (1, 2, 3)] == [False, False, True]
    assert tally.chosen


def test_duplicated_and_foreign_acceptances_do_not_count() -> None:
    tally = AcceptTally(B1, V, (1, 2, 3))
    tally.record(1)
    assert not tally.record(1)
    assert not tally.record(9)
    assert not tally.chosen


def test_learning_is_idempotent() -> None:
    learner = Learner()
    assert learner.learn(V)
    assert not learner.learn(V)
    assert learner.value == V


def test_learning_a_second_value_is_an_invariant_violation() -> None:
    learner = Learner(V)
    with pytest.raises(InvariantViolation, match="slot 1: two values chosen"):
        learner.learn(W)
