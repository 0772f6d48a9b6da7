"""The Ready contract (consensus/core.py), restarts, configuration and invariants."""

from __future__ import annotations

import random
from typing import Any

import pytest

from consensus.core import Role
from consensus.errors import InvariantViolation
from consensus.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    InstallSnapshot,
    RaftMessage,
    RequestVote,
)
from consensus.raft import RaftConfig, RaftCore
from consensus.raft.log import RaftLog
from consensus.storage.base import Recovered
from consensus.types import Entry, EntryKind, HardState, Snapshot, SnapshotMeta

from .harness import Network, drain, elect, encode_entries, make_core, take


def test_ready_twice_without_advance_gives_the_same_batch() -> None:
    core = make_core(1)
    core.step(AppendEntries(2, 1, 1, 0, 0, (Entry(1, 1), Entry(2, 1)), 1))
    first, second = core.ready(), core.ready()
    assert first == second and not first.is_empty()


def test_inputs_between_ready_and_advance_show_up_in_the_next_batch() -> None:
    core = make_core(1)
    core.step(AppendEntries(2, 1, 1, 0, 0, (Entry(1, 1),), 0))
    rd = core.ready()
    core.step(AppendEntries(2, 1, 1, 1, 1, (Entry(2, 1),), 2))
    core.advance(rd)  # acknowledges exactly what rd held
    nxt = core.ready()
    assert nxt.entries == (Entry(2, 1),)
    assert nxt.messages == (AppendEntriesResponse(1, 2, 1, True, 2),)
    assert nxt.hard_state == HardState(1, None, 2)
    assert nxt.committed == (Entry(1, 1), Entry(2, 1))
    core.advance(nxt)
    assert not core.has_ready() and core.ready().is_empty()


@pytest.mark.parametrize(
    ("msg", "must_sync"),
    [
        (Heartbeat(2, 1, 1, 0), False),  # only a reply: nothing durable changed
        (Heartbeat(2, 1, 2, 0), True),  # new term
        (RequestVote(3, 1, 1, 1, 1), True),  # new vote (same term)
        (AppendEntries(2, 1, 1, 1, 1, (Entry(2, 1),), 0), True),  # new entries
        (AppendEntries(2, 1, 1, 1, 1, (), 1), False),  # commit-only change
    ],
    ids=["reply", "term", "vote", "entries", "commit"],
)
def test_must_sync_exactly_when_entries_term_or_vote_change(
    msg: RaftMessage, must_sync: bool
) -> None:
    # restarted at term 1 with one entry, no vote and no leader yet
    rec = Recovered(HardState(1, None, 0), None, (Entry(1, 1),))
    core = RaftCore(1, [1, 2, 3], random.Random(0), RaftConfig(pre_vote=False), rec)
    assert not core.has_ready()
    core.step(msg)
    rd = take(core)
    assert rd.messages != ()
    assert rd.must_sync is must_sync
    if msg.term == 1 and not isinstance(msg, RequestVote) and must_sync is False:
        # commit may change (and be persisted) without an fsync
        assert rd.hard_state == (HardState(1, None, 1) if isinstance(msg, AppendEntries) else None)


def test_a_snapshot_needs_a_sync() -> None:
    core = make_core(2)
    meta = SnapshotMeta(1, 1, (1, 2, 3))
    core.step(Heartbeat(1, 2, 1, 0))
    drain(core)
    core.step(InstallSnapshot(1, 2, 1, meta, 0, encode_entries([Entry(1, 1)]), True))
    rd = take(core)
    assert rd.snapshot is not None and rd.must_sync and rd.entries == ()


def test_advance_clears_exactly_the_batch() -> None:
    core = make_core(1)
    elect(core)
    rd = core.ready()
    core.propose(b"late")  # after ready(), before advance()
    core.advance(rd)
    nxt = core.ready()
    assert [e.data for e in nxt.entries] == [b"late"]
    assert nxt.messages == ()  # the probes are paused; nothing was duplicated or lost
    assert core.log.stable == 1


