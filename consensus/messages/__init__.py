"""Every protocol message, as frozen slotted attrs classes with a shared base.

Raft's messages live in :mod:`consensus.messages.raft`. :mod:`consensus.codec` gives
each message class a wire tag.
"""

from ._base import Message
from .raft import (
    RAFT_MESSAGES,
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    RaftMessage,
    ReadIndex,
    ReadIndexResponse,
    RequestVote,
    RequestVoteResponse,
    TimeoutNow,
)

__all__ = [
    "RAFT_MESSAGES",
    "AppendEntries",
    "AppendEntriesResponse",
    "Heartbeat",
    "HeartbeatResponse",
    "InstallSnapshot",
    "InstallSnapshotResponse",
    "Message",
    "RaftMessage",
    "ReadIndex",
    "ReadIndexResponse",
    "RequestVote",
    "RequestVoteResponse",
    "TimeoutNow",
]
