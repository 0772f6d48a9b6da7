"""Linearizable reads on Multi-Paxos (read index), one rule per test.

The leader answers ``read_index(ctx)`` with ``ReadState(ctx, i)``, ``i`` being its read
index when the request arrived (its commit index, or the last slot phase 1 found, if
higher), once a majority has answered a heartbeat sent after the request without having
promised a higher ballot. Followers forward reads to their leader.
"""

from __future__ import annotations

from consensus.core import Role
from consensus.messages import (
    Accepted,
    AcceptedRecord,
    Ballot,
    PaxosHeartbeat,
    PaxosHeartbeatAck,
    Promise,
    ReadForward,
    ReadForwardReply,
)
from consensus.types import Entry, ReadState

from .helpers import campaign, make_leader, new_core, of_type, out, take

B = Ballot(1, 1)
T = B.as_term()


def test_a_read_completes_at_the_commit_index_once_a_majority_confirms() -> None:
    core = new_core(1)
    make_leader(core)
    core.propose(b"x")
    core.step(Accepted(2, 1, B, (1,)))
    take(core)
    core.read_index(b"r1")
    beats = of_type(out(take(core)), PaxosHeartbeat)
    assert [(m.dst, m.commit) for m in beats] == [(2, 1), (3, 1)]
    context = beats[0].context
    assert context is not None
    core.step(PaxosHeartbeatAck(3, 1, B, 1, context))
    assert take(core).read_states == (ReadState(b"r1", 1),)


def test_a_read_is_not_confirmed_by_answers_to_an_earlier_round() -> None:
    core = new_core(1, n=5)
    make_leader(core)
    core.read_index(b"r1")
    first = of_type(out(take(core)), PaxosHeartbeat)[0].context
    assert first is not None
    core.read_index(b"r2")  # arrives while round 1 runs: waits for round 2
    for peer in (2, 3):
        core.step(PaxosHeartbeatAck(peer, 1, B, 0, first))
    rd = take(core)
    assert rd.read_states == (ReadState(b"r1", 0),)
    second = of_type(out(rd), PaxosHeartbeat)[0].context
    assert second is not None and second != first
    core.step(PaxosHeartbeatAck(4, 1, B, 0, first))  # late answer to round 1
    assert take(core).read_states == ()
    for peer in (2, 4):
        core.step(PaxosHeartbeatAck(peer, 1, B, 0, second))
    assert take(core).read_states == (ReadState(b"r2", 0),)


def test_reads_waiting_for_a_round_share_its_heartbeat() -> None:
    core = new_core(1)
    make_leader(core)
    core.read_index(b"r0")
    round1 = of_type(out(take(core)), PaxosHeartbeat)[0].context
    core.read_index(b"r1")
    core.read_index(b"r2")
    assert not of_type(out(take(core)), PaxosHeartbeat)  # no extra round yet
    assert round1 is not None
    core.step(PaxosHeartbeatAck(2, 1, B, 0, round1))
    rd = take(core)
    round2 = of_type(out(rd), PaxosHeartbeat)[0].context
    assert round2 is not None
    core.step(PaxosHeartbeatAck(3, 1, B, 0, round2))
    assert take(core).read_states == (ReadState(b"r1", 0), ReadState(b"r2", 0))


def test_a_new_leaders_read_index_covers_every_slot_phase_one_found() -> None:
    core = new_core(1)
    campaign(core)
    vote = AcceptedRecord(Ballot(0, 2), Entry(3, Ballot(0, 2).as_term(), b"old"))
    core.step(Promise(2, 1, B, 1, 0, (vote,)))
    take(core)
    assert core.status().commit_index == 0
    core.read_index(b"r")
    context = of_type(out(take(core)), PaxosHeartbeat)[0].context
    assert context is not None
    core.step(PaxosHeartbeatAck(2, 1, B, 0, context))
    assert take(core).read_states == (ReadState(b"r", 3),)


def test_a_deposed_leader_drops_its_pending_reads_instead_of_answering() -> None:
    core = new_core(1)
    make_leader(core)
    core.read_index(b"r")
    context = of_type(out(take(core)), PaxosHeartbeat)[0].context
    core.step(PaxosHeartbeat(2, 1, Ballot(2, 2), 5))  # a higher ballot leads now
    rd = take(core)
    assert core.status().role is Role.FOLLOWER
    assert rd.dropped_reads == (b"r",) and rd.read_states == ()
    assert context is not None
    core.step(PaxosHeartbeatAck(3, 1, B, 0, context))  # too late: no stale answer
    assert take(core).read_states == ()


def test_an_acceptor_that_promised_a_higher_ballot_does_not_confirm_a_read() -> None:
    from consensus.messages import Nack, Prepare

    follower = new_core(2)
    follower.step(Prepare(3, 2, Ballot(2, 3), 1))
    take(follower)
    follower.step(PaxosHeartbeat(1, 2, B, 0, b"ctx"))
    assert take(follower).messages == (Nack(2, 1, B, Ballot(2, 3)),)


def test_a_single_node_answers_reads_at_once() -> None:
    core = new_core(1, n=1)
    campaign(core)
    core.read_index(b"r")
    assert take(core).read_states == (ReadState(b"r", 0),)


def test_a_follower_forwards_reads_to_its_leader_and_relays_the_answer() -> None:
    core = new_core(2)
    core.step(PaxosHeartbeat(1, 2, B, 0))
    take(core)
    core.read_index(b"r")
    assert take(core).messages == (ReadForward(2, 1, b"r"),)
    core.step(ReadForwardReply(1, 2, b"r", 4, True))
    assert take(core).read_states == (ReadState(b"r", 4),)


def test_the_leader_answers_a_forwarded_read_after_confirming() -> None:
    core = new_core(1)
    make_leader(core)
    core.step(ReadForward(3, 1, b"f"))
    context = of_type(out(take(core)), PaxosHeartbeat)[0].context
    assert context is not None
    core.step(PaxosHeartbeatAck(2, 1, B, 0, context))
    assert of_type(out(take(core)), ReadForwardReply) == [ReadForwardReply(1, 3, b"f", 0, True)]


def test_a_forwarded_read_is_refused_by_a_non_leader() -> None:
    core = new_core(2)
    core.step(ReadForward(3, 2, b"f"))
    assert take(core).messages == (ReadForwardReply(2, 3, b"f", 0, False),)


def test_a_follower_without_a_leader_drops_reads() -> None:
    core = new_core(2)
    core.read_index(b"r")
    assert take(core).dropped_reads == (b"r",)


def test_a_forwarded_read_without_answer_is_dropped_after_a_timeout() -> None:
    core = new_core(2)
    core.step(PaxosHeartbeat(1, 2, B, 0))
    core.read_index(b"r")
    take(core)
    dropped: list[bytes] = []
    for _ in range(2 * core.config.election_ticks):
        core.tick()
        core.step(PaxosHeartbeat(1, 2, B, 0))  # the leader is alive, the answer lost
        dropped += take(core).dropped_reads
    assert dropped == [b"r"]


def test_a_forwarded_read_is_dropped_when_the_leader_changes() -> None:
    core = new_core(2)
    core.step(PaxosHeartbeat(1, 2, B, 0))
    core.read_index(b"r")
    take(core)
    core.step(PaxosHeartbeat(3, 2, Ballot(2, 3), 0))
    assert take(core).dropped_reads == (b"r",)
