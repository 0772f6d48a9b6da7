"""Multi-Paxos membership, one rule per test ("init, step, check")."""

from __future__ import annotations

import random

import pytest

from consensus.core import Role
from consensus.errors import InvariantViolation, NotLeader, ProposalDropped
from consensus.membership import ChangeKind, ConfChange, Membership, MembershipError
from consensus.messages import (
    Accept,
    Accepted,
    AcceptedRecord,
    Ballot,
    CatchUp,
    Chosen,
    ChosenSnapshot,
    PaxosHardState,
    PaxosHeartbeat,
    PaxosHeartbeatAck,
    Prepare,
    Promise,
)
from consensus.messages.paxos import SnapshotChunk
from consensus.paxos import PaxosConfig, PaxosCore
from consensus.paxos.membership import ConfigHistory, unapplied_config
from consensus.paxos.reads import ReadRounds
from consensus.storage.base import Recovered
from consensus.types import Entry, EntryKind, Snapshot, SnapshotMeta

from .helpers import campaign, make_leader, of_type, out, take

ABC = Membership.of([1, 2, 3])
WITH_4 = Membership.of([1, 2, 3], [4])


def config_entry(slot: int, m: Membership, term: int = 7) -> Entry:
    return Entry(slot, term, m.encode(), EntryKind.CONFIG)


def core_of(id: int, m: Membership, config: PaxosConfig | None = None, **kw: object) -> PaxosCore:
    return PaxosCore(id, m, random.Random(0), config, **kw)  # type: ignore[arg-type]


def leader_with_learner(config: PaxosConfig | None = None) -> PaxosCore:
    """Node 1 leads {1, 2, 3} with learner 4 (from its recovered log)."""
    rec = Recovered(PaxosHardState(Ballot(1, 1), 1, ()), None, (config_entry(1, WITH_4),))
    core = core_of(1, ABC, config, recovered=rec)
    make_leader(core)
    return core


# -- the configuration by slot ------------------------------------------------------------
def test_a_config_entry_governs_the_slots_after_it() -> None:
    h = ConfigHistory(0, ABC)
    h.learn(config_entry(5, WITH_4))
    h.learn(Entry(6, 7, b"x"))  # not a CONFIG entry: ignored
    assert h.at(4) == ABC and h.at(5) == WITH_4 and h.at(100) == WITH_4
    h.learn(config_entry(9, Membership.of([1, 2, 3, 4])))  # learned out of order is fine
    assert h.at(8) == WITH_4 and h.latest() == Membership.of([1, 2, 3, 4])
    h.rebase(7, WITH_4)
    assert h.base_index == 7 and h.at(3) == WITH_4 and h.slots() == [9]


def test_the_node_follows_the_configuration_of_its_commit_index() -> None:
    core = core_of(2, ABC)
    core.step(PaxosHeartbeat(1, 2, Ballot(1, 1), 0))
    core.step(Accept(1, 2, Ballot(1, 1), (config_entry(1, WITH_4, Ballot(1, 1).as_term()),), 0))
    assert core.membership() == ABC  # voted, not yet known chosen
    core.step(PaxosHeartbeat(1, 2, Ballot(1, 1), 1))
    assert core.membership() == WITH_4 and core.membership_at(0) == ABC
    assert core.status().membership == WITH_4
    assert core.peers == (1, 3, 4) and core.voter_peers == (1, 3)


def test_construction_takes_a_membership_a_learner_id_or_an_outsider() -> None:
    assert core_of(4, WITH_4).voters == (1, 2, 3)
    spare = core_of(5, WITH_4)  # a spare, to be added later: passive until then
    for _ in range(100):
        spare.tick()
    assert not take(spare).messages
    spare.step(Accept(1, 5, Ballot(1, 1), (Entry(1, 65537, b"x"),), 0))
    assert of_type(out(take(spare)), Accepted)  # it stores what a leader sends it
    with pytest.raises(MembershipError, match="voters must be distinct"):
        PaxosCore(1, (1, 1), random.Random(0))


def test_a_bad_config_entry_is_an_invariant_violation() -> None:
    core = core_of(2, ABC)
    with pytest.raises(InvariantViolation, match="slot 1: bad CONFIG entry"):
        core.step(Chosen(1, 2, (Entry(1, 7, b"junk", EntryKind.CONFIG),), 1))


