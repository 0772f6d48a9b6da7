"""Log replication rules (Raft paper section 5.3, 5.4.2; etcd-style flow control)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from consensus.core import Role
from consensus.errors import NotLeader, ProposalDropped
from consensus.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    Message,
)
from consensus.raft import RaftConfig, RaftCore
from consensus.storage.base import Recovered
from consensus.storage.memory import MemoryStorage
from consensus.types import Entry, HardState

from .harness import drain, elect, make_core, pump, take


def appends(
    msgs: tuple[Message, ...] | list[Message], to: int | None = None
) -> list[AppendEntries]:
    return [m for m in msgs if isinstance(m, AppendEntries) and to in (None, m.dst)]


def follower_with(entries: list[Entry], term: int = 1, leader: int = 2) -> RaftCore:
    core = make_core(1)
    core.step(AppendEntries(leader, 1, term, 0, 0, tuple(entries), 0))
    drain(core)
    return core


def recovered_core(
    id: int, term: int, terms: list[int], voters: tuple[int, ...] = (1, 2, 3), **cfg: Any
) -> RaftCore:
    """A node restarted with a log whose entry i+1 has term ``terms[i]``."""
    entries = tuple(Entry(i + 1, t, f"{i + 1}@{t}".encode()) for i, t in enumerate(terms))
    config = RaftConfig(pre_vote=False, check_quorum=False, **cfg)
    rec = Recovered(HardState(term, None, 0), None, entries)
    return RaftCore(id, voters, random.Random(id), config, rec)


def leader_in_replicate(**cfg: Any) -> RaftCore:
    """Leader 1 of {1,2,3} whose noop is acknowledged by 2 (replicate) but not by 3."""
    core = make_core(1, **cfg)
    elect(core)
    core.step(AppendEntriesResponse(2, 1, 1, True, 1))
    drain(core)
    return core


# -- the follower's side -----------------------------------------------------------------
def test_append_rejected_when_prev_entry_does_not_match() -> None:
    core = follower_with([Entry(1, 1), Entry(2, 1)])
    core.step(AppendEntries(2, 1, 2, 2, 2, (Entry(3, 2),), 0))  # we have 2@1, not 2@2
    core.step(AppendEntries(2, 1, 2, 5, 2, (Entry(6, 2),), 0))  # we have no entry 5
    assert take(core).messages == (
        AppendEntriesResponse(1, 2, 2, False, 2, hint_index=2, hint_term=1),
        AppendEntriesResponse(1, 2, 2, False, 5, hint_index=2, hint_term=1),
    )
    assert core.log.entries == [Entry(1, 1), Entry(2, 1)]


def test_conflicting_entries_are_deleted_and_replaced() -> None:
    storage = MemoryStorage()
    core = make_core(1)
    core.step(AppendEntries(2, 1, 1, 0, 0, (Entry(1, 1), Entry(2, 1), Entry(3, 1)), 0))
    rd = take(core)
    storage.persist(rd.hard_state, rd.entries, rd.snapshot)
    core.step(AppendEntries(3, 1, 2, 1, 1, (Entry(2, 2),), 0))
    rd = take(core)
    assert core.log.entries == [Entry(1, 1), Entry(2, 2)]
    assert rd.entries == (Entry(2, 2),) and rd.must_sync  # replaces 2 and all after it
    assert rd.messages == (AppendEntriesResponse(1, 3, 2, True, 2),)
    storage.persist(rd.hard_state, rd.entries, rd.snapshot)
    storage.sync()
    assert storage.recover().entries == (Entry(1, 1), Entry(2, 2))


def test_a_stale_append_does_not_truncate_matching_entries() -> None:
    core = follower_with([Entry(1, 1), Entry(2, 1), Entry(3, 1)])
    core.step(AppendEntries(2, 1, 1, 0, 0, (Entry(1, 1),), 0))  # an old, duplicated message
    assert core.log.entries == [Entry(1, 1), Entry(2, 1), Entry(3, 1)]
    rd = take(core)
    assert rd.entries == () and not rd.must_sync
    assert rd.messages == (AppendEntriesResponse(1, 2, 1, True, 1),)


def test_follower_commits_up_to_the_last_entry_the_message_proves() -> None:
    core = follower_with([Entry(1, 1), Entry(2, 1), Entry(3, 1)])
    # the new leader of term 2 shares only 1@1 with us (our 2@1, 3@1 are not its)
    core.step(AppendEntries(3, 1, 2, 1, 1, (), 3))
    assert core.log.committed == 1  # min(leader commit 3, last new index 1)
    core.step(AppendEntries(3, 1, 2, 1, 1, (Entry(2, 2),), 9))
    assert core.log.committed == 2  # min(9, 2)
    assert take(core).hard_state == HardState(2, None, 2)


def test_follower_commit_from_a_heartbeat_is_capped_by_its_log() -> None:
    core = follower_with([Entry(1, 1)])
    core.step(Heartbeat(2, 1, 1, 5))
    assert core.log.committed == 1
    assert take(core).messages == (HeartbeatResponse(1, 2, 1),)


# -- the leader's side -------------------------------------------------------------------
def test_leader_commits_only_entries_of_its_term_by_counting_replicas() -> None:
    """Figure 8: 2@2 is on a majority, but committing it by counting could be undone."""
    core = recovered_core(1, 3, [1, 2], voters=(1, 2, 3, 4, 5))
    elect(core)
    assert core.term == 4 and core.log.last_index() == 3  # its noop is 3@4
    drain(core)  # the leader's own copy of 3@4 is persisted
    core.step(AppendEntriesResponse(2, 1, 4, True, 2))
    core.step(AppendEntriesResponse(3, 1, 4, True, 2))
    assert core.log.committed == 0  # 1, 2, 3 hold 2@2: a majority, but of an old term
    core.step(AppendEntriesResponse(2, 1, 4, True, 3))
    assert core.log.committed == 0  # 3@4 on 1 and 2 only
    core.step(AppendEntriesResponse(3, 1, 4, True, 3))
    assert core.log.committed == 3  # 3@4 on a majority commits 1@1 and 2@2 with it
    assert take(core).committed == tuple(core.log.entries)


@pytest.mark.parametrize(
    ("leader_terms", "follower_terms", "probes_max"),
    [
        # follower holds ten entries of a deposed term-2 leader; the leader's are of term 3
        ([1] + [3] * 10, [1] + [2] * 10, 2),
        # follower is far behind: one rejection names its last index
        ([1] * 30, [1], 2),
        # terms to skip on both sides: 10@5 -> hint 10@3 -> leader skips to 4@2 -> hint 3@2
        ([1, 1, 2, 2, 4, 4, 4, 5, 5, 5], [1, 1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3], 3),
    ],
)
def test_fast_back_off_skips_a_term_per_round_trip(
    leader_terms: list[int], follower_terms: list[int], probes_max: int
) -> None:
    leader = recovered_core(1, max(leader_terms), leader_terms)
    follower = recovered_core(2, max(follower_terms), follower_terms)
    elect(leader)
    sent = pump([leader, follower], drop=lambda m: m.dst == 3)
    rejections = [m for m in sent if isinstance(m, AppendEntriesResponse) and not m.success]
    assert len(appends(sent, to=2)) == probes_max
    assert len(rejections) == probes_max - 1
    assert follower.log.entries == leader.log.entries
    assert leader.progress[2].match == leader.log.last_index()


def test_without_hints_back_off_would_take_one_probe_per_entry() -> None:
    """Guard for the test above: the hint really is what makes it fast."""
    follower = recovered_core(2, 2, [1] + [2] * 10)
    follower.step(AppendEntries(1, 2, 4, 11, 3, (), 0))
    (rej,) = take(follower).messages
    assert isinstance(rej, AppendEntriesResponse) and (rej.hint_index, rej.hint_term) == (11, 2)


def test_inflight_appends_are_bounded() -> None:
    core = leader_in_replicate(max_inflight_msgs=2, max_entries_per_msg=1)
    for i in range(5):
        core.propose(f"e{i}".encode())
    sent = appends(drain(core), to=2)
    assert [m.entries[0].index for m in sent] == [2, 3]  # two in flight, then wait
    core.step(AppendEntriesResponse(2, 1, 1, True, 2))
    assert [m.entries[0].index for m in appends(drain(core), to=2)] == [4]
    core.step(AppendEntriesResponse(2, 1, 1, True, 4))
    assert [m.entries[0].index for m in appends(drain(core), to=2)] == [5, 6]
    assert core.progress[2].is_paused()


def test_entries_per_message_are_bounded_by_count_and_bytes() -> None:
    core = make_core(1, max_entries_per_msg=3, max_bytes_per_msg=25)
    elect(core)
    drain(core)  # 2 and 3 are probed with the noop and paused
    for data in [b"a" * 10] * 5 + [b"b" * 100, b"c" * 5, b"c" * 5, b"c" * 5, b"c" * 5]:
        core.propose(data)
    assert appends(drain(core)) == []  # nothing goes out while the probes are unanswered
    core.step(AppendEntriesResponse(2, 1, 1, True, 1))
    sizes = [[len(e.data) for e in m.entries] for m in appends(drain(core), to=2)]
    # at most 3 entries and 25 bytes a message, except that one entry always goes
    assert sizes == [[10, 10], [10, 10], [10], [100], [5, 5, 5], [5]]


def test_a_lost_append_in_replicate_state_is_recovered_after_a_heartbeat() -> None:
    leader = make_core(1)
    follower = make_core(2)
    elect(leader)
    pump([leader, follower], drop=lambda m: m.dst == 3)
    assert leader.progress[2].match == 1
    leader.propose(b"lost")
    assert len(appends(drain(leader), to=2)) == 1  # ... and lost: nothing follows it
    assert pump([leader, follower]) == []
    for _ in range(leader.config.heartbeat_ticks):
        leader.tick()
    sent = pump([leader, follower], drop=lambda m: m.dst == 3)
    assert any(isinstance(m, HeartbeatResponse) for m in sent)
    assert follower.log.entries == leader.log.entries
    assert leader.log.committed == 2


def test_a_proposal_on_a_follower_names_the_leader() -> None:
    core = follower_with([Entry(1, 1)])
    with pytest.raises(NotLeader, match=r"^not the leader \(leader is probably node 2\)$") as e:
        core.propose(b"x")
    assert e.value.leader_hint == 2
    with pytest.raises(NotLeader, match=r"^not the leader \(leader unknown\)$"):
        make_core(1).propose(b"x")


def test_proposals_beyond_the_uncommitted_limit_are_dropped() -> None:
    core = make_core(1, max_uncommitted_entries=3)
    elect(core)  # its noop is uncommitted
    core.propose(b"a")
    core.propose(b"b")
    with pytest.raises(
        ProposalDropped, match=r"^3 entries await commit \(max_uncommitted_entries=3\)$"
    ):
        core.propose(b"c")
    assert core.log.last_index() == 3  # refused, not queued
    drain(core)
    core.step(AppendEntriesResponse(2, 1, 1, True, 3))
    assert core.log.committed == 3
    assert core.propose(b"c").index == 4


def test_a_leader_alone_commits_its_own_proposals() -> None:
    core = make_core(1, voters=(1,))
    core.tick()
    for _ in range(core.randomized_election_ticks):
        core.tick()
    assert core.role is Role.LEADER
    ticket = core.propose(b"solo")
    assert core.log.committed == 0  # nothing counts before it is on the leader's disk
    rd = take(core)
    assert [e.data for e in rd.entries] == [b"", b"solo"] and rd.committed == ()
    assert core.log.committed == ticket.index == 2
    rd = take(core)
    assert [e.data for e in rd.committed] == [b"", b"solo"] and rd.messages == ()


def test_the_leader_counts_its_own_copy_only_once_persisted() -> None:
    """Section 10.2.1: appends leave before the leader's fsync (``early_messages``), so the
    leader must not count its own unpersisted entry towards a majority."""
    core = make_core(1)
    elect(core)
    drain(core)
    core.step(AppendEntriesResponse(2, 1, 1, True, 1))
    assert core.log.committed == 1
    core.propose(b"x")
    rd = core.ready()
    assert rd.must_sync and [e.data for e in rd.entries] == [b"x"]
    # to 2 only: 3 has never answered, so the leader is still probing it
    assert [(type(m).__name__, m.dst) for m in rd.early_messages] == [("AppendEntries", 2)]
    assert rd.messages == ()
    core.step(AppendEntriesResponse(2, 1, 1, True, 2))  # a follower is faster than our disk
    assert core.log.committed == 1  # 2 is on one of three disks only
    core.advance(rd)  # the driver reports our copy durable
    assert core.log.committed == 2


def test_heartbeat_answers_send_nothing_while_acknowledgements_flow() -> None:
    """A follower that acknowledged since the last heartbeat gets no extra (empty) append
    when it answers that heartbeat, even with a newer append still in flight: only a
    stalled follower is re-probed."""
    leader = make_core(1)
    follower = make_core(2)
    elect(leader)
    pump([leader, follower], drop=lambda m: m.dst == 3)
    leader.propose(b"x")
    to_follower = [m for m in drain(leader) if m.dst == 2]
    for _ in range(leader.config.heartbeat_ticks):
        leader.tick()
    to_follower += [m for m in drain(leader) if m.dst == 2]
    for m in to_follower:  # the append, then the heartbeat
        follower.step(m)
    ack, answer = drain(follower)
    assert isinstance(ack, AppendEntriesResponse) and isinstance(answer, HeartbeatResponse)
    leader.step(ack)
    assert leader.progress[2].match == 2
    leader.propose(b"y")  # its append is in flight when the heartbeat answer arrives
    assert len(appends(drain(leader), to=2)) == 1
    leader.step(answer)
    assert appends(drain(leader), to=2) == []
