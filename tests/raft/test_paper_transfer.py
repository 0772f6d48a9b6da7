"""Leadership transfer (dissertation section 3.10)."""

from __future__ import annotations

import pytest

from consensus.core import Role
from consensus.errors import NotLeader, ProposalDropped
from consensus.messages import AppendEntries, RequestVote, TimeoutNow
from consensus.raft import RaftConfig

from .harness import Network, of_type


def lagging_cluster() -> Network:
    """Leader 1 with pre-vote and check-quorum; node 3 missed the last two entries."""
    net = Network(config=RaftConfig(pre_vote=True, check_quorum=True), seed=4)
    net.elect(1)
    net.partition([1, 2], [3])
    net.propose(1, b"a")
    net.propose(1, b"b")
    net.stabilize()
    net.heal()
    assert net.status(3).last_index == 1 and net.status(1).commit_index == 3
    return net


def test_timeout_now_is_sent_only_once_the_target_is_caught_up() -> None:
    net = lagging_cluster()
    net.core(1).transfer_leadership(3)
    net.process_ready(1)
    assert not any(isinstance(m, TimeoutNow) for m in net.inflight)
    assert [m for m in net.inflight if isinstance(m, AppendEntries)] != []
    # deliver until 3 acknowledges the last entry; only then does TimeoutNow leave
    for _ in range(10):
        if any(isinstance(m, TimeoutNow) for m in net.inflight):
            break
        net.deliver()
        net.process_all()
    (tn,) = [m for m in net.inflight if isinstance(m, TimeoutNow)]
    assert (tn.src, tn.dst) == (1, 3)
    assert net.core(1).progress[3].match == net.core(1).log.last_index()


def test_the_target_campaigns_without_pre_vote_and_wins() -> None:
    net = lagging_cluster()
    net.core(1).transfer_leadership(3)
    net.process_ready(1)
    while not any(isinstance(m, TimeoutNow) for m in net.inflight):
        net.deliver()
        net.process_all()
    net.deliver(of_type(TimeoutNow))
    assert (net.status(3).role, net.status(3).term) == (Role.CANDIDATE, 2)
    net.process_ready(3)
    asks = [m for m in net.inflight if isinstance(m, RequestVote)]
    assert asks and all(not m.pre_vote and m.transfer for m in asks)
    # node 2 still hears from leader 1 (lease), yet grants the vote: it is a transfer
    net.stabilize()
    assert net.leader() == 3 and net.status(3).term == 2
    assert net.status(1).role is Role.FOLLOWER and net.status(1).leader == 3


def test_proposals_are_refused_during_a_transfer() -> None:
    net = lagging_cluster()
    net.core(1).transfer_leadership(3)
    with pytest.raises(ProposalDropped, match=r"^leadership transfer to node 3 running$"):
        net.propose(1, b"x")


def test_a_transfer_is_abandoned_after_election_ticks() -> None:
    net = lagging_cluster()
    net.crash(3)
    core = net.core(1)
    core.transfer_leadership(3)
    for _ in range(core.config.election_ticks - 1):
        core.tick()
        net.stabilize()
    with pytest.raises(ProposalDropped):
        net.propose(1, b"x")
    core.tick()
    assert core.transfer_target is None and core.role is Role.LEADER
    assert net.propose(1, b"x").index == 4


def test_transfer_is_refused_off_the_leader_and_to_strangers() -> None:
    net = Network(config=RaftConfig(), seed=1)
    net.elect(1)
    with pytest.raises(NotLeader, match=r"^not the leader \(leader is probably node 1\)$"):
        net.core(2).transfer_leadership(3)
    with pytest.raises(ValueError, match=r"^cannot transfer leadership to node 7: not a voter$"):
        net.core(1).transfer_leadership(7)
    net.core(1).transfer_leadership(1)  # to itself: nothing to do
    assert net.core(1).transfer_target is None and not net.core(1).has_ready()
