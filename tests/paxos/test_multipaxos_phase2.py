"""Multi-Paxos phase 2, learning and catch-up, one rule per test ("init, step, check")."""

from __future__ import annotations

import pytest

from consensus.core import Role
from consensus.errors import ProposalDropped
from consensus.messages import (
    Accept,
    Accepted,
    AcceptedRecord,
    Ballot,
    CatchUp,
    Chosen,
    Commit,
    PaxosHeartbeat,
    Prepare,
)
from consensus.paxos import PaxosConfig
from consensus.types import Entry, ProposalTicket

from .helpers import make_leader, new_core, of_type, out, take

B = Ballot(1, 1)
T = B.as_term()


def test_a_proposal_is_voted_for_synced_and_sent_to_every_peer() -> None:
    core = new_core(1)
    make_leader(core)
    ticket = core.propose(b"x")
    rd = take(core)
    e = Entry(1, T, b"x")
    assert ticket == ProposalTicket(1, T)
    assert rd.must_sync and rd.hard_state is not None
    assert rd.hard_state.accepted == (AcceptedRecord(B, e),)
    assert of_type(out(rd), Accept) == [Accept(1, 2, B, (e,), 0), Accept(1, 3, B, (e,), 0)]


def test_proposals_between_two_readies_share_one_accept_per_peer() -> None:
    core = new_core(1)
    make_leader(core)
    for data in (b"x", b"y", b"z"):
        core.propose(data)
    accepts = of_type(out(take(core)), Accept)
    assert [(m.dst, [e.data for e in m.entries]) for m in accepts] == [
        (2, [b"x", b"y", b"z"]),
        (3, [b"x", b"y", b"z"]),
    ]


def test_an_accept_holds_at_most_max_entries_per_msg() -> None:
    core = new_core(1, config=PaxosConfig(max_entries_per_msg=2))
    make_leader(core)
    for data in (b"x", b"y", b"z"):
        core.propose(data)
    accepts = of_type(out(take(core)), Accept)
    assert [len(m.entries) for m in accepts if m.dst == 2] == [2, 1]


def test_inputs_after_ready_go_into_the_next_batch_not_the_handed_out_one() -> None:
    core = new_core(1)
    make_leader(core)
    core.propose(b"x")
    rd = core.ready()
    assert core.ready() == rd  # asking twice gives the same batch
    core.propose(b"y")
    core.advance(rd)
    later = of_type(out(take(core)), Accept)
    assert [[e.data for e in m.entries] for m in later] == [[b"y"], [b"y"]]


def test_an_acceptor_votes_and_answers_accepted_in_one_synced_ready() -> None:
    core = new_core(2)
    e = Entry(1, T, b"x")
    core.step(Accept(1, 2, B, (e,), 0))
    rd = take(core)
    assert rd.must_sync and rd.hard_state is not None
    assert rd.hard_state.accepted == (AcceptedRecord(B, e),)
    assert rd.messages == (Accepted(2, 1, B, (1,)),)
    assert core.status().leader == 1


def test_a_majority_of_accepted_commits_strictly_in_slot_order() -> None:
    core = new_core(1, n=5)
    make_leader(core)
    core.propose(b"x")
    core.propose(b"y")
    take(core)
    core.step(Accepted(2, 1, B, (2,)))
    core.step(Accepted(3, 1, B, (2,)))
    assert take(core).committed == ()  # slot 2 is chosen, slot 1 not yet
    core.step(Accepted(2, 1, B, (1,)))
    core.step(Accepted(2, 1, B, (1,)))  # a duplicate does not count twice
    assert take(core).committed == ()
    core.step(Accepted(4, 1, B, (1,)))
    rd = take(core)
    assert rd.committed == (Entry(1, T, b"x"), Entry(2, T, b"y"))
    assert rd.entries == (Entry(1, T, b"x"),)  # slot 2 went to storage when it was learned


ANNOUNCE = PaxosConfig(announce_commit=True)