# -- learners ---------------------------------------------------------------------------
def test_a_learner_never_runs_phase_one() -> None:
    core = core_of(4, WITH_4)
    for _ in range(100):
        core.tick()
    assert core.status().role is Role.FOLLOWER
    assert not of_type(out(take(core)), Prepare)


def test_a_learner_does_not_promise_and_voters_ignore_a_learners_prepare() -> None:
    learner = core_of(4, WITH_4)
    learner.step(Prepare(1, 4, Ballot(3, 1), 1))
    assert not learner.has_ready()
    voter = core_of(2, WITH_4)
    voter.step(Prepare(4, 2, Ballot(3, 4), 1))
    assert not voter.has_ready()


def test_a_node_ignoring_a_prepare_from_ahead_of_it_catches_up_from_the_candidate() -> None:
    learner = core_of(4, WITH_4)
    learner.step(Prepare(1, 4, Ballot(3, 1), 9))  # 1 knows slots up to 8
    assert of_type(out(take(learner)), CatchUp) == [CatchUp(4, 1, 1)]
    assert not of_type(out(take(learner)), Promise)


def test_a_learner_stores_proposals_and_learns_from_the_commit_index() -> None:
    learner = core_of(4, WITH_4)
    b = Ballot(1, 1)
    entry = Entry(1, b.as_term(), b"x")
    learner.step(Accept(1, 4, b, (entry,), 0))
    rd = take(learner)
    assert rd.must_sync and of_type(out(rd), Accepted) == [Accepted(4, 1, b, (1,))]
    learner.step(PaxosHeartbeat(1, 4, b, 1))
    assert take(learner).committed == (entry,)


def test_a_learners_acceptance_does_not_count_towards_a_quorum() -> None:
    core = leader_with_learner()
    ticket = core.propose(b"x")
    take(core)
    b = core.own_ballot()
    core.step(Accepted(4, 1, b, (ticket.index,)))
    assert core.status().commit_index < ticket.index
    core.step(Accepted(2, 1, b, (ticket.index,)))
    assert core.status().commit_index == ticket.index


def test_the_leader_replicates_to_learners_and_heartbeats_them() -> None:
    core = leader_with_learner()
    core.propose(b"x")
    accepts = of_type(out(take(core)), Accept)
    assert sorted(m.dst for m in accepts) == [2, 3, 4]
    core.tick()
    assert sorted(m.dst for m in of_type(out(take(core)), PaxosHeartbeat)) == [2, 3, 4]


def test_a_learners_heartbeat_answers_do_not_confirm_a_read() -> None:
    rounds = ReadRounds(1, (1, 2, 3), 10)
    from consensus.paxos.reads import PendingRead

    rounds.add(PendingRead(b"r", 0, 1))
    context = rounds.start()
    assert context is not None
    assert rounds.ack(4, context) == [] and rounds.ack(5, context) == []
    assert [r.context for r in rounds.ack(2, context)] == [b"r"]


def test_learners_do_not_keep_a_leader_in_office() -> None:
    core = leader_with_learner()
    b = core.own_ballot()
    for _ in range(core.config.election_ticks * 2):
        core.step(PaxosHeartbeatAck(4, 1, b, 1))
        core.tick()
    assert core.status().role is not Role.LEADER


def test_leader_progress_lists_every_member() -> None:
    core = leader_with_learner()
    core.step(PaxosHeartbeatAck(4, 1, core.own_ballot(), 1))
    assert core.status().progress == ((1, 1), (2, 0), (3, 0), (4, 1))
    assert core_of(2, ABC).status().progress == ()


# -- proposing a change -----------------------------------------------------------------
def test_changes_are_refused_off_the_leader_and_when_they_do_not_apply() -> None:
    with pytest.raises(NotLeader):
        core_of(1, ABC).propose_change(ConfChange(ChangeKind.ADD_LEARNER, 4))
    core = leader_with_learner()
    with pytest.raises(MembershipError, match="node 2 is already a voter"):
        core.propose_change(ConfChange(ChangeKind.PROMOTE, 2))
    with pytest.raises(MembershipError, match="node 9 is not a member"):
        core.propose_change(ConfChange(ChangeKind.REMOVE, 9))


