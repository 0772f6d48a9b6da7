"""Multi-Paxos leadership transfer (``PaxosCore.transfer_leadership``, ``PaxosTimeoutNow``):
the rules on one core, scenarios on the hand-driven cluster (every invariant checked), and
the runtime's graceful shutdown using it."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from consensus.core import Role
from consensus.errors import NotLeader, ProposalDropped
from consensus.messages import Accepted, Ballot, PaxosHeartbeat, PaxosHeartbeatAck, Prepare
from consensus.messages.paxos import PaxosTimeoutNow
from consensus.paxos import PaxosConfig

from .cluster import PaxosCluster, isolate
from .helpers import make_leader, new_core, of_type, out, take


# -- rules on one core ----------------------------------------------------------------------
def test_transfer_is_refused_off_the_leader_and_to_a_non_voter() -> None:
    core = new_core(1)
    with pytest.raises(NotLeader):
        core.transfer_leadership(2)
    make_leader(core)
    with pytest.raises(ValueError, match="not a voter"):
        core.transfer_leadership(9)
    core.transfer_leadership(1)  # to itself: nothing to do
    assert core.transfer is None
    core.propose(b"still leading")


def test_the_leader_stops_taking_proposals_and_orders_an_up_to_date_target() -> None:
    core = new_core(1)
    make_leader(core)
    ballot = core.own_ballot()
    take(core)
    core.transfer_leadership(2)
    with pytest.raises(ProposalDropped, match="leadership transfer to node 2"):
        core.propose(b"x")
    # nothing is chosen, so node 2 lacks nothing: ordered at once
    assert of_type(out(take(core)), PaxosTimeoutNow) == [PaxosTimeoutNow(1, 2, ballot)]


def test_a_target_that_never_reported_gets_a_heartbeat_first() -> None:
    core = new_core(1)
    make_leader(core)
    ballot = core.own_ballot()
    core.propose(b"v")
    core.step(Accepted(3, 1, ballot, (1,)))
    take(core)
    core.transfer_leadership(2)
    rd = take(core)
    assert of_type(out(rd), PaxosHeartbeat) == [PaxosHeartbeat(1, 2, ballot, 1)]
    assert not of_type(out(rd), PaxosTimeoutNow)


def test_the_target_is_not_ordered_before_it_reported_every_chosen_value() -> None:
    core = new_core(1)
    make_leader(core)
    ballot = core.own_ballot()
    for i in range(3):
        core.propose(b"v%d" % i)
    core.step(Accepted(3, 1, ballot, (1, 2, 3)))  # node 3 accepts: 1..3 chosen
    assert core.chosen.commit == 3
    take(core)
    core.transfer_leadership(2)
    core.step(PaxosHeartbeatAck(2, 1, ballot, 1))  # node 2 lags
    assert not of_type(out(take(core)), PaxosTimeoutNow)
    core.step(PaxosHeartbeatAck(2, 1, ballot, 3))  # caught up
    assert of_type(out(take(core)), PaxosTimeoutNow) == [PaxosTimeoutNow(1, 2, ballot)]


def test_the_targets_latest_report_counts_even_when_lower() -> None:
    # A commit index is not synced: after a restart a node may report a lower one.
    core = new_core(1)
    make_leader(core)
    ballot = core.own_ballot()
    for i in range(2):
        core.propose(b"v%d" % i)
    core.step(Accepted(3, 1, ballot, (1, 2)))
    take(core)
    core.step(PaxosHeartbeatAck(2, 1, ballot, 2))
    core.step(PaxosHeartbeatAck(2, 1, ballot, 0))  # node 2 restarted
    assert core.lead is not None and core.lead.peer_commit[2] == 0
    core.transfer_leadership(2)
    assert not of_type(out(take(core)), PaxosTimeoutNow)


def test_the_target_campaigns_at_once_without_a_probe_with_transfer_prepares() -> None:
    core = new_core(2)  # pre_prepare is on by default
    leader_ballot = Ballot(3, 1)
    core.step(PaxosHeartbeat(1, 2, leader_ballot, 0))
    take(core)
    core.step(PaxosTimeoutNow(1, 2, leader_ballot))
    rd = take(core)
    assert core.status().role is Role.CANDIDATE
    assert of_type(out(rd), Prepare) == [
        Prepare(2, 1, Ballot(4, 2), 1, True),
        Prepare(2, 3, Ballot(4, 2), 1, True),
    ]


def test_a_stale_timeout_now_is_ignored() -> None:
    core = new_core(2)
    core.step(PaxosHeartbeat(1, 2, Ballot(3, 1), 0))
    take(core)
    core.step(PaxosTimeoutNow(3, 2, Ballot(2, 3)))  # an older leader's order
    assert core.status().role is Role.FOLLOWER
    assert not of_type(out(take(core)), Prepare)


def test_an_acceptor_in_lease_answers_a_transfer_prepare_only() -> None:
    core = new_core(3)
    core.step(PaxosHeartbeat(1, 3, Ballot(1, 1), 0))
    take(core)
    assert core.in_lease()
    core.step(Prepare(2, 3, Ballot(2, 2), 1))
    assert take(core).messages == ()  # ignored: a live leader holds the lease
    core.step(Prepare(2, 3, Ballot(2, 2), 1, True))
    assert core.acceptor.promised == Ballot(2, 2)


# -- scenarios ------------------------------------------------------------------------------
def test_transfer_to_a_lagging_follower_gives_it_every_chosen_value() -> None:
    c = PaxosCluster()
    c.elect(1)
    for i in range(30):
        c.sim.propose(1, b"v%d" % i)
        c.run(drop=isolate(3))  # node 3 misses everything
    assert len(c.applied(1)) == 30 and c.applied(3) == []
    c.core(1).transfer_leadership(3)
    with pytest.raises(ProposalDropped):
        c.sim.propose(1, b"refused")
    for _ in range(c.core(1).config.election_ticks - 1):
        c.tick_all()
        if c.core(3).status().role is Role.LEADER:
            break
    new = c.core(3)
    assert new.status().role is Role.LEADER
    assert c.core(1).status().role is Role.FOLLOWER
    assert new.lead is not None and new.lead.fetch_until <= new.chosen.commit  # nothing to fetch
    assert [e.data for e in c.applied(3)][:30] == [b"v%d" % i for i in range(30)]
    c.sim.propose(3, b"after")
    c.tick_all(2)
    assert [e.data for e in c.applied(1)][-1] == b"after"
    assert c.applied(2) == c.applied(1) == c.applied(3)


def test_transfer_to_a_follower_that_needs_a_chunked_snapshot() -> None:
    c = PaxosCluster(config=PaxosConfig(snapshot_chunk_bytes=2), snapshot_every=5)
    c.elect(1)
    for i in range(12):
        c.sim.propose(1, b"v%d" % i)
        c.run(drop=isolate(3))
    c.tick_all(1, drop=isolate(3))
    assert c.core(1).chosen.base >= 10  # node 3 can only catch up from the snapshot
    c.core(1).transfer_leadership(3)
    for _ in range(c.core(1).config.election_ticks - 1):
        c.tick_all()
        if c.core(3).status().role is Role.LEADER:
            break
    new = c.core(3)
    assert new.status().role is Role.LEADER
    assert new.chosen.base >= 10 and new.chosen.commit >= 12
    c.sim.propose(3, b"after")
    c.tick_all(2)
    assert c.applied(1)[-1].data == c.applied(2)[-1].data == b"after"


def test_transfer_to_a_dead_node_times_out_and_the_leader_resumes() -> None:
    c = PaxosCluster()
    c.elect(1)
    c.sim.propose(1, b"a")
    c.run()
    term = c.core(1).status().term
    c.sim.crash(3)
    c.core(1).transfer_leadership(3)
    ticks = c.core(1).config.election_ticks
    c.tick_all(ticks - 1)
    with pytest.raises(ProposalDropped):
        c.sim.propose(1, b"too early")
    c.tick_all(1)
    assert c.core(1).transfer is None  # abandoned after election_ticks
    assert c.core(1).status().role is Role.LEADER and c.core(1).status().term == term
    c.sim.propose(1, b"b")
    c.tick_all(2)  # the commit index rides on the next heartbeat
    assert [e.data for e in c.applied(2)] == [b"a", b"b"]


def test_transfer_with_the_guard_off_works_too() -> None:
    c = PaxosCluster(config=PaxosConfig(pre_prepare=False, check_quorum=False))
    c.elect(1)
    c.sim.propose(1, b"a")
    c.run()
    c.core(1).transfer_leadership(2)
    c.tick_all(3)
    assert c.core(2).status().role is Role.LEADER


# -- the runtime's graceful shutdown ----------------------------------------------------------
async def test_graceful_shutdown_of_a_multipaxos_leader_transfers_leadership(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from runtime.harness import SimCluster  # tests/runtime (tests/ is on sys.path)

    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery, protocol="multipaxos")
        await cluster.start_all()
        await cluster.propose(3)
        leader = await cluster.wait_leader()
        driver = cluster.logs[leader]._driver
        assert driver.transfer_target() is not None  # the runtime sees it can transfer
        start = trio.current_time()
        assert await cluster.logs[leader].shutdown() is True
        others = [i for i in cluster.ids if i != leader]
        new = await cluster.wait_leader(others)
        assert trio.current_time() - start < 0.1  # quicker than an election timeout
        del cluster.logs[leader]
        assert await cluster.logs[new].propose(b"4") == b"7"
        nursery.cancel_scope.cancel()