def test_by_default_the_commit_index_rides_on_the_next_heartbeat() -> None:
    core = new_core(1)
    make_leader(core)
    core.propose(b"x")
    take(core)
    core.step(Accepted(2, 1, B, (1,)))
    assert not of_type(out(take(core)), Commit)
    core.tick()
    beats = of_type(out(take(core)), PaxosHeartbeat)
    assert [(m.dst, m.commit) for m in beats] == [(2, 1), (3, 1)]


def test_with_announce_commit_the_leader_announces_a_new_commit_index() -> None:
    core = new_core(1, config=ANNOUNCE)
    make_leader(core)
    core.propose(b"x")
    take(core)
    core.step(Accepted(2, 1, B, (1,)))
    assert of_type(out(take(core)), Commit) == [Commit(1, 2, B, 1), Commit(1, 3, B, 1)]


def test_an_accept_sent_in_the_same_batch_carries_the_commit_instead() -> None:
    core = new_core(1, config=ANNOUNCE)
    make_leader(core)
    core.propose(b"x")
    take(core)
    core.propose(b"y")
    core.step(Accepted(2, 1, B, (1,)))
    msgs = out(take(core))
    assert not of_type(msgs, Commit)
    assert [m.commit for m in of_type(msgs, Accept)] == [1, 1]


def test_too_many_uncommitted_slots_refuse_proposals() -> None:
    core = new_core(1, config=PaxosConfig(max_uncommitted_entries=2))
    make_leader(core)
    core.propose(b"x")
    core.propose(b"y")
    with pytest.raises(
        ProposalDropped, match=r"2 slots await commit \(max_uncommitted_entries=2\)"
    ):
        core.propose(b"z")


def test_unacknowledged_accepts_are_sent_again_after_accept_resend_ticks() -> None:
    core = new_core(1, config=PaxosConfig(accept_resend_ticks=3))
    make_leader(core)
    core.propose(b"x")
    take(core)
    core.step(Accepted(2, 1, B, (1,)))  # chosen: nothing to resend any more
    core.propose(b"y")
    take(core)
    core.step(Accepted(3, 1, B, (2,)))
    resent: list[Accept] = []
    for _ in range(3):
        core.tick()
        resent += of_type(out(take(core)), Accept)
    assert resent == []  # slot 2 is chosen too


def test_only_the_unacknowledged_acceptors_get_the_resent_accept() -> None:
    core = new_core(1, n=5, config=PaxosConfig(accept_resend_ticks=3))
    make_leader(core)
    core.propose(b"x")
    take(core)
    core.step(Accepted(2, 1, B, (1,)))
    resent: list[Accept] = []
    for _ in range(3):
        core.tick()
        resent += of_type(out(take(core)), Accept)
    assert [m.dst for m in resent] == [3, 4, 5]


def test_a_follower_learns_a_vote_of_the_ballot_that_announces_the_commit() -> None:
    core = new_core(2)
    e = Entry(1, T, b"x")
    core.step(Accept(1, 2, B, (e,), 0))
    take(core)
    core.step(Commit(1, 2, B, 1))
    rd = take(core)
    assert rd.committed == (e,) and rd.entries == (e,)


def test_a_vote_of_another_ballot_is_not_learned_but_fetched() -> None:
    core = new_core(2)
    core.step(Accept(1, 2, B, (Entry(1, T, b"x"),), 0))
    take(core)
    core.step(Commit(3, 2, Ballot(2, 3), 1))
    rd = take(core)
    assert rd.committed == ()
    assert of_type(out(rd), CatchUp) == [CatchUp(2, 3, 1)]


def test_catch_up_requests_are_not_repeated_while_one_is_outstanding() -> None:
    core = new_core(2)
    core.step(PaxosHeartbeat(1, 2, B, 5))
    assert of_type(out(take(core)), CatchUp) == [CatchUp(2, 1, 1)]
    core.step(PaxosHeartbeat(1, 2, B, 5))
    assert of_type(out(take(core)), CatchUp) == []


