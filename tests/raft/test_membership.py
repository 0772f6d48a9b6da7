"""Raft membership, one rule per test (single-server changes, dissertation chapter 4).

The rules: a change adds a learner, promotes one or removes a member; a leader appends one
only after an entry of its term committed and while no other is uncommitted; the
configuration in effect is the last CONFIG entry of the log (committed or not), else the
snapshot's, else the initial one; non-voters never campaign; learners get the log but
never count for commit, read-index or check-quorum.
"""

from __future__ import annotations

import random

import pytest

from consensus.core import Role
from consensus.errors import NotLeader
from consensus.membership import ChangeKind, ConfChange, Membership, MembershipError
from consensus.messages import AppendEntries, RequestVote, RequestVoteResponse
from consensus.raft import RaftConfig, RaftCore
from consensus.types import Entry, EntryKind

from .harness import Network, drain, elect, make_core, take

ADD = ChangeKind.ADD_LEARNER
PROMOTE = ChangeKind.PROMOTE
REMOVE = ChangeKind.REMOVE


def _leader_with_noop_committed(voters: tuple[int, ...] = (1, 2, 3)) -> Network:
    net = Network(voters=voters, seed=3)
    net.elect(1)
    net.stabilize()
    return net


# -- where the configuration comes from ---------------------------------------------------
def test_initial_configuration_from_ids_or_membership() -> None:
    rng = random.Random(0)
    assert RaftCore(1, [3, 1, 2], rng).membership() == Membership.of([1, 2, 3])
    core = RaftCore(1, Membership.of([1, 2], [3]), rng)
    assert core.membership().learners == (3,) and core.voters == (1, 2)
    assert core.peers == (2, 3) and core.voter_peers == (2,)
    assert core.status().membership == Membership.of([1, 2], [3])


def test_configuration_is_the_last_config_entry_in_the_log_committed_or_not() -> None:
    core = make_core(2)
    new = Membership.of([1, 2, 3], [4])
    entries = (Entry(1, 1, b"", EntryKind.NOOP), Entry(2, 1, new.encode(), EntryKind.CONFIG))
    core.step(AppendEntries(1, 2, 1, 0, 0, entries, 0))  # commit 0: not committed
    assert core.membership() == new and core.config_index() == 2
    assert core.membership_at(1) == Membership.of([1, 2, 3])
    assert core.membership_at(2) == new


def test_truncated_config_entry_reverts_the_configuration() -> None:
    core = make_core(2)
    new = Membership.of([1, 2, 3], [4])
    core.step(AppendEntries(1, 2, 1, 0, 0, (Entry(1, 1, new.encode(), EntryKind.CONFIG),), 0))
    assert core.membership() == new
    # A leader of term 2 overwrites index 1 with its own entry.
    core.step(AppendEntries(3, 2, 2, 0, 0, (Entry(1, 2, b"x"),), 0))
    assert core.membership() == Membership.of([1, 2, 3]) and core.config_index() == 0


# -- who campaigns and votes ----------------------------------------------------------------
def test_a_non_voter_never_campaigns() -> None:
    for core in (make_core(4), RaftCore(3, Membership.of([1, 2], [3]), random.Random(1))):
        assert not core.is_voter
        for _ in range(200):
            core.tick()
        assert core.role is Role.FOLLOWER and not drain(core)


def test_a_non_voter_ignores_timeout_now() -> None:
    from consensus.messages import TimeoutNow

    core = make_core(4)
    core.step(TimeoutNow(1, 4, 1))
    assert core.role is Role.FOLLOWER and not any(isinstance(m, RequestVote) for m in drain(core))


def test_a_learner_still_answers_vote_requests_by_the_usual_rules() -> None:
    # A candidate whose log promotes node 4 needs 4's vote before 4 has that entry
    # (with one voter, two are needed): 4 must be able to vote, as in etcd/raft.
    learner = RaftCore(4, Membership.of([1], [4]), random.Random(1), RaftConfig())
    learner.step(RequestVote(1, 4, 2, 5, 1, False, False))
    votes = [m for m in drain(learner) if isinstance(m, RequestVoteResponse)]
    assert votes and votes[0].granted


def test_a_joiner_follows_a_leader_it_was_not_built_with() -> None:
    # Node 7 was built with voters 1-3; the leader is node 6 (added later).
    core = make_core(7)
    core.step(AppendEntries(6, 7, 5, 0, 0, (Entry(1, 5, b"a"),), 1))
    assert core.leader == 6 and core.log.last_index() == 1 and core.log.committed == 1


# -- the leader's rules -------------------------------------------------------------------
def test_changes_are_refused_off_the_leader() -> None:
    net = _leader_with_noop_committed()
    with pytest.raises(NotLeader):
        net.core(2).propose_change(ConfChange(ADD, 4))


