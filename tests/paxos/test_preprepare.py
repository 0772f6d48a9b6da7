"""The pre-vote guard (``PaxosConfig.pre_prepare``): probe before raising a ballot, and
refuse probes while a live leader is heard. Rules on one core; scenarios on the
hand-driven cluster showing what the guard prevents, and that elections still succeed."""

from __future__ import annotations

from consensus.core import Role
from consensus.messages import ZERO_BALLOT, Ballot, PaxosHeartbeat, Prepare
from consensus.messages.paxos import PrePrepare, PrePromise
from consensus.paxos import PaxosConfig

from .cluster import PaxosCluster, isolate
from .helpers import new_core, of_type, out, take

UNGUARDED = PaxosConfig(pre_prepare=False, check_quorum=False)


# -- rules on one core ----------------------------------------------------------------------
def test_an_expired_timeout_probes_without_raising_the_promise() -> None:
    core = new_core(1)
    core.election_elapsed = core.randomized_election_ticks - 1
    core.tick()
    rd = take(core)
    assert of_type(out(rd), PrePrepare) == [
        PrePrepare(1, 2, Ballot(1, 1)),
        PrePrepare(1, 3, Ballot(1, 1)),
    ]
    assert not of_type(out(rd), Prepare)
    assert rd.hard_state is None and not rd.must_sync  # nothing durable changed
    assert core.acceptor.promised == ZERO_BALLOT
    assert core.status().role is Role.PRE_CANDIDATE


def test_a_granted_probe_starts_phase_one_above_every_reported_promise() -> None:
    core = new_core(1)
    core.election_elapsed = core.randomized_election_ticks - 1
    core.tick()
    take(core)
    core.step(PrePromise(3, 1, Ballot(1, 1), True, Ballot(5, 3)))
    rd = take(core)
    assert of_type(out(rd), Prepare) == [
        Prepare(1, 2, Ballot(6, 1), 1),
        Prepare(1, 3, Ballot(6, 1), 1),
    ]
    assert core.status().role is Role.CANDIDATE


def test_a_refused_probe_waits_for_the_next_timeout() -> None:
    core = new_core(1)
    core.election_elapsed = core.randomized_election_ticks - 1
    core.tick()
    take(core)
    core.step(PrePromise(2, 1, Ballot(1, 1), False, ZERO_BALLOT))
    core.step(PrePromise(3, 1, Ballot(1, 1), False, ZERO_BALLOT))
    assert core.probe is None and core.status().role is Role.FOLLOWER
    assert not of_type(out(take(core)), Prepare)
    core.step(PrePromise(2, 1, Ballot(1, 1), True, ZERO_BALLOT))  # too late: ignored
    assert not of_type(out(take(core)), Prepare)


def test_hearing_from_a_leader_drops_the_probe() -> None:
    core = new_core(1)
    core.election_elapsed = core.randomized_election_ticks - 1
    core.tick()
    take(core)
    core.step(PaxosHeartbeat(2, 1, Ballot(1, 2), 0))
    core.step(PrePromise(3, 1, Ballot(1, 1), True, ZERO_BALLOT))
    assert core.status().role is Role.FOLLOWER and core.leader == 2
    assert not of_type(out(take(core)), Prepare)


def test_a_node_hearing_its_leader_refuses_a_probe_and_changes_nothing() -> None:
    core = new_core(3)
    core.step(PaxosHeartbeat(1, 3, Ballot(1, 1), 0))
    take(core)
    elapsed = core.election_elapsed
    core.step(PrePrepare(2, 3, Ballot(2, 2)))
    rd = take(core)
    assert rd.messages == (PrePromise(3, 2, Ballot(2, 2), False, ZERO_BALLOT),)
    assert rd.hard_state is None and core.election_elapsed == elapsed


def test_a_node_that_lost_its_leader_grants_a_probe_and_changes_nothing() -> None:
    core = new_core(3)
    core.step(PaxosHeartbeat(1, 3, Ballot(1, 1), 0))
    take(core)
    core.election_elapsed = core.config.election_ticks  # the leader went quiet
    core.step(PrePrepare(2, 3, Ballot(2, 2)))
    rd = take(core)
    assert rd.messages == (PrePromise(3, 2, Ballot(2, 2), True, ZERO_BALLOT),)
    assert rd.hard_state is None and core.acceptor.promised == ZERO_BALLOT
    assert core.election_elapsed == core.config.election_ticks


