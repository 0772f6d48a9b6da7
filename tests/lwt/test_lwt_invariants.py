"""The simulator's ``paxos-lwt`` checks fire on the histories they are meant to refuse."""

from __future__ import annotations

import random

import pytest

from consensus.core import Ready
from consensus.lwt import LWT_OP_CODEC, LwtCore, LwtOp, LwtOpKind, LwtOutcome, LwtStatus
from consensus.lwt.ops import encode_op
from consensus.messages.lwt import LwtHardState, LwtRecord
from consensus.messages.paxos import ZERO_BALLOT, Ballot
from consensus.sim.lwt_spec import LwtInvariants
from consensus.sim.violation import SimViolation
from consensus.types import ProposalResult, ProposalTicket

K = b"k"
CORE = LwtCore(1, (1, 2, 3), random.Random(0))


def vote(inv: LwtInvariants, node: int, ballot: Ballot, value: bytes | None, base: Ballot) -> None:
    rec = LwtRecord(K, ballot, ballot, value, ballot, base)
    inv.observe(node, CORE, Ready(hard_state=LwtHardState((rec,)), must_sync=True))


def answer(inv: LwtInvariants, node: int, index: int, outcome: LwtOutcome) -> None:
    result = ProposalResult(ProposalTicket(index, 0), outcome.ok, LWT_OP_CODEC.encode(outcome))
    inv.observe(node, CORE, Ready(results=(result,)))


def test_two_states_in_one_ballot_are_a_violation() -> None:
    inv = LwtInvariants()
    vote(inv, 1, Ballot(1, 1), b"a", ZERO_BALLOT)
    with pytest.raises(SimViolation, match="one-value-per-key-per-ballot"):
        vote(inv, 2, Ballot(1, 1), b"b", ZERO_BALLOT)


def test_a_state_computed_past_a_chosen_one_is_a_violation() -> None:
    inv = LwtInvariants()
    vote(inv, 1, Ballot(1, 1), b"a", ZERO_BALLOT)
    vote(inv, 2, Ballot(1, 1), b"a", ZERO_BALLOT)  # chosen: a majority of 3
    with pytest.raises(SimViolation, match="chosen-state-lost"):
        vote(inv, 3, Ballot(2, 3), b"b", ZERO_BALLOT)


def test_a_ballot_chosen_under_a_proposal_that_skipped_it_is_a_violation() -> None:
    inv = LwtInvariants()
    vote(inv, 3, Ballot(2, 3), b"b", ZERO_BALLOT)
    vote(inv, 1, Ballot(1, 1), b"a", ZERO_BALLOT)
    with pytest.raises(SimViolation, match="chosen-state-lost"):
        vote(inv, 2, Ballot(1, 1), b"a", ZERO_BALLOT)


def test_an_answer_from_an_unchosen_ballot_is_a_violation() -> None:
    inv = LwtInvariants()
    inv.proposed(1, ProposalTicket(1, 0), encode_op(LwtOp(LwtOpKind.PUT, K, b"a")))
    vote(inv, 1, Ballot(1, 1), b"a", ZERO_BALLOT)
    done = LwtOutcome(LwtStatus.DONE, True, None, Ballot(1, 1))
    with pytest.raises(SimViolation, match="acknowledged-proposal-lost"):
        answer(inv, 1, 1, done)


def test_a_promise_going_back_is_a_violation() -> None:
    inv = LwtInvariants()
    vote(inv, 1, Ballot(3, 1), b"a", ZERO_BALLOT)
    with pytest.raises(SimViolation, match="promise-monotone"):
        vote(inv, 1, Ballot(2, 2), b"a", ZERO_BALLOT)


def test_a_lost_write_in_the_client_history_is_not_linearizable() -> None:
    inv = LwtInvariants()
    inv.proposed(1, ProposalTicket(1, 0), encode_op(LwtOp(LwtOpKind.PUT, K, b"a")))
    vote(inv, 1, Ballot(1, 1), b"a", ZERO_BALLOT)
    vote(inv, 2, Ballot(1, 1), b"a", ZERO_BALLOT)
    answer(inv, 1, 1, LwtOutcome(LwtStatus.DONE, True, None, Ballot(1, 1)))
    inv.proposed(2, ProposalTicket(1, 0), encode_op(LwtOp(LwtOpKind.GET, K)))
    rec = LwtRecord(K, Ballot(2, 2), Ballot(2, 2), None, ZERO_BALLOT, Ballot(1, 1))
    for node in (2, 3):
        inv.observe(node, CORE, Ready(hard_state=LwtHardState((rec,)), must_sync=True))
    answer(inv, 2, 1, LwtOutcome(LwtStatus.DONE, True, None, Ballot(2, 2)))  # read "absent"
    with pytest.raises(SimViolation, match="linearizable"):
        inv.finish()


def test_an_operation_that_may_have_happened_is_checked_as_open() -> None:
    inv = LwtInvariants()
    inv.proposed(1, ProposalTicket(1, 0), encode_op(LwtOp(LwtOpKind.PUT, K, b"a")))
    answer(inv, 1, 1, LwtOutcome(LwtStatus.CONTENDED, None, None, Ballot(1, 1)))
    inv.proposed(2, ProposalTicket(1, 0), encode_op(LwtOp(LwtOpKind.GET, K)))
    vote(inv, 1, Ballot(2, 2), b"a", Ballot(1, 1))
    vote(inv, 2, Ballot(2, 2), b"a", Ballot(1, 1))
    answer(inv, 2, 1, LwtOutcome(LwtStatus.DONE, True, b"a", Ballot(2, 2)))
    inv.finish()  # the put may have taken effect: reading "a" is fine
    assert inv.checked_ops == 2
