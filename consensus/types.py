"""Plain records shared by every layer: node ids, terms, log indexes, entries, hard state.

Everything here is pure data: frozen, slotted attrs classes with no behaviour beyond
validation. Index 0 is the empty log's sentinel (term 0); real entries start at index 1.
"""

from __future__ import annotations

import enum

import attrs

NodeId = int
"""A node's identity inside one cluster: a positive integer, unique per cluster."""

Term = int
"""A Raft term (or, for Paxos, an encoded ballot); 0 means "none yet"."""

Index = int
"""A log index (Paxos: a slot). The first entry has index 1; 0 means "before the log"."""


class EntryKind(enum.IntEnum):
    """What an entry carries: a client command, a no-op a new leader commits, or a
    configuration (data: the whole new :class:`consensus.membership.Membership`, encoded).

    Only NORMAL entries reach the state machine; the driver applies CONFIG entries to the
    node's membership (address book, status) and answers their proposals like any other.
    """

    NORMAL = 0
    NOOP = 1
    CONFIG = 2


@attrs.frozen(slots=True)
class Entry:
    """One log entry.

    Invariant: ``(index, term)`` identifies an entry: two entries with the same index and
    term are the same entry (Raft's Log Matching; the Multi-Paxos core keeps the same
    promise by making ``term`` identify the proposal that first carried the value).
    """

    index: Index
    term: Term
    data: bytes = b""
    kind: EntryKind = EntryKind.NORMAL

    def __attrs_post_init__(self) -> None:
        if self.index < 1:
            raise ValueError(f"Entry.index must be >= 1, got {self.index}")
        if self.term < 0:
            raise ValueError(f"Entry.term must be >= 0, got {self.term}")


@attrs.frozen(slots=True)
class HardState:
    """What a Raft node must have on disk before it answers anyone.

    ``term`` and ``vote`` guarantee one vote per term across crashes; ``commit`` lets a
    restarted node re-apply without waiting for a leader (it is only ever a lower bound).
    """

    term: Term = 0
    vote: NodeId | None = None
    commit: Index = 0


@attrs.frozen(slots=True)
class SnapshotMeta:
    """Describes a state-machine image: everything up to and including ``index``.

    ``voters`` and ``learners`` are the membership as of ``index`` (the configuration
    of the last CONFIG entry at or before ``index``); ``addresses`` its address book
    (``(id, address)`` pairs, sorted; empty where addresses are not known, as in the
    simulator). Together they are a :class:`consensus.membership.Membership`.
    """

    index: Index
    term: Term
    voters: tuple[NodeId, ...]
    learners: tuple[NodeId, ...] = ()
    addresses: tuple[tuple[NodeId, str], ...] = ()


@attrs.frozen(slots=True)
class Snapshot:
    """A state-machine image plus the log position it stands for."""

    meta: SnapshotMeta
    data: bytes


@attrs.frozen(slots=True)
class ReadState:
    """A completed read-index request.

    Contract: once the local state machine has applied ``index``, a read served from it
    is linearizable with respect to the moment ``read_index(context)`` was called.
    """

    context: bytes
    index: Index


@attrs.frozen(slots=True)
class ProposalTicket:
    """What ``propose`` returns: where the proposal sits in the log.

    The proposal is committed iff the entry committed at ``index`` has ``term``; if another
    term is committed there, the proposal was dropped and will never be applied.
    """

    index: Index
    term: Term


@attrs.frozen(slots=True)
class ProposalResult:
    """The answer to a proposal, for a core that answers proposals itself
    (``Ready.results``) rather than through a log: the leaderless ``paxos-lwt`` core.

    ``ticket`` is the one ``propose`` returned; ``ok`` says whether the operation was
    carried out (False: given up; ``data`` says whether it may still take effect);
    ``data`` is the core's encoded answer (``paxos-lwt``: an ``LwtOutcome``). Log-based
    cores never produce these: their proposals are answered by ``Ready.committed``.
    """

    ticket: ProposalTicket
    ok: bool
    data: bytes = b""