def test_promote_needs_the_learner_within_the_lag() -> None:
    core = leader_with_learner(PaxosConfig(learner_max_lag=0))
    for i in range(3):
        core.propose(b"%d" % i)
    for slot in (2, 3, 4):
        core.step(Accepted(2, 1, core.own_ballot(), (slot,)))
    take(core)
    with pytest.raises(MembershipError, match=r"it reported slot 0, the leader is at 4"):
        core.propose_change(ConfChange(ChangeKind.PROMOTE, 4))
    core.step(PaxosHeartbeatAck(4, 1, core.own_ballot(), 4))
    ticket = core.propose_change(ConfChange(ChangeKind.PROMOTE, 4))
    assert ticket.index == 5


def test_the_change_goes_out_once_the_slots_below_are_chosen() -> None:
    core = leader_with_learner()
    b = core.own_ballot()
    core.propose(b"x")  # slot 2
    take(core)
    ticket = core.propose_change(ConfChange(ChangeKind.REMOVE, 4))
    assert ticket.index == 3
    assert not of_type(out(take(core)), Accept)  # draining
    assert core.membership() == ABC  # the leader reports the configuration it is heading to
    with pytest.raises(ProposalDropped, match="in flight at slot 3"):
        core.propose(b"y")
    with pytest.raises(MembershipError, match="another configuration change is in flight"):
        core.propose_change(ConfChange(ChangeKind.PROMOTE, 4))
    core.step(Accepted(2, 1, b, (2,)))
    accepts = of_type(out(take(core)), Accept)
    assert {m.entries[-1].kind for m in accepts} == {EntryKind.CONFIG}
    assert accepts[0].entries[-1] == Entry(3, ticket.term, ABC.encode(), EntryKind.CONFIG)


def test_a_learner_change_keeps_the_ballot_a_voter_change_runs_phase_one_again() -> None:
    core = leader_with_learner()
    b = core.own_ballot()
    core.propose_change(ConfChange(ChangeKind.REMOVE, 4))
    core.step(Accepted(2, 1, b, (2,)))
    take(core)
    assert core.status().role is Role.LEADER and core.own_ballot() == b
    core.propose(b"ok")  # proposals resume at once
    core.step(Accepted(2, 1, b, (3,)))
    take(core)
    core.propose_change(ConfChange(ChangeKind.REMOVE, 3))
    core.step(Accepted(2, 1, b, (4,)))
    rd = take(core)
    assert core.status().role is Role.CANDIDATE and core.voters == (1, 2)
    assert of_type(out(rd), Prepare) == [Prepare(1, 2, core.own_ballot(), 5)]


def test_a_leader_that_removes_itself_steps_down_when_the_change_is_chosen() -> None:
    core = leader_with_learner()
    core.propose_change(ConfChange(ChangeKind.REMOVE, 1))
    assert core.status().role is Role.LEADER
    core.step(Accepted(2, 1, core.own_ballot(), (2,)))
    rd = take(core)
    assert core.status().role is Role.FOLLOWER and core.membership().voters == (2, 3)
    # it tells old and new members the change is chosen, whatever announce_commit says
    assert {m.dst for m in out(rd) if getattr(m, "commit", 0) == 2} >= {2, 3, 4}
    for _ in range(100):
        core.tick()
    assert not of_type(out(take(core)), Prepare)


def test_a_config_known_chosen_above_the_commit_index_is_not_applied_yet() -> None:
    core = core_of(2, ABC)
    core.learn(config_entry(3, WITH_4))  # slots 1 and 2 unknown
    assert unapplied_config(core) == 3 and core.membership() == ABC
    core.learn(Entry(1, 7, b"a"))
    core.learn(Entry(2, 7, b"b"))
    assert unapplied_config(core) is None and core.membership() == WITH_4


def test_a_candidate_knowing_a_config_above_its_commit_catches_up_first() -> None:
    core = core_of(1, ABC)
    core.learn(config_entry(2, Membership.of([1, 2])))  # slot 1 unknown
    campaign(core)
    b = core.own_ballot()
    core.step(Promise(2, 1, b, 1, 0, ()))
    rd = take(core)
    assert core.status().role is Role.CANDIDATE
    assert sorted(m.dst for m in of_type(out(rd), CatchUp)) == [2, 3]
    core.step(Chosen(2, 1, (Entry(1, 7, b"a"),), 2))
    rd = take(core)  # now exact: {1, 2} governs slot 3, phase 1 starts over
    assert core.voters == (1, 2) and core.own_ballot() > b
    assert of_type(out(rd), Prepare) == [Prepare(1, 2, core.own_ballot(), 3)]


