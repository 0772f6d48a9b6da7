"""Raft membership changes, scripted end to end on the in-memory harness network."""

from __future__ import annotations

import pytest

from consensus.core import Role
from consensus.membership import ChangeKind, ConfChange, Membership, MembershipError
from consensus.messages import AppendEntries, Heartbeat, InstallSnapshot, RequestVote
from consensus.raft import RaftConfig, RaftCore

from .harness import Network, of_type

ADD = ChangeKind.ADD_LEARNER
PROMOTE = ChangeKind.PROMOTE
REMOVE = ChangeKind.REMOVE


def _cluster(voters: tuple[int, ...] = (1, 2, 3), seed: int = 5) -> Network:
    net = Network(voters=voters, seed=seed)
    net.elect(1)
    net.stabilize()
    return net


def _change(net: Network, leader: int, kind: ChangeKind, node: int) -> None:
    ticket = net.core(leader).propose_change(ConfChange(kind, node))
    net.stabilize()
    assert net.core(leader).log.committed >= ticket.index


def test_add_catch_up_promote_then_the_new_voter_counts() -> None:
    net = _cluster()
    for i in range(5):
        net.propose(1, b"a%d" % i)
    net.stabilize()
    net.add_node(4)
    _change(net, 1, ADD, 4)
    assert net.log(4) == net.log(1)  # caught up as a learner
    assert not net.core(4).is_voter and net.status(4).membership == Membership.of([1, 2, 3], [4])
    _change(net, 1, PROMOTE, 4)
    assert net.core(4).is_voter and all(net.core(n).voters == (1, 2, 3, 4) for n in (1, 2, 3, 4))
    # Four voters: a quorum is three, so the leader and one follower no longer commit.
    net.partition([1, 2], [3, 4])
    ticket = net.propose(1, b"x")
    net.stabilize()
    assert net.core(1).log.committed < ticket.index
    net.heal()
    net.run_ticks(2)
    assert net.core(1).log.committed >= ticket.index


def test_a_learner_added_after_compaction_catches_up_by_snapshot() -> None:
    net = _cluster()
    for i in range(5):
        net.propose(1, b"a%d" % i)
    net.stabilize()
    for n in (1, 2, 3):
        net.compact(n, net.core(n).log.applied)
    net.add_node(4)
    seen: list[InstallSnapshot] = []
    net.observers.append(lambda m: seen.append(m) if isinstance(m, InstallSnapshot) else None)
    _change(net, 1, ADD, 4)
    assert seen and seen[0].meta.voters == (1, 2, 3) and seen[0].meta.learners == ()
    assert net.nodes[4].applied == net.nodes[1].applied  # the snapshot, then the rest
    assert net.status(4).membership == Membership.of([1, 2, 3], [4])


def test_a_leader_that_removes_itself_steps_down_once_the_removal_commits() -> None:
    net = _cluster()
    ticket = net.core(1).propose_change(ConfChange(REMOVE, 1))
    assert net.core(1).role is Role.LEADER and not net.core(1).is_voter
    net.stabilize()
    old = net.core(1)
    assert old.role is Role.FOLLOWER and old.log.committed >= ticket.index
    assert net.core(2).log.committed >= ticket.index  # told before stepping down
    net.run_ticks(5 * net.config.election_ticks)
    assert net.leader() in (2, 3) and net.core(2).voters == (2, 3)
    assert old.role is Role.FOLLOWER and old.leader is None  # never campaigns again
    t = net.propose(net.leader(), b"after")
    net.stabilize()
    assert net.core(2).log.committed >= t.index


def test_the_removal_of_the_leader_commits_on_the_new_voters_only() -> None:
    net = _cluster()
    net.partition([1], [2, 3])
    ticket = net.core(1).propose_change(ConfChange(REMOVE, 3))
    net.stabilize()
    assert net.core(1).log.committed < ticket.index  # new voters 1, 2: 2 is needed
    net.heal()
    net.run_ticks(1)
    assert net.core(1).log.committed >= ticket.index


def test_a_removed_node_that_never_learned_it_does_not_disrupt_the_cluster() -> None:
    net = _cluster()
    net.partition([1, 2], [3])
    _change(net, 1, REMOVE, 3)
    assert net.core(3).voters == (1, 2, 3)  # it never heard of its removal
    term = net.core(1).term
    asks: list[RequestVote] = []
    net.observers.append(lambda m: asks.append(m) if isinstance(m, RequestVote) else None)
    net.run_ticks(5 * net.config.election_ticks)  # node 3 times out alone, pre-votes
    net.heal()
    net.run_ticks(10 * net.config.election_ticks)
    assert asks  # it did try (pre-votes) ...
    assert net.leader() == 1 and net.core(1).term == term  # ... and changed nothing
    assert net.core(2).term == term and net.core(2).leader == 1


def test_a_change_is_refused_while_another_is_in_flight_then_taken() -> None:
    net = _cluster()
    net.add_node(4)
    net.add_node(5)
    net.partition([1], [2, 3, 4, 5])
    net.core(1).propose_change(ConfChange(ADD, 4))
    net.stabilize()
    try:
        net.core(1).propose_change(ConfChange(ADD, 5))
    except Exception as exc:
        assert "one change at a time" in str(exc)
    else:
        raise AssertionError("a second change was taken while the first was in flight")
    net.heal()
    net.run_ticks(2)
    _change(net, 1, ADD, 5)
    assert net.core(1).membership() == Membership.of([1, 2, 3], [4, 5])


