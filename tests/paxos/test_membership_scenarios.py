"""Multi-Paxos membership scenarios on a hand-driven cluster (every Ready goes through the
simulator's Cluster, so its safety checkers watch each step)."""

from __future__ import annotations

import pytest

from consensus.core import Role
from consensus.errors import ProposalDropped
from consensus.membership import ChangeKind, ConfChange, Membership, MembershipError
from consensus.messages import Accept, Prepare, Promise
from consensus.paxos import PaxosConfig
from consensus.types import EntryKind, NodeId

from .cluster import PaxosCluster, isolate

OLD = Membership.of([1, 2, 3])


def joining(node: NodeId) -> Membership:
    """Every node is built with {1, 2, 3}: node 4 starts outside it, as a spare."""
    return OLD


def add(node: NodeId) -> ConfChange:
    return ConfChange(ChangeKind.ADD_LEARNER, node)


def promote(node: NodeId) -> ConfChange:
    return ConfChange(ChangeKind.PROMOTE, node)


def remove(node: NodeId) -> ConfChange:
    return ConfChange(ChangeKind.REMOVE, node)


def four(config: PaxosConfig | None = None) -> PaxosCluster:
    c = PaxosCluster(4, config=config, members=joining)
    c.elect(1, drop=isolate(4))
    return c


def data(c: PaxosCluster, node: NodeId) -> list[bytes]:
    return [e.data for e in c.applied(node) if e.kind is EntryKind.NORMAL]


def with_learner(config: PaxosConfig | None = None) -> PaxosCluster:
    c = four(config)
    c.change(1, add(4))
    c.run()
    return c


def promoted() -> PaxosCluster:
    c = with_learner()
    c.tick_all(2)
    c.change(1, promote(4))
    c.run()
    c.tick_all(25)  # the leader runs phase 1 again with the new quorum
    return c


def test_add_learner_the_learner_gets_every_value_but_is_not_counted() -> None:
    c = four()
    c.sim.propose(1, b"a")
    c.run(drop=isolate(4))
    ticket = c.change(1, add(4))
    c.run()
    assert c.core(1).membership() == Membership.of([1, 2, 3], [4])
    config_entry = c.applied(1)[-1]
    assert (config_entry.index, config_entry.term) == (ticket.index, ticket.term)
    assert config_entry.kind is EntryKind.CONFIG
    c.sim.propose(1, b"b")
    c.run()
    c.tick_all(1)  # the commit index rides on the next heartbeat
    assert data(c, 4) == data(c, 1) == [b"a", b"b"]  # caught up, then replicated to
    for node in (1, 2, 3, 4):
        assert c.core(node).membership() == Membership.of([1, 2, 3], [4])
    # quorums are still those of {1, 2, 3}: the learner alone adds nothing
    c.sim.propose(1, b"c")
    c.run(drop=isolate(2, 3))
    assert data(c, 1) == [b"a", b"b"]


def test_a_learner_catches_up_on_a_long_log() -> None:
    c = four(PaxosConfig(max_entries_per_msg=8))
    for i in range(40):
        c.sim.propose(1, b"v%d" % i)
        c.run(drop=isolate(4))
    c.change(1, add(4))
    c.run()
    c.tick_all(3)
    assert data(c, 4) == data(c, 1) and len(data(c, 4)) == 40
    assert c.core(4).status().commit_index == c.core(1).status().commit_index


def test_a_learner_never_campaigns_nor_promises() -> None:
    c = with_learner()
    c.sim.crash(1)
    c.mailbox.clear()
    c.tick_all(60, drop=lambda m: m.src == 2 or m.src == 3)  # 2 and 3 silent
    learner = c.core(4)
    assert learner.status().role is Role.FOLLOWER
    ballot = learner.acceptor.promised
    c.sim.deliver(Prepare(2, 4, type(ballot)(ballot.round + 5, 2), 1))
    assert not [m for m in c.mailbox if isinstance(m, Promise)]


def test_promote_is_refused_until_the_learner_caught_up() -> None:
    c = four(PaxosConfig(learner_max_lag=3))
    c.change(1, add(4))
    c.run(drop=isolate(4))
    for i in range(10):
        c.sim.propose(1, b"v%d" % i)
        c.run(drop=isolate(4))
    with pytest.raises(MembershipError, match="node 4 has not caught up: it reported slot 0"):
        c.change(1, promote(4))
    c.tick_all(3)  # heartbeats: 4 catches up and reports its commit index
    c.change(1, promote(4))
    c.run()
    assert c.core(1).membership() == Membership.of([1, 2, 3, 4])