def test_without_the_guard_the_timeout_raises_the_ballot_at_once() -> None:
    core = new_core(1, config=PaxosConfig(pre_prepare=False))
    core.election_elapsed = core.randomized_election_ticks - 1
    core.tick()
    assert of_type(out(take(core)), Prepare)
    assert core.acceptor.promised == Ballot(1, 1)


def test_a_lone_node_grants_its_own_probe() -> None:
    c = PaxosCluster(nodes=1)
    c.elect(1)
    assert c.core(1).status().role is Role.LEADER


# -- scenarios ------------------------------------------------------------------------------
def rejoin(config: PaxosConfig | None) -> PaxosCluster:
    """Node 1 leads; node 3 is cut off for five election timeouts, then comes back and is
    the first to time out again (its Prepare or probe reaches the others before anything
    else happens)."""
    c = PaxosCluster(config=config)
    c.elect(1)
    c.sim.propose(1, b"before")
    c.run()
    ticks = c.core(1).config.election_ticks
    c.tick_all(5 * ticks, drop=isolate(3))
    c.core(3).election_elapsed = c.core(3).randomized_election_ticks - 1
    c.sim.tick(3)
    c.run()
    c.tick_all(3 * ticks)
    return c


def test_a_rejoining_node_does_not_disturb_a_healthy_leader_with_the_guard() -> None:
    c = PaxosCluster()
    c.elect(1)
    term = c.core(1).status().term
    c = rejoin(None)
    assert c.core(1).status().role is Role.LEADER
    assert c.core(1).status().term == term  # not even one more phase 1
    assert c.core(3).acceptor.promised <= Ballot.from_term(term)  # it never raised its ballot
    assert c.core(3).leader == 1
    c.sim.propose(1, b"after")
    c.tick_all(2)
    assert [e.data for e in c.applied(3)] == [b"before", b"after"]


def test_without_the_guard_a_rejoining_node_deposes_the_leader() -> None:
    c = rejoin(UNGUARDED)
    assert c.core(1).status().role is not Role.LEADER
    assert c.core(3).status().role is Role.LEADER  # the returning node took over


def test_with_the_lease_but_no_probe_the_leader_reruns_phase_one() -> None:
    c0 = PaxosCluster()
    c0.elect(1)
    term = c0.core(1).status().term
    c = rejoin(PaxosConfig(pre_prepare=False))
    assert c.core(1).status().role is Role.LEADER  # the lease kept it
    assert c.core(1).status().term > term  # but node 3's high promise cost a phase 1


def test_a_crashed_leader_is_replaced_with_the_guard_on() -> None:
    c = PaxosCluster()
    c.elect(1)
    c.sim.propose(1, b"a")
    c.run()
    c.sim.crash(1)
    cut = isolate(1)
    for _ in range(4 * c.core(2).config.election_ticks):
        c.tick_all(drop=cut)
        if any(c.core(n).status().role is Role.LEADER for n in (2, 3)):
            break
    (new,) = [n for n in (2, 3) if c.core(n).status().role is Role.LEADER]
    c.sim.propose(new, b"b")
    c.tick_all(2, drop=cut)
    assert [e.data for e in c.applied(2)] == [b"a", b"b"]
    assert [e.data for e in c.applied(3)] == [b"a", b"b"]


def test_a_crashed_leader_is_replaced_on_five_nodes_with_the_guard_on() -> None:
    c = PaxosCluster(nodes=5, seed=3)
    c.elect(1)
    c.sim.crash(1)
    c.sim.crash(2)
    cut = isolate(1, 2)
    for _ in range(6 * c.core(3).config.election_ticks):
        c.tick_all(drop=cut)
        if any(c.core(n).status().role is Role.LEADER for n in (3, 4, 5)):
            break
    assert [n for n in (3, 4, 5) if c.core(n).status().role is Role.LEADER]
