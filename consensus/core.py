"""The contract every protocol core (Raft, Multi-Paxos) implements, and its output batch.

A core is a plain, deterministic object: the same inputs (calls and messages, in the same
order, with the same seeded ``random.Random``) give the same outputs. It does no I/O. The
driver feeds it with :meth:`ProtocolCore.tick`, :meth:`ProtocolCore.step`,
:meth:`ProtocolCore.propose` and :meth:`ProtocolCore.read_index`, then drains it:

    while core.has_ready():
        rd = core.ready()
        0. send rd.early_messages (may overlap with step 1)
        1. persist rd.snapshot, rd.hard_state and rd.entries; fsync when rd.must_sync
        2. send rd.messages
        3. apply rd.committed in order; answer proposals and rd.read_states whose
           index is applied; fail rd.dropped_reads; hand rd.results to the proposers
        4. core.advance(rd)

Step 1 before step 2 is what makes the protocols safe across crashes: a vote, a promise
or an acknowledgement never leaves a node before the state it vouches for is on disk.
``early_messages`` vouch for nothing on the local disk (a Raft leader's replication
traffic: the leader counts its own copy of an entry towards commit only once ``advance``
reports it persisted), so the driver may send them while it persists (Raft dissertation
section 10.2.1): the leader's fsync and its followers' fsyncs overlap.
Calling ``ready()`` twice without ``advance`` returns the same batch; inputs may be given
between ``ready()`` and ``advance()`` and show up in the next batch.
"""

from __future__ import annotations

import enum
from typing import Generic, Protocol, TypeVar

import attrs

from .membership import ConfChange, Membership
from .messages import Message
from .types import Entry, Index, NodeId, ProposalResult, ProposalTicket, ReadState, Snapshot, Term

HS = TypeVar("HS")


@attrs.frozen(slots=True)
class Recovered(Generic[HS]):
    """What a node restarts from: hard state, latest snapshot, entries after it.

    Storage returns it from ``recover()``; a core takes it at construction. It lives
    here, in the core contract, so that the cores import nothing from storage.
    """

    hard_state: HS | None = None
    snapshot: Snapshot | None = None
    entries: tuple[Entry, ...] = ()


@attrs.frozen(slots=True)
class Ready(Generic[HS]):
    """One batch of work for the driver, in the order the module docstring gives.

    - ``hard_state``: the core's durable state if it changed since the last batch, else None.
    - ``entries``: log records to persist. Raft: append; an entry at index i replaces the
      stored entry at i and every entry after it. (Multi-Paxos documents its own rule.)
    - ``snapshot``: a snapshot received from the leader, to persist and install before
      anything in ``committed``.
    - ``must_sync``: the persisted state must be fsynced before ``messages`` are sent.
    - ``early_messages``: may be sent before or while persisting this batch.
    - ``messages``: to send, after persisting.
    - ``committed``: entries now known committed, in index order, to apply.
    - ``read_states``: completed read-index requests.
    - ``dropped_reads``: contexts of read-index requests that failed (leadership lost or
      no leader); the caller may retry.
    - ``results``: answers to proposals from a core that answers them itself rather than
      through ``committed`` (the leaderless ``paxos-lwt`` core; empty for Raft and
      Multi-Paxos). Like ``messages``, they are handed out only after this batch is
      persisted (and synced when ``must_sync``).
    """

    hard_state: HS | None = None
    entries: tuple[Entry, ...] = ()
    snapshot: Snapshot | None = None
    must_sync: bool = False
    early_messages: tuple[Message, ...] = ()
    messages: tuple[Message, ...] = ()
    committed: tuple[Entry, ...] = ()
    read_states: tuple[ReadState, ...] = ()
    dropped_reads: tuple[bytes, ...] = ()
    results: tuple[ProposalResult, ...] = ()

    def is_empty(self) -> bool:
        return not (
            self.hard_state is not None
            or self.entries
            or self.snapshot is not None
            or self.messages
            or self.early_messages
            or self.committed
            or self.read_states
            or self.dropped_reads
            or self.results
        )


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@attrs.frozen(slots=True)
class Status:
    """A snapshot of a core's volatile state, for status pages and tests."""

    id: NodeId
    role: Role
    term: Term
    leader: NodeId | None
    commit_index: Index
    applied_index: Index
    last_index: Index
    membership: Membership | None = None
    """The configuration in effect on this node (None: a core without membership, such
    as ``paxos-lwt``)."""
    progress: tuple[tuple[NodeId, Index], ...] = ()
    """On a leader: ``(member, match index)`` for every member, itself included, sorted
    by id (the highest index known replicated there); empty elsewhere."""


class ProtocolCore(Protocol[HS]):
    """What the simulator, the runtime and the key-value store need from a core."""

    @property
    def id(self) -> NodeId: ...

    def tick(self) -> None:
        """Advance logical time by one tick (elections, heartbeats, retries)."""

    def step(self, message: Message) -> None:
        """Handle one message addressed to this node. Never raises for a stale or
        duplicated message; ignores messages for other nodes or protocols."""

    def propose(self, data: bytes) -> ProposalTicket:
        """Append a command; raises ``NotLeader`` or ``ProposalDropped``."""
        ...

    def read_index(self, context: bytes) -> None:
        """Start a linearizable read; completes as a ``ReadState`` (or a dropped read)."""

    def has_ready(self) -> bool: ...

    def ready(self) -> Ready[HS]: ...

    def advance(self, ready: Ready[HS]) -> None: ...

    def status(self) -> Status: ...


class ReconfigurableCore(ProtocolCore[HS], Protocol[HS]):
    """A core whose membership can change at run time (Raft, Multi-Paxos).

    Cores without it (``paxos-lwt``, the unsafe targets) have the fixed membership they
    were built with; the runtime refuses membership requests for them with a message
    naming the protocol.
    """

    def membership(self) -> Membership:
        """The configuration in effect on this node. Raft: the last CONFIG entry in its log,
        committed or not (else its snapshot's, else the one it was built with).
        Multi-Paxos documents its own rule (``docs/paxos.md``)."""
        ...

    def propose_change(self, change: ConfChange) -> ProposalTicket:
        """Append a single-step configuration change (see :mod:`consensus.membership`).

        Answered like a proposal: committed iff the entry committed at the ticket's index
        has its term. Raises ``NotLeader``, ``ProposalDropped``, or ``MembershipError``
        when the change does not apply, another change is still uncommitted, or a
        PROMOTE names a learner that has not caught up with the leader's log."""
        ...
