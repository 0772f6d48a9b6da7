"""Linearizable reads without a log write: ReadIndex (dissertation section 6.4)."""

from __future__ import annotations

from consensus.core import Role
from consensus.messages import (
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    ReadIndex,
    ReadIndexResponse,
    RequestVote,
)
from consensus.raft import RaftConfig, RaftCore
from consensus.types import ReadState

from .harness import Network, drain, elect, make_core, take


def rnd(n: int) -> bytes:
    """The heartbeat context of the leader's n-th read round (its own numbering)."""
    return n.to_bytes(8, "big")


def leader_with_commit(voters: tuple[int, ...] = (1, 2, 3)) -> RaftCore:
    """Leader 1 whose noop (index 1, term 1) is committed."""
    core = make_core(1, voters=voters)
    elect(core)
    for v in voters[1 : len(voters) // 2 + 1]:
        core.step(AppendEntriesResponse(v, 1, 1, True, 1))
    drain(core)
    assert core.log.committed == 1
    return core


def test_leader_answers_after_a_quorum_acks_a_heartbeat_with_the_context() -> None:
    core = leader_with_commit(voters=(1, 2, 3, 4, 5))
    core.read_index(b"r1")
    rd = take(core)
    assert rd.read_states == ()
    # commit in a heartbeat is capped at what that follower is known to hold; the
    # context is the leader's round number, not the caller's context
    assert rd.messages == tuple(
        Heartbeat(1, v, 1, c, rnd(1)) for v, c in [(2, 1), (3, 1), (4, 0), (5, 0)]
    )
    # the commit index moves on before the confirmation arrives
    core.propose(b"x")
    drain(core)  # the leader persists its own copy
    core.step(AppendEntriesResponse(2, 1, 1, True, 2))
    core.step(AppendEntriesResponse(3, 1, 1, True, 2))
    assert core.log.committed == 2
    core.step(HeartbeatResponse(2, 1, 1, rnd(1)))
    core.step(HeartbeatResponse(2, 1, 1, rnd(1)))  # the same voter twice counts once
    core.step(HeartbeatResponse(4, 1, 1, None))  # an answer without the context does not
    core.step(HeartbeatResponse(5, 1, 1, b"r1"))  # nor one echoing the caller's context
    assert take(core).read_states == ()
    core.step(HeartbeatResponse(3, 1, 1, rnd(1)))
    # the read is served at the commit index the leader had when it was asked
    assert take(core).read_states == (ReadState(b"r1", 1),)


def test_reads_are_confirmed_in_order() -> None:
    core = leader_with_commit()
    core.read_index(b"a")
    core.read_index(b"b")
    drain(core)
    core.step(HeartbeatResponse(2, 1, 1, rnd(2)))  # vouches for "a" too: asked earlier
    assert take(core).read_states == (ReadState(b"a", 1), ReadState(b"b", 1))


def test_a_late_answer_for_an_old_round_cannot_confirm_a_new_read_of_the_same_context() -> None:
    core = leader_with_commit(voters=(1, 2, 3, 4, 5))
    core.read_index(b"same")
    drain(core)
    core.step(HeartbeatResponse(2, 1, 1, rnd(1)))
    core.step(HeartbeatResponse(3, 1, 1, rnd(1)))
    assert take(core).read_states == (ReadState(b"same", 1),)
    core.read_index(b"same")  # a caller reusing its context
    drain(core)
    core.step(HeartbeatResponse(4, 1, 1, rnd(1)))  # late answers to round 1
    core.step(HeartbeatResponse(5, 1, 1, rnd(1)))
    assert not core.has_ready() or take(core).read_states == ()
    core.step(HeartbeatResponse(4, 1, 1, rnd(2)))
    core.step(HeartbeatResponse(5, 1, 1, rnd(2)))
    assert take(core).read_states == (ReadState(b"same", 1),)


def test_pending_reads_are_bounded() -> None:
    core = make_core(1, max_pending_reads=2)
    elect(core)
    core.step(AppendEntriesResponse(2, 1, 1, True, 1))
    drain(core)
    for ctx in (b"a", b"b", b"c"):
        core.read_index(ctx)
    rd = take(core)
    assert rd.dropped_reads == (b"c",)


def test_a_new_leader_defers_reads_until_an_entry_of_its_term_commits() -> None:
    core = make_core(1)
    elect(core)
    drain(core)
    core.read_index(b"early")
    rd = take(core)
    assert rd.messages == () and rd.read_states == ()  # no heartbeat round yet
    core.step(AppendEntriesResponse(2, 1, 1, True, 1))  # the noop commits
    rd = take(core)
    assert [m for m in rd.messages if isinstance(m, Heartbeat)] == [
        Heartbeat(1, 2, 1, 1, rnd(1)),
        Heartbeat(1, 3, 1, 0, rnd(1)),
    ]
    core.step(HeartbeatResponse(3, 1, 1, rnd(1)))
    assert take(core).read_states == (ReadState(b"early", 1),)


def test_a_follower_forwards_reads_to_the_leader() -> None:
    net = Network(config=RaftConfig(), seed=1)
    net.elect(1)
    net.core(2).read_index(b"f1")
    rd = net.core(2).ready()
    assert rd.messages == (ReadIndex(2, 1, 1, b"f1"),)
    net.stabilize()
    assert net.nodes[2].read_states == [ReadState(b"f1", 1)]
    assert net.nodes[1].read_states == []


def test_a_follower_without_a_leader_drops_the_read() -> None:
    core = make_core(1)
    core.read_index(b"lonely")
    rd = take(core)
    assert rd.dropped_reads == (b"lonely",) and rd.messages == ()


def test_a_forwarded_read_is_dropped_when_the_follower_changes_leader() -> None:
    core = make_core(2)
    core.step(Heartbeat(1, 2, 1, 0))
    core.read_index(b"f")
    drain(core)
    core.step(RequestVote(3, 2, 2, 5, 5))  # a new term: leader 1 is gone
    assert take(core).dropped_reads == (b"f",)
    # a late answer from the old leader is ignored
    core.step(ReadIndexResponse(1, 2, 2, b"f", 1, True))
    assert not core.has_ready() or take(core).read_states == ()


def test_a_deposed_leader_drops_its_pending_reads() -> None:
    core = leader_with_commit()
    core.read_index(b"local")
    core.step(ReadIndex(2, 1, 1, b"remote"))
    drain(core)
    core.step(Heartbeat(3, 1, 2, 0))  # a leader of term 2 exists
    assert core.role is Role.FOLLOWER
    rd = take(core)
    assert rd.dropped_reads == (b"local",)
    assert ReadIndexResponse(1, 2, 2, b"remote", 0, False) in rd.messages