def test_restart_keeps_term_vote_and_log_and_reapplies_from_the_snapshot() -> None:
    net = Network(config=RaftConfig(), seed=5)
    net.elect(1)
    for i in range(4):
        net.propose(1, f"p{i}".encode())
    net.stabilize()
    net.tick(1, net.config.heartbeat_ticks)
    net.stabilize()  # followers learn the commit index
    net.compact(2, 3)
    before = net.core(2)
    state = (before.term, before.vote, list(before.log.entries), before.log.committed)
    applied = list(net.nodes[2].applied)
    net.crash(2)
    net.restart(2)
    core = net.core(2)
    assert (core.term, core.vote, list(core.log.entries), core.log.committed) == state
    assert core.role is Role.FOLLOWER and core.leader is None
    assert core.log.snapshot_index == 3 and core.status().applied_index == 3
    rd = take(core)
    assert [e.index for e in rd.committed] == [4, 5]  # from the snapshot on
    net.nodes[2].applied.extend(rd.committed)
    assert net.nodes[2].applied == applied


def test_unsynced_writes_are_lost_in_a_crash() -> None:
    net = Network(config=RaftConfig(), seed=5)
    net.elect(1)
    net.propose(1, b"x")
    # the leader persists its entry but crashes before the sync the contract asks for
    core = net.core(1)
    rd = core.ready()
    assert rd.must_sync
    net.nodes[1].storage.persist(rd.hard_state, rd.entries, rd.snapshot)
    net.crash(1)
    net.restart(1)
    assert net.core(1).log.last_index() == 1


# -- configuration ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"election_ticks": 0}, r"^RaftConfig.election_ticks must be >= 1, got 0$"),
        ({"max_inflight_msgs": -1}, r"^RaftConfig.max_inflight_msgs must be >= 1, got -1$"),
        ({"snapshot_chunk_bytes": 0}, r"^RaftConfig.snapshot_chunk_bytes must be >= 1, got 0$"),
        (
            {"election_ticks": 5, "heartbeat_ticks": 5},
            r"^RaftConfig.heartbeat_ticks \(5\) must be less than election_ticks \(5\)$",
        ),
    ],
)
def test_config_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RaftConfig(**kwargs)


def test_core_validation() -> None:
    rng = random.Random(0)
    # A node outside the voters is a joiner (membership changes): built, never campaigns.
    assert not RaftCore(4, [3, 1, 2], rng).is_voter
    with pytest.raises(ValueError, match=r"^voters must be distinct, got \[1, 2, 2\]$"):
        RaftCore(1, [1, 2, 2], rng)


# -- invariants ---------------------------------------------------------------------------
def test_log_invariants() -> None:
    log = RaftLog(None, [Entry(1, 1), Entry(2, 1)], 1)
    with pytest.raises(InvariantViolation, match=r"^commit 3 beyond last index 2$"):
        log.commit_to(3)
    with pytest.raises(InvariantViolation, match=r"^append at 4 after last 2$"):
        log.append(Entry(4, 1))
    with pytest.raises(InvariantViolation, match=r"^applied 2 outside \[0, committed 1\]$"):
        log.applied_to(2)
    with pytest.raises(InvariantViolation, match=r"^compact to 1 beyond applied 0$"):
        log.compact(1, 1)
    log.applied_to(1)
    with pytest.raises(InvariantViolation, match=r"^compact to \(1, 2\) which is not in the log$"):
        log.compact(1, 2)
    with pytest.raises(InvariantViolation, match=r"^conflict at committed index 1"):
        log.try_append(0, 0, [Entry(1, 2)])
    with pytest.raises(InvariantViolation, match=r"^recovered log is not contiguous at position 1"):
        RaftLog(None, [Entry(1, 1), Entry(3, 1)])
    assert log.commit_to(1) is False  # never lowers, never raises for an old index


def test_role_invariants() -> None:
    core = make_core(1)
    with pytest.raises(InvariantViolation, match=r"^a follower cannot become leader"):
        core.become_leader()
    elect(core)
    with pytest.raises(InvariantViolation, match=r"^a leader cannot become a candidate$"):
        core.become_candidate()
    with pytest.raises(InvariantViolation, match=r"^a leader cannot become a pre-candidate$"):
        core.become_pre_candidate()


def test_advance_checks_applied_le_committed_le_last() -> None:
    rec = Recovered(
        HardState(1, None, 1),
        Snapshot(SnapshotMeta(1, 1, (1, 2, 3)), b""),
        (Entry(2, 1, b"", EntryKind.NORMAL),),
    )
    core = RaftCore(1, [1, 2, 3], random.Random(0), None, rec)
    core.log.committed = 5  # corrupt it, as a bug would
    with pytest.raises(
        InvariantViolation, match=r"^node 1: applied 2 <= committed 5 <= last 2 does not hold$"
    ):
        core.advance(core.ready())
