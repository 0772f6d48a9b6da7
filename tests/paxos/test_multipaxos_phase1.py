"""Multi-Paxos phase 1 and leadership, one rule per test ("init, step, check")."""

from __future__ import annotations

import random

import pytest

from consensus.core import Role
from consensus.errors import InvariantViolation, NotLeader
from consensus.messages import (
    Accept,
    AcceptedRecord,
    Ballot,
    CatchUp,
    Chosen,
    Nack,
    PaxosHardState,
    PaxosHeartbeat,
    Prepare,
    Promise,
)
from consensus.paxos import PaxosConfig, PaxosCore
from consensus.storage.base import Recovered
from consensus.types import Entry, EntryKind

from .helpers import campaign, make_leader, new_core, of_type, out, take

NO_LEASE = PaxosConfig(check_quorum=False)


def test_election_timeouts_are_randomized_between_election_ticks_and_twice_that() -> None:
    ticks = {new_core(seed=s).randomized_election_ticks for s in range(50)}
    assert min(ticks) >= 10 and max(ticks) < 20 and len(ticks) > 3


def test_follower_starts_phase_one_when_its_election_timeout_expires() -> None:
    core = new_core(config=PaxosConfig(pre_prepare=False))  # the probe: test_preprepare.py
    for _ in range(core.randomized_election_ticks - 1):
        core.tick()
    assert not of_type(out(take(core)), Prepare)
    core.tick()
    rd = take(core)
    assert core.status().role is Role.CANDIDATE
    assert of_type(out(rd), Prepare) == [
        Prepare(1, 2, Ballot(1, 1), 1),
        Prepare(1, 3, Ballot(1, 1), 1),
    ]
    # its own promise is hard state, synced before the Prepares leave
    assert rd.must_sync and rd.hard_state == PaxosHardState(Ballot(1, 1), 0, ())


def test_prepare_covers_the_slots_above_the_commit_index() -> None:
    e1 = Entry(1, 7, b"a")
    rec = Recovered(PaxosHardState(Ballot(1, 2), 1, ()), None, (e1,))
    core = PaxosCore(1, (1, 2, 3), random.Random(0), recovered=rec)
    prepares = of_type(out(campaign(core)), Prepare)
    assert prepares[0] == Prepare(1, 2, Ballot(2, 1), 2)


def test_acceptor_promises_a_higher_ballot_reporting_its_votes_and_commit() -> None:
    core = new_core(2, config=NO_LEASE)
    e1, e2 = Entry(1, Ballot(1, 1).as_term(), b"a"), Entry(2, Ballot(1, 1).as_term(), b"b")
    core.step(Accept(1, 2, Ballot(1, 1), (e1, e2), 0))
    take(core)
    core.step(Prepare(3, 2, Ballot(2, 3), 1))
    rd = take(core)
    votes = (AcceptedRecord(Ballot(1, 1), e1), AcceptedRecord(Ballot(1, 1), e2))
    assert of_type(out(rd), Promise) == [Promise(2, 3, Ballot(2, 3), 1, 0, votes)]
    assert rd.must_sync and rd.hard_state is not None
    assert rd.hard_state.promised == Ballot(2, 3)


def test_acceptor_refuses_a_lower_ballot_with_a_nack_carrying_its_promise() -> None:
    core = new_core(2, config=NO_LEASE)
    core.step(Prepare(3, 2, Ballot(4, 3), 1))
    take(core)
    core.step(Prepare(1, 2, Ballot(2, 1), 1))
    assert take(core).messages == (Nack(2, 1, Ballot(2, 1), Ballot(4, 3)),)


def test_a_ballot_that_does_not_belong_to_its_sender_is_ignored() -> None:
    core = new_core(2, config=NO_LEASE)
    core.step(Prepare(3, 2, Ballot(4, 1), 1))
    assert not core.has_ready()


def test_a_node_hearing_from_its_leader_ignores_other_candidates() -> None:
    core = new_core(2)
    core.step(PaxosHeartbeat(1, 2, Ballot(1, 1), 0))
    take(core)
    core.step(Prepare(3, 2, Ballot(5, 3), 1))
    assert not take(core).messages and core.acceptor.promised < Ballot(5, 3)
    # ...but its own leader may start a new ballot
    core.step(Prepare(1, 2, Ballot(6, 1), 1))
    assert of_type(out(take(core)), Promise)


def test_the_lease_expires_after_election_ticks_without_the_leader() -> None:
    core = new_core(2)
    core.step(PaxosHeartbeat(1, 2, Ballot(1, 1), 0))
    core.randomized_election_ticks = 100  # keep it from campaigning itself
    for _ in range(core.config.election_ticks):
        core.tick()
    take(core)
    core.step(Prepare(3, 2, Ballot(5, 3), 1))
    assert of_type(out(take(core)), Promise)