def test_promote_the_leader_runs_phase_one_again_with_the_new_quorum() -> None:
    c = with_learner()
    c.tick_all(2)
    ballot = c.core(1).own_ballot()
    c.change(1, promote(4))
    c.run()
    c.tick_all(25)
    leader = c.core(1)
    assert leader.status().role is Role.LEADER and leader.own_ballot() > ballot
    assert leader.voters == (1, 2, 3, 4)
    for node in (1, 2, 3, 4):
        assert c.core(node).membership() == Membership.of([1, 2, 3, 4])
    # two voters of four are no quorum any more; three are
    c.sim.propose(1, b"x")
    c.run(drop=isolate(3, 4))
    assert b"x" not in data(c, 1)
    c.tick_all(5, drop=isolate(4))
    assert b"x" in data(c, 1)


def test_a_new_leader_after_a_change_needs_the_new_quorum() -> None:
    c = promoted()
    c.sim.crash(1)
    c.mailbox.clear()
    # 2 and 3 are no majority of {1, 2, 3, 4}: nobody can lead without 4
    c.tick_all(80, drop=isolate(1, 4))
    assert all(c.core(n).status().role is not Role.LEADER for n in (2, 3))
    c.tick_all(60, drop=isolate(1))
    leaders = [n for n in (2, 3, 4) if c.core(n).status().role is Role.LEADER]
    assert len(leaders) == 1
    new = c.core(leaders[0])
    assert new.voters == (1, 2, 3, 4)
    c.sim.propose(leaders[0], b"y")
    c.run(drop=isolate(1))
    assert b"y" in data(c, leaders[0])


def test_remove_a_follower() -> None:
    c = four()
    c.change(1, remove(3))
    c.run()
    for node in (1, 2, 3):
        assert c.core(node).membership() == Membership.of([1, 2])
    c.mailbox.clear()
    c.tick_all(40)
    assert c.core(1).status().role is Role.LEADER  # the removed node does not disrupt
    assert c.core(3).status().role is Role.FOLLOWER
    c.sim.propose(1, b"z")
    c.run()
    c.tick_all(1)
    assert b"z" in data(c, 2) and b"z" not in data(c, 3)  # it gets nothing any more
    c.sim.propose(1, b"w")
    c.run(drop=isolate(3))
    assert b"w" in data(c, 1)  # {1, 2} is the whole cluster


def test_remove_the_leader_it_steps_down_once_the_change_is_chosen() -> None:
    c = four()
    c.sim.propose(1, b"a")
    c.run()
    c.change(1, remove(1))
    assert c.core(1).status().role is Role.LEADER  # until chosen
    c.run()
    old = c.core(1)
    assert old.status().role is Role.FOLLOWER
    assert old.membership() == Membership.of([2, 3])
    c.tick_all(60)
    assert old.status().role is Role.FOLLOWER  # never campaigns again
    leaders = [n for n in (2, 3) if c.core(n).status().role is Role.LEADER]
    assert len(leaders) == 1
    c.sim.propose(leaders[0], b"b")
    c.run()
    assert data(c, leaders[0])[-1] == b"b"


def test_a_change_is_refused_while_another_is_in_flight() -> None:
    c = four()
    c.change(1, add(4))
    with pytest.raises(MembershipError, match="another configuration change is in flight"):
        c.change(1, remove(3))
    with pytest.raises(ProposalDropped, match="configuration change is in flight"):
        c.sim.propose(1, b"x")
    c.run()
    with pytest.raises(MembershipError, match="node 4 is already a learner"):
        c.change(1, add(4))
    c.change(1, remove(3))  # the first one is chosen: the next may go
    c.run()
    assert c.core(1).membership() == Membership.of([1, 2], [4])


def test_a_change_waits_for_the_slots_below_it_to_be_chosen() -> None:
    c = four()
    c.sim.propose(1, b"a")
    c.mailbox.clear()  # nobody got it: slot 1 is not chosen
    c.change(1, add(4))
    assert not [m for m in c.mailbox if isinstance(m, Accept)]  # draining, not proposed
    c.tick_all(4)  # the leader re-sends slot 1; once chosen, the change goes out
    assert c.core(1).membership() == Membership.of([1, 2, 3], [4])
    assert [e.kind for e in c.applied(2)] == [EntryKind.NORMAL, EntryKind.CONFIG]


def test_restart_recovers_the_configuration() -> None:
    c = promoted()
    c.change(1, remove(2))
    c.run()
    c.tick_all(25)
    want = Membership.of([1, 3, 4])
    for node in (3, 4):
        c.sim.crash(node)
        c.sim.restart(node)
        assert c.core(node).membership() == want
    c.tick_all(3)
    c.sim.propose(1, b"after")
    c.run()
    c.tick_all(1)
    assert b"after" in data(c, 4)
