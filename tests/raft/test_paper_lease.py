"""Lease reads on the Raft leader (dissertation section 6.4.1; etcd's ReadOnlyLeaseBased
with an explicit lease): the rules of :mod:`consensus.raft.core` and their bound."""

from __future__ import annotations

import math
import re

import pytest

from consensus.core import Role
from consensus.messages import AppendEntriesResponse, HeartbeatResponse, RequestVote
from consensus.raft import RaftConfig, RaftCore

from .harness import Network, drain, elect, make_core, take


def rnd(n: int) -> bytes:
    """The heartbeat context of the leader's n-th read round."""
    return n.to_bytes(8, "big")


def lease_core(voters: tuple[int, ...] = (1, 2, 3), **config: object) -> RaftCore:
    """Leader 1 (lease reads on) whose noop is committed, no lease yet."""
    core = make_core(1, voters=voters, check_quorum=True, lease_reads=True, **config)
    elect(core)
    for v in voters[1 : len(voters) // 2 + 1]:
        core.step(AppendEntriesResponse(v, 1, 1, True, 1))
    drain(core)
    assert core.log.committed == 1
    return core


def confirm_round(core: RaftCore, n: int) -> None:
    """Run read round ``n`` to confirmation by node 2 (a quorum of 3 with the leader)."""
    core.read_index(f"r{n}".encode())
    drain(core)
    core.step(HeartbeatResponse(2, 1, core.term, rnd(n)))
    assert take(core).read_states


def test_lease_ticks_follow_election_ticks_and_the_drift_bound() -> None:
    assert RaftConfig().lease_ticks == 8  # floor(9 * 0.9)
    assert RaftConfig(election_ticks=20, lease_drift_max=0.25).lease_ticks == 14
    assert RaftConfig(election_ticks=10, lease_drift_max=0.0).lease_ticks == 9


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"lease_drift_max": 1.0}, "lease_drift_max must be in [0, 1)"),
        ({"lease_drift_max": -0.1}, "lease_drift_max must be in [0, 1)"),
        ({"lease_reads": True, "check_quorum": False}, "lease_reads needs check_quorum"),
        (
            {"lease_reads": True, "election_ticks": 2, "heartbeat_ticks": 1},
            "lease of floor((election_ticks - 1) * (1 - lease_drift_max)) = 0 ticks",
        ),
    ],
)
def test_bad_lease_settings_are_refused(config: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        RaftConfig(**config)  # type: ignore[arg-type]


def test_no_lease_until_a_read_round_is_confirmed_and_it_expires_after_lease_ticks() -> None:
    core = lease_core()
    assert core.lease_read_index() is None  # heartbeat answers alone prove nothing yet
    core.step(HeartbeatResponse(2, 1, 1, None))
    assert core.lease_read_index() is None
    start = core.ticks
    confirm_round(core, 1)
    assert core.lease_read_index() == 1
    core.propose(b"x")
    drain(core)
    core.step(AppendEntriesResponse(2, 1, 1, True, 2))
    assert core.lease_read_index() == 2  # served at the current commit index
    for _ in range(core.config.lease_ticks - 1):
        core.tick()
        drain(core)
        core.step(HeartbeatResponse(2, 1, 1, None))  # keeps check-quorum happy
        assert core.lease_read_index() == 2
    core.tick()
    assert core.ticks == start + core.config.lease_ticks
    assert core.lease_read_index() is None
    # a round started later renews it from its own start tick
    confirm_round(core, 2)
    assert core.lease_read_index() == 2


def test_a_late_confirmation_of_an_old_round_does_not_move_the_lease_forward() -> None:
    core = lease_core(voters=(1, 2, 3, 4, 5))
    core.read_index(b"a")
    drain(core)
    for _ in range(5):
        core.tick()
    drain(core)
    # round 1 was started at tick 0 of the lease clock, whenever its answers arrive
    core.step(HeartbeatResponse(2, 1, 1, rnd(1)))
    core.step(HeartbeatResponse(3, 1, 1, rnd(1)))
    assert core.lease_start == core.ticks - 5


def test_no_lease_before_an_entry_of_the_leaders_term_commits() -> None:
    core = make_core(1, check_quorum=True, lease_reads=True)
    elect(core)
    drain(core)
    core.renew_lease(core.ticks)  # even with a (hypothetical) confirmed round
    assert core.lease_holds()
    assert core.lease_read_index() is None  # the noop of term 1 is not committed
    core.step(AppendEntriesResponse(2, 1, 1, True, 1))
    assert core.lease_read_index() == 1


def test_no_lease_without_lease_reads_and_none_on_a_follower() -> None:
    core = make_core(1, check_quorum=True)
    elect(core)
    core.step(AppendEntriesResponse(2, 1, 1, True, 1))
    drain(core)
    confirm_round(core, 1)
    assert core.lease_read_index() is None
    follower = make_core(2, check_quorum=True, lease_reads=True)
    follower.renew_lease(0)
    assert follower.lease_read_index() is None


def test_a_leadership_transfer_ends_the_lease_for_the_rest_of_the_term() -> None:
    core = lease_core()
    confirm_round(core, 1)
    assert core.lease_read_index() == 1
    core.transfer_leadership(2)
    assert core.lease_read_index() is None
    for _ in range(core.config.election_ticks):  # the transfer is abandoned
        core.tick()
    assert core.transfer_target is None and core.role is Role.LEADER
    confirm_round(core, 2)
    assert core.lease_read_index() is None


def test_a_single_voter_always_holds_its_lease() -> None:
    core = make_core(1, voters=(1,), check_quorum=True, lease_reads=True)
    elect(core)
    drain(core)
    assert core.lease_read_index() == 1


def test_a_node_ignores_votes_for_election_ticks_after_it_starts() -> None:
    core = make_core(2, check_quorum=True, lease_reads=True)
    for _ in range(core.config.election_ticks - 1):
        core.tick()
    core.step(RequestVote(3, 2, 5, 0, 0))
    assert core.term == 0 and drain(core) == []
    core.tick()
    core.step(RequestVote(3, 2, 5, 0, 0))
    assert core.term == 5 and core.vote == 3
    plain = make_core(2, check_quorum=True)  # without lease reads: votes at once
    plain.step(RequestVote(3, 2, 5, 0, 0))
    assert plain.vote == 3


# -- the bound: a deposed leader's lease against the others' election --------------------
def deposed_leader_race(
    leader_rate: float, drift: float, restart_follower: bool, boot_guard: bool = True
) -> tuple[float, float]:
    """The worst case for a lease: one follower has not heard from the leader for almost
    its election timeout when the other acknowledges the leader's read round, and then
    the leader is cut off. Followers tick at rate 1 (ticks per unit of real time), the
    leader at ``leader_rate``. ``restart_follower`` restarts the acknowledging follower
    right after its answer (``boot_guard=False``: as if it did not keep quiet after
    starting). Returns (real time the leader's lease ended, or 20 after the election if
    it still held then, and the real time another node was elected)."""
    config = RaftConfig(check_quorum=True, pre_vote=True, lease_reads=True, lease_drift_max=drift)
    net = Network(config=config, seed=3)
    for _ in range(3 * config.election_ticks):  # past the start-up quiet period
        net.run_ticks(1)
        if net.leaders():
            break
    leader = net.leader()
    acker, third = (v for v in net.voters if v != leader)
    core = net.core(leader)
    net.partition([leader, acker], [third])
    late = net.core(third)
    net.tick(third, late.randomized_election_ticks - late.election_elapsed - 1)
    core.read_index(b"r")
    net.stabilize()
    assert net.nodes[leader].read_states and core.lease_read_index() is not None
    if restart_follower:
        net.crash(acker)
        net.restart(acker)
        if not boot_guard:
            net.core(acker).boot_ticks_left = 0
    net.partition([leader], [acker, third])
    step = 0.05  # real time per step; a node ticks whenever its clock passes an integer
    clock = dict.fromkeys(net.voters, 0.0)
    rates = {v: leader_rate if v == leader else 1.0 for v in net.voters}
    now, lease_end, elected = 0.0, None, None
    while lease_end is None or elected is None:
        now += step
        for v in net.voters:
            before = clock[v]
            clock[v] += step * rates[v]
            for _ in range(math.floor(clock[v]) - math.floor(before)):
                net.core(v).tick()
        net.stabilize()
        if lease_end is None and core.lease_read_index() is None:
            lease_end = now
        if elected is None and any(net.core(v).role is Role.LEADER for v in (acker, third)):
            elected = now
        if elected is not None and lease_end is None and now > elected + 20:
            lease_end = now  # still held well after the election: enough to know
        assert now < 1000, "no election"
    return lease_end, elected


@pytest.mark.parametrize("drift", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("restart_follower", [False, True])
def test_a_deposed_leaders_lease_runs_out_before_another_leader_is_elected(
    drift: float, restart_follower: bool
) -> None:
    # the leader's clock as slow as the bound allows: its lease lasts longest in real time
    lease_end, elected = deposed_leader_race(1.0 - drift, drift, restart_follower)
    assert lease_end < elected


def test_without_the_start_up_quiet_period_a_restarted_follower_breaks_the_lease() -> None:
    lease_end, elected = deposed_leader_race(1.0, 0.1, True, boot_guard=False)
    assert elected < lease_end


def test_beyond_the_bound_a_deposed_leader_still_holds_its_lease_after_the_election() -> None:
    # a leader whose clock runs at 0.01x: the guarantee is gone, as documented
    lease_end, elected = deposed_leader_race(0.01, 0.1, False)
    assert elected < lease_end