def test_the_winner_adopts_the_highest_vote_per_slot_and_fills_holes_with_noops() -> None:
    core = new_core(1, n=5)
    core.seen = Ballot(5, 3)  # it has heard of round 5: it campaigns in round 6
    campaign(core)
    ballot = core.own_ballot()
    assert ballot == Ballot(6, 1)
    a = Entry(1, Ballot(2, 2).as_term(), b"a")
    b = Entry(1, Ballot(3, 3).as_term(), b"b")
    c = Entry(3, Ballot(4, 3).as_term(), b"c")
    core.step(Promise(2, 1, ballot, 1, 0, (AcceptedRecord(Ballot(2, 2), a),)))
    assert core.status().role is Role.CANDIDATE
    core.step(
        Promise(
            3, 1, ballot, 1, 0, (AcceptedRecord(Ballot(3, 3), b), AcceptedRecord(Ballot(4, 3), c))
        )
    )
    rd = take(core)
    assert core.status().role is Role.LEADER
    noop = Entry(2, ballot.as_term(), b"", EntryKind.NOOP)
    accepts = of_type(out(rd), Accept)
    assert [(m.dst, m.entries) for m in accepts] == [(p, (b, noop, c)) for p in (2, 3, 4, 5)]
    assert core.propose(b"d").index == 4


def test_slots_up_to_the_best_reported_commit_are_fetched_not_proposed() -> None:
    core = new_core(1)
    campaign(core)
    ballot = core.own_ballot()
    core.step(Promise(2, 1, ballot, 1, 5, ()))
    rd = take(core)
    # they may hold a CONFIG entry: the candidate learns them before it leads
    assert core.status().role is Role.CANDIDATE
    assert not of_type(out(rd), Accept)
    assert of_type(out(rd), CatchUp) == [CatchUp(1, 2, 1)]
    core.step(Chosen(2, 1, tuple(Entry(i, 7, b"v") for i in range(1, 6)), 5))
    assert core.status().role is Role.LEADER
    assert not of_type(out(take(core)), Accept)
    assert core.propose(b"x").index == 6


def test_proposals_on_a_follower_are_refused_with_the_leader_hint() -> None:
    core = new_core(2)
    core.step(PaxosHeartbeat(3, 2, Ballot(1, 3), 0))
    with pytest.raises(NotLeader, match="leader is probably node 3") as info:
        core.propose(b"x")
    assert info.value.leader_hint == 3
    with pytest.raises(NotLeader, match="leader unknown"):
        new_core(2).propose(b"x")


def test_a_nacked_candidate_backs_off_then_jumps_past_the_promised_ballot() -> None:
    core = new_core(1)
    campaign(core)
    core.step(Nack(2, 1, Ballot(1, 1), Ballot(5, 3)))
    assert core.status().role is Role.FOLLOWER
    assert not of_type(out(take(core)), Prepare)
    prepares = of_type(out(campaign(core)), Prepare)
    assert prepares[0].ballot == Ballot(6, 1)


def test_a_nacked_leader_starts_phase_one_above_the_nack_at_once() -> None:
    core = new_core(1)
    make_leader(core)
    core.step(Nack(3, 1, Ballot(1, 1), Ballot(4, 3)))
    rd = take(core)
    assert core.status().role is Role.CANDIDATE
    assert of_type(out(rd), Prepare)[0].ballot == Ballot(5, 1)


def test_a_nack_about_an_old_ballot_is_ignored() -> None:
    core = new_core(1)
    make_leader(core)
    core.step(Nack(3, 1, Ballot(0, 1), Ballot(1, 3)))
    assert core.status().role is Role.LEADER


def test_a_leader_steps_down_for_a_higher_ballots_leader() -> None:
    core = new_core(1)
    make_leader(core)
    core.step(PaxosHeartbeat(2, 1, Ballot(3, 2), 0))
    assert core.status().role is Role.FOLLOWER and core.status().leader == 2


def test_a_leader_without_a_quorum_steps_down_after_election_ticks() -> None:
    core = new_core(1)
    make_leader(core)
    for _ in range(core.config.election_ticks):
        core.tick()
    assert core.status().role is Role.FOLLOWER


def test_a_single_node_elects_itself_and_commits_alone() -> None:
    core = new_core(1, n=1)
    campaign(core)
    assert core.status().role is Role.LEADER
    ticket = core.propose(b"x")
    rd = take(core)
    assert rd.must_sync and rd.hard_state is not None
    assert [v.entry for v in rd.hard_state.accepted] == [Entry(1, ticket.term, b"x")]
    assert rd.committed == (Entry(1, ticket.term, b"x"),)


def test_status_reports_the_promised_ballot_as_the_term() -> None:
    core = new_core(1)
    make_leader(core)
    st = core.status()
    assert (st.role, st.term, st.leader) == (Role.LEADER, Ballot(1, 1).as_term(), 1)


def test_bad_construction_is_refused() -> None:
    rng = random.Random(0)
    with pytest.raises(ValueError, match="voters must be distinct"):
        PaxosCore(1, (1, 2, 2), rng)
    with pytest.raises(ValueError, match=r"Paxos node ids must be in \[1, 65536\)"):
        PaxosCore(1, (1, 70000), rng)
    with pytest.raises(ValueError, match=r"heartbeat_ticks \(10\) must be less than"):
        PaxosConfig(heartbeat_ticks=10)
    with pytest.raises(ValueError, match=r"PaxosConfig\.max_entries_per_msg must be >= 1"):
        PaxosConfig(max_entries_per_msg=0)


def test_recovered_commit_beyond_the_stored_chosen_values_is_refused() -> None:
    rec = Recovered(PaxosHardState(Ballot(1, 1), 3, ()), None, (Entry(1, 1, b"a"),))
    with pytest.raises(InvariantViolation, match="recovered commit index 3 but chosen values"):
        PaxosCore(1, (1, 2, 3), random.Random(0), recovered=rec)