def test_a_catch_up_is_answered_with_the_chosen_run_from_the_asked_slot() -> None:
    core = new_core(1, config=PaxosConfig(max_entries_per_msg=2))
    make_leader(core)
    for data in (b"a", b"b", b"c"):
        core.propose(data)
    core.step(Accepted(2, 1, B, (1, 2, 3)))
    take(core)
    core.step(CatchUp(3, 1, 2))
    core.step(CatchUp(3, 1, 1))
    assert of_type(out(take(core)), Chosen) == [
        Chosen(1, 3, (Entry(2, T, b"b"), Entry(3, T, b"c")), 3),
        Chosen(1, 3, (Entry(1, T, b"a"), Entry(2, T, b"b")), 3),
    ]


def test_only_prepares_from_outside_the_voters_are_ignored() -> None:
    core = new_core(1)
    core.step(Prepare(9, 1, Ballot(5, 9), 1))
    assert not core.has_ready()  # a removed node (or a learner) cannot depose anyone
    # the rest is handled by the ballot rules: a laggard may not know its leader yet
    core.step(Accept(9, 1, Ballot(5, 9), (Entry(1, 5, b"x"),), 0))
    assert of_type(out(take(core)), Accepted) == [Accepted(1, 9, Ballot(5, 9), (1,))]


def test_chosen_values_are_learned_idempotently_and_delivered_in_order() -> None:
    core = new_core(2)
    e1, e2 = Entry(1, T, b"a"), Entry(2, T, b"b")
    core.step(Chosen(1, 2, (e2,), 2))
    assert take(core).committed == ()
    core.step(Chosen(1, 2, (e1, e2), 2))
    rd = take(core)
    assert rd.committed == (e1, e2) and rd.entries == (e1,)
    core.step(Chosen(1, 2, (e1,), 2))
    assert take(core).committed == ()


def test_an_accept_for_a_chosen_slot_is_answered_with_the_chosen_value() -> None:
    core = new_core(2)
    e = Entry(1, T, b"x")
    core.step(Chosen(1, 2, (e,), 1))
    take(core)
    core.step(Accept(3, 2, Ballot(2, 3), (Entry(1, Ballot(2, 3).as_term(), b"z"),), 0))
    rd = take(core)
    assert not of_type(out(rd), Accepted)
    assert of_type(out(rd), Chosen) == [Chosen(2, 3, (e,), 1)]


def test_a_leader_that_learns_another_value_at_its_slot_steps_down() -> None:
    core = new_core(1, config=ANNOUNCE)
    make_leader(core)
    core.propose(b"x")
    take(core)
    core.step(Chosen(2, 1, (Entry(1, Ballot(3, 2).as_term(), b"z"),), 1))
    assert core.status().role is Role.FOLLOWER
    assert not of_type(out(take(core)), Commit)  # it never announces that slot


def test_a_leader_that_learns_a_slot_above_its_proposals_steps_down() -> None:
    core = new_core(1)
    make_leader(core)
    core.step(Chosen(2, 1, (Entry(4, Ballot(3, 2).as_term(), b"z"),), 0))
    assert core.status().role is Role.FOLLOWER


def test_a_stale_leaders_messages_get_a_nack() -> None:
    from consensus.messages import Nack, Prepare

    core = new_core(2, config=PaxosConfig(check_quorum=False))
    core.step(Prepare(3, 2, Ballot(2, 3), 1))
    take(core)
    core.step(PaxosHeartbeat(1, 2, B, 0))
    core.step(Accept(1, 2, B, (Entry(1, T, b"x"),), 0))
    assert take(core).messages == (
        Nack(2, 1, B, Ballot(2, 3)),
        Nack(2, 1, B, Ballot(2, 3)),
    )
    assert core.acceptor.vote(1) is None


def test_phase_two_traffic_is_early_and_replies_wait_for_the_sync() -> None:
    leader = new_core(1)
    make_leader(leader)
    leader.propose(b"x")
    rd = take(leader)
    assert rd.must_sync and [type(m) for m in rd.early_messages] == [Accept, Accept]
    assert rd.messages == ()
    acceptor = new_core(2)
    acceptor.step(rd.early_messages[0])
    reply = take(acceptor)
    assert reply.must_sync and reply.early_messages == ()
    assert [type(m) for m in reply.messages] == [Accepted]