def test_a_truncated_config_entry_reverts_the_configuration_on_its_node() -> None:
    net = _cluster()
    net.add_node(4)
    net.partition([1], [2, 3, 4])
    net.core(1).propose_change(ConfChange(ADD, 4))
    net.stabilize()
    assert net.core(1).membership().learners == (4,)
    net.run_ticks(5 * net.config.election_ticks, ids=[2, 3])
    new = net.leader()
    assert new in (2, 3)
    net.heal()
    net.run_ticks(3)
    # Node 1 followed the new leader: its uncommitted CONFIG entry is gone, and with it
    # the learner.
    assert net.core(1).role is Role.FOLLOWER
    assert net.core(1).membership() == Membership.of([1, 2, 3])
    assert net.core(1).config_index() == 0


def test_a_restarted_node_recovers_its_configuration_from_its_log() -> None:
    net = _cluster()
    net.add_node(4)
    _change(net, 1, ADD, 4)
    _change(net, 1, PROMOTE, 4)
    for n in (2, 4):
        net.crash(n)
        net.restart(n)
        assert net.core(n).membership() == Membership.of([1, 2, 3, 4])
    assert net.core(4).is_voter


def test_a_restarted_node_recovers_its_configuration_from_its_snapshot() -> None:
    net = _cluster()
    net.add_node(4)
    _change(net, 1, ADD, 4)
    _change(net, 1, PROMOTE, 4)
    _change(net, 1, REMOVE, 3)
    net.propose(1, b"x")
    net.stabilize()
    snap = net.compact(2, net.core(2).log.applied)
    assert snap.meta.voters == (1, 2, 4) and net.core(2).config_index() == 0
    net.crash(2)
    net.restart(2)
    assert net.core(2).membership() == Membership.of([1, 2, 4])
    assert net.core(2).log.first_index() == snap.meta.index + 1
    # It still takes part: an election among the new voters asks nobody else.
    asked: set[int] = set()
    net.observers.append(lambda m: asked.add(m.dst) if of_type(RequestVote)(m) else None)
    net.crash(1)
    net.run_ticks(5 * net.config.election_ticks, ids=[2, 4])
    assert net.leader() in (2, 4) and asked <= {1, 2, 4} and 3 not in asked


def _bug_cluster() -> Network:
    # Without check-quorum: followers that just lost leader 1 answer node 2 at once.
    net = Network(voters=(1, 2, 3, 4), seed=5, config=RaftConfig(check_quorum=False))
    net.elect(1)
    net.stabilize()
    return net


def _single_server_bug(net: Network) -> None:
    """Ongaro's single-server bug (raft-dev, 2015), up to the second leader's change.

    Voters 1-4, learner 5. Leader 1 promotes 5; the entry reaches 5 only, and both crash.
    Node 2 wins term 2 with the votes of 3 and 4, its no-op reaching 3 but not 4, and at
    once asks to remove node 1: voters 2-4, a quorum of 2, so 2 and 3 alone commit it.
    """
    net.add_node(5)
    _change(net, 1, ADD, 5)
    net.run_ticks(2)  # heartbeats: everyone learns that the addition committed
    net.partition([1, 5], [2, 3, 4])
    net.core(1).propose_change(ConfChange(PROMOTE, 5))
    net.stabilize()
    net.crash(1)
    net.crash(5)
    net.campaign(2)

    def to_4(m: object) -> bool:
        return isinstance(m, AppendEntries | Heartbeat) and m.dst == 4

    for _ in range(20):
        net.process_all()
        net.deliver(drop=to_4)
        if net.core(2).role is Role.LEADER:
            break
    assert net.core(2).role is Role.LEADER
    net.core(2).propose_change(ConfChange(REMOVE, 1))


def test_the_own_term_commit_rule_prevents_the_single_server_bug() -> None:
    net = _bug_cluster()
    with pytest.raises(MembershipError, match="has not committed an entry of its term 2"):
        _single_server_bug(net)


def test_without_the_own_term_commit_rule_two_majorities_commit_different_entries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(RaftCore, "_committed_in_term", lambda self: True)
    net = _bug_cluster()
    _single_server_bug(net)
    for _ in range(5):  # 2 and 3 commit the removal (and 2's no-op) on their own
        net.process_all()
        net.deliver(drop=lambda m: m.dst == 4)
    committed = net.core(2).log.committed
    assert committed == net.core(2).log.last_index()
    # 2 and 3 go down; 1 comes back with 4 and 5: its configuration (voters 1-5, from
    # the promotion in its log) gives it a majority that 4's shorter log does not stop.
    net.crash(2)
    net.crash(3)
    net.restart(1)
    net.restart(5)
    net.heal()
    with pytest.raises(AssertionError, match="state machine safety"):
        for _ in range(10):
            net.campaign(1)
            net.stabilize()