# -- phase 1 with configurations --------------------------------------------------------
def test_phase_one_stops_at_the_first_config_vote_it_adopts() -> None:
    core = core_of(1, ABC)
    campaign(core)
    b = core.own_ballot()
    old = Ballot(1, 2)
    votes = (
        AcceptedRecord(old, config_entry(1, WITH_4, old.as_term())),
        AcceptedRecord(old, Entry(2, old.as_term(), b"after")),
    )
    core.step(Promise(2, 1, b, 1, 0, votes))
    accepts = of_type(out(take(core)), Accept)
    assert [m.entries for m in accepts] == [(votes[0].entry,)] * 2  # not slot 2 yet
    with pytest.raises(ProposalDropped):
        core.propose(b"x")
    core.step(Accepted(2, 1, b, (1,)))
    rd = take(core)  # chosen: phase 1 again above it, with the new configuration's voters
    assert core.status().role is Role.CANDIDATE and core.own_ballot() > b
    assert [m.first_slot for m in of_type(out(rd), Prepare)] == [2, 2]


def test_a_candidate_that_learns_a_config_from_the_fetched_values_starts_over() -> None:
    core = core_of(1, ABC)
    campaign(core)
    b = core.own_ballot()
    core.step(Promise(2, 1, b, 1, 1, ()))
    assert of_type(out(take(core)), CatchUp) == [CatchUp(1, 2, 1)]
    assert core.status().role is Role.CANDIDATE
    smaller = Membership.of([1, 2])
    core.step(Chosen(2, 1, (config_entry(1, smaller),), 1))
    rd = take(core)
    assert core.status().role is Role.CANDIDATE and core.own_ballot() > b
    assert of_type(out(rd), Prepare) == [Prepare(1, 2, core.own_ballot(), 2)]
    core.step(Promise(2, 1, core.own_ballot(), 2, 1, ()))
    assert core.status().role is Role.LEADER and core.voters == (1, 2)


# -- recovery and snapshots -------------------------------------------------------------
def test_restart_rebuilds_the_configuration_from_snapshot_meta_and_config_entries() -> None:
    meta = SnapshotMeta(5, 7, (1, 2, 3), (4,))
    entries = (Entry(6, 7, b"x"), config_entry(7, Membership.of([1, 2, 3, 4])))
    rec = Recovered(PaxosHardState(Ballot(1, 1), 7, ()), Snapshot(meta, b"img"), entries)
    core = core_of(2, ABC, recovered=rec)  # the snapshot and log win over the argument
    assert core.membership() == Membership.of([1, 2, 3, 4])
    assert core.membership_at(6) == WITH_4 and core.membership_at(5) == WITH_4
    assert core.snapshot_meta(7, 9) == SnapshotMeta(7, 9, (1, 2, 3, 4))
    assert core.snapshot_meta(6, 9) == SnapshotMeta(6, 9, (1, 2, 3), (4,))


def test_compaction_records_the_membership_as_of_the_snapshot_index() -> None:
    rec = Recovered(
        PaxosHardState(Ballot(1, 1), 2, ()),
        None,
        (config_entry(1, WITH_4), Entry(2, 7, b"x")),
    )
    core = core_of(2, ABC, recovered=rec)
    take(core)
    core.compact(Snapshot(SnapshotMeta(2, 7, (1, 2, 3)), b"img"))  # stale meta from a driver
    assert core.snapshot is not None and core.snapshot.meta.learners == (4,)
    core.step(CatchUp(4, 2, 1))
    sent = of_type(out(take(core)), SnapshotChunk)  # sent in chunks
    assert sent and sent[0].meta.learners == (4,)


def test_an_installed_snapshot_brings_its_configuration() -> None:
    core = core_of(4, WITH_4)
    meta = SnapshotMeta(9, 7, (1, 2, 3, 4))
    core.step(ChosenSnapshot(1, 4, Snapshot(meta, b"img"), 9))
    assert core.membership() == Membership.of([1, 2, 3, 4]) and core.voters == (1, 2, 3, 4)
