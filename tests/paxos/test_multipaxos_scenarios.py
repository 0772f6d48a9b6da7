"""Multi-Paxos scenarios on a hand-driven cluster (every Ready goes through the
simulator's Cluster, so its safety checkers watch each step)."""

from __future__ import annotations

from consensus.core import Role
from consensus.messages import Accept, Accepted
from consensus.types import EntryKind

from .cluster import PaxosCluster, isolate


def test_steady_state_commits_in_one_round_trip() -> None:
    c = PaxosCluster()
    c.elect(1)
    c.sim.propose(1, b"x")
    assert [type(m) for m in c.mailbox] == [Accept, Accept]
    c.round()  # Accepts arrive
    assert [type(m) for m in c.mailbox] == [Accepted, Accepted]
    c.round()  # Accepteds arrive: chosen and applied at the leader
    assert [e.data for e in c.applied(1)] == [b"x"]


def test_a_new_leader_fills_holes_with_noops_and_keeps_chosen_values() -> None:
    c = PaxosCluster()
    c.elect(1)
    ta = c.sim.propose(1, b"a")
    c.run()
    c.sim.propose(1, b"b")
    c.mailbox.clear()  # b reaches no one
    tc = c.sim.propose(1, b"c")
    c.run()
    c.sim.crash(1)
    c.core(2).randomized_election_ticks = 1_000  # let node 3's lease run out first
    c.tick_all(c.core(3).config.election_ticks, drop=isolate(1))
    c.elect(2, drop=isolate(1))
    c.tick_all(3, drop=isolate(1))
    assert c.core(2).status().role is Role.LEADER
    log = c.applied(3)
    assert [(e.index, e.data, e.kind) for e in log] == [
        (1, b"a", EntryKind.NORMAL),
        (2, b"", EntryKind.NOOP),
        (3, b"c", EntryKind.NORMAL),
    ]
    assert (log[0].term, log[2].term) == (ta.term, tc.term)  # adopted with their origin


def test_a_lagging_follower_catches_up_on_chosen_values() -> None:
    c = PaxosCluster()
    c.elect(1)
    for i in range(20):
        c.sim.propose(1, b"v%d" % i)
        c.run(drop=isolate(3))
    assert len(c.applied(1)) == 20 and c.applied(3) == []
    c.tick_all(3)
    assert c.applied(3) == c.applied(1)


def test_a_restarted_node_reapplies_from_its_storage_and_catches_up() -> None:
    c = PaxosCluster()
    c.elect(1)
    for i in range(5):
        c.sim.propose(1, b"v%d" % i)
    c.run()
    c.sim.crash(2)
    c.sim.restart(2)
    c.tick_all(3)
    assert [e.data for e in c.applied(2)] == [b"v%d" % i for i in range(5)]


def test_a_deposed_leader_does_not_answer_a_read_with_a_stale_index() -> None:
    c = PaxosCluster()
    c.elect(1)
    c.sim.propose(1, b"x")
    c.run()
    cut = isolate(1)
    c.tick_all(c.core(2).config.election_ticks, drop=cut)  # 2 and 3 stop hearing from 1
    c.elect(2, drop=cut)
    assert c.core(2).status().role is Role.LEADER
    c.sim.propose(2, b"y")
    c.run(drop=cut)
    assert [e.data for e in c.applied(2)] == [b"x", b"y"]
    outcome: list[bool] = []
    c.sim.read_index(1, b"stale?", outcome.append)  # node 1 still believes it leads
    c.run(drop=cut)
    assert outcome == []  # no majority confirms ballot 1: no answer
    c.tick_all(2)  # the partition heals: node 1 learns of the higher ballot
    assert c.core(1).status().role is Role.FOLLOWER
    assert outcome == [False]  # dropped, never answered with index 1
