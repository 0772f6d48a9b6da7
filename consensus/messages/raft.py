"""Raft's messages, named as in the Raft paper and Ongaro's dissertation.

Every Raft message carries the sender's ``term``. A receiver that sees a higher term
adopts it (except for pre-votes, which never change anyone's term).
"""

from __future__ import annotations

import attrs

from ..types import Entry, Index, SnapshotMeta, Term
from ._base import Message


@attrs.frozen(slots=True)
class RaftMessage(Message):
    """Base of every Raft message."""

    term: Term


@attrs.frozen(slots=True)
class RequestVote(RaftMessage):
    """A candidate asks for a vote (or, with ``pre_vote``, whether it would get one).

    A pre-vote is sent with ``term`` = the candidate's term + 1 without incrementing it.
    ``transfer`` marks a campaign started by ``TimeoutNow``: it overrides the
    leader-lease check so that leadership transfer is not refused by followers who still
    hear from the old leader.
    """

    last_index: Index
    last_term: Term
    pre_vote: bool = False
    transfer: bool = False


@attrs.frozen(slots=True)
class RequestVoteResponse(RaftMessage):
    """The answer to ``RequestVote``; ``pre_vote`` echoes the request's flag."""

    granted: bool
    pre_vote: bool = False


@attrs.frozen(slots=True)
class AppendEntries(RaftMessage):
    """Replicate ``entries`` after (``prev_index``, ``prev_term``); advance ``commit``.

    ``commit`` is the leader's commit index; a follower commits
    ``min(commit, index of the last entry this message proves it shares with the leader)``.
    """

    prev_index: Index
    prev_term: Term
    entries: tuple[Entry, ...]
    commit: Index


@attrs.frozen(slots=True)
class AppendEntriesResponse(RaftMessage):
    """The answer to ``AppendEntries``.

    On success ``index`` is the last index the follower now shares with the leader. On
    rejection ``index`` echoes the rejected ``prev_index`` and (``hint_index``,
    ``hint_term``) let the leader skip back a whole term at a time: ``hint_term`` is the
    follower's term at ``hint_index``, the largest index <= prev_index that could match.
    """

    success: bool
    index: Index
    hint_index: Index = 0
    hint_term: Term = 0


@attrs.frozen(slots=True)
class Heartbeat(RaftMessage):
    """Leader liveness. ``commit`` is capped at what the follower is known to have.

    ``context`` is set while a read-index round is confirming leadership; the follower
    echoes it back.
    """

    commit: Index
    context: bytes | None = None


@attrs.frozen(slots=True)
class HeartbeatResponse(RaftMessage):
    """The answer to ``Heartbeat``; echoes ``context``."""

    context: bytes | None = None


@attrs.frozen(slots=True)
class InstallSnapshot(RaftMessage):
    """One chunk of a snapshot, starting at byte ``offset``; ``done`` marks the last one."""

    meta: SnapshotMeta
    offset: int
    data: bytes
    done: bool


@attrs.frozen(slots=True)
class InstallSnapshotResponse(RaftMessage):
    """The answer to ``InstallSnapshot``.

    ``next_offset`` is the number of bytes of the snapshot at ``index`` the follower holds
    contiguously, so a transfer interrupted by loss resumes instead of restarting.
    ``done`` says the follower has installed the whole snapshot: its log now matches the
    leader's up to ``index``. ``success=False`` means the follower refused the snapshot
    (it is older than what the follower has committed); then ``index`` is its commit.
    """

    index: Index
    success: bool
    next_offset: int
    done: bool = False


@attrs.frozen(slots=True)
class TimeoutNow(RaftMessage):
    """Leadership transfer: the receiver campaigns at once, skipping the pre-vote."""


@attrs.frozen(slots=True)
class ReadIndex(RaftMessage):
    """A follower forwards a read-index request to the leader."""

    context: bytes


@attrs.frozen(slots=True)
class ReadIndexResponse(RaftMessage):
    """The leader's answer: serve the read once ``index`` is applied; ``ok=False`` refuses."""

    context: bytes
    index: Index
    ok: bool


RAFT_MESSAGES: tuple[type[RaftMessage], ...] = (
    RequestVote,
    RequestVoteResponse,
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    TimeoutNow,
    ReadIndex,
    ReadIndexResponse,
)