def test_change_refused_before_the_leader_committed_an_entry_of_its_term() -> None:
    core = make_core(1)
    elect(core)
    assert core.role is Role.LEADER
    with pytest.raises(MembershipError, match=r"has not committed an entry of its term \d"):
        core.propose_change(ConfChange(ADD, 4))


def test_one_uncommitted_change_at_a_time() -> None:
    net = _leader_with_noop_committed()
    leader = net.core(1)
    leader.propose_change(ConfChange(ADD, 4))
    with pytest.raises(MembershipError, match=r"is not committed yet; one change at a time"):
        leader.propose_change(ConfChange(ADD, 5))
    net.stabilize()
    leader.propose_change(ConfChange(ADD, 5))  # the first committed: fine now


def test_changes_that_do_not_apply_are_refused() -> None:
    net = _leader_with_noop_committed()
    leader = net.core(1)
    with pytest.raises(MembershipError, match=r"^node 2 is already a voter$"):
        leader.propose_change(ConfChange(ADD, 2))
    with pytest.raises(MembershipError, match=r"^node 9 is not a learner"):
        leader.propose_change(ConfChange(PROMOTE, 9))
    with pytest.raises(MembershipError, match=r"^node 9 is not a member"):
        leader.propose_change(ConfChange(REMOVE, 9))


def test_promoting_a_learner_that_lags_is_refused() -> None:
    net = Network(voters=(1, 2, 3), seed=3, config=RaftConfig(max_promote_lag=2))
    net.elect(1)
    net.stabilize()
    net.add_node(4)
    leader = net.core(1)
    leader.propose_change(ConfChange(ADD, 4))
    net.partition([1, 2, 3], [4])
    net.stabilize()
    for i in range(3):
        net.propose(1, b"p%d" % i)
    net.stabilize()
    with pytest.raises(MembershipError, match=r"entries behind the leader.*max_promote_lag=2"):
        leader.propose_change(ConfChange(PROMOTE, 4))
    net.heal()
    net.run_ticks(3)
    leader.propose_change(ConfChange(PROMOTE, 4))
    net.stabilize()
    assert net.core(4).is_voter and leader.voters == (1, 2, 3, 4)


def test_transfer_to_a_learner_is_refused() -> None:
    net = _leader_with_noop_committed()
    net.add_node(4)
    net.core(1).propose_change(ConfChange(ADD, 4))
    net.stabilize()
    with pytest.raises(ValueError, match=r"^cannot transfer leadership to node 4: not a voter"):
        net.core(1).transfer_leadership(4)


# -- learners ------------------------------------------------------------------------------
def test_learners_never_count_towards_commit() -> None:
    net = _leader_with_noop_committed()
    net.add_node(4)
    net.core(1).propose_change(ConfChange(ADD, 4))
    net.stabilize()
    net.partition([1, 4], [2, 3])
    ticket = net.propose(1, b"x")
    net.stabilize()
    assert net.core(4).log.last_index() >= ticket.index  # replicated to the learner...
    assert net.core(1).log.committed < ticket.index  # ...which does not count


def test_learners_never_count_for_check_quorum_or_read_index() -> None:
    net = _leader_with_noop_committed()
    net.add_node(4)
    net.core(1).propose_change(ConfChange(ADD, 4))
    net.stabilize()
    net.partition([1, 4], [2, 3])
    net.core(1).read_index(b"r")
    net.run_ticks(3, ids=[1, 4])
    assert not net.nodes[1].read_states
    net.run_ticks(2 * net.config.election_ticks, ids=[1, 4])
    assert net.core(1).role is not Role.LEADER  # check-quorum: the learner is no quorum


def test_status_shows_membership_and_leader_progress() -> None:
    net = _leader_with_noop_committed()
    net.add_node(4)
    net.core(1).propose_change(ConfChange(ADD, 4))
    net.stabilize()
    st = net.status(1)
    last = st.last_index
    assert st.membership == Membership.of([1, 2, 3], [4])
    assert st.progress == ((1, last), (2, last), (3, last), (4, last))
    assert net.status(2).progress == () and net.status(4).membership == st.membership


def test_snapshot_meta_carries_the_configuration_as_of_its_index() -> None:
    core = make_core(2)
    new = Membership.of([1, 2, 3], [4])
    entries = (Entry(1, 1, b"a"), Entry(2, 1, new.encode(), EntryKind.CONFIG))
    core.step(AppendEntries(1, 2, 1, 0, 0, entries, 0))
    take(core)
    meta = core.snapshot_meta(1, 1)
    assert (meta.voters, meta.learners) == ((1, 2, 3), ())
    meta = core.snapshot_meta(2, 1)
    assert (meta.voters, meta.learners) == ((1, 2, 3), (4,))
