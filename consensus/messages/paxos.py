"""Paxos's records and messages: ballots, acceptor records, hard state, and the messages of
single-decree Paxos and Multi-Paxos (one set serves both: a single-decree instance is a
log of one slot).

Names follow Lamport's "Paxos Made Simple": phase 1 is ``Prepare`` / ``Promise``, phase 2
is ``Accept`` / ``Accepted``; a refusal of either is a ``Nack`` carrying the acceptor's
promised ballot. ``Commit`` and ``Chosen`` announce chosen values; ``PaxosHeartbeat``
keeps a distinguished proposer (the Multi-Paxos leader) in place and carries read-index
rounds; ``CatchUp`` asks for chosen values a node missed (answered with ``Chosen``, or with
``ChosenSnapshot`` when the sender compacted them away); ``ReadForward`` /
``ReadForwardReply`` carry a follower's read-index request to the leader and back.
``PaxosTimeoutNow`` hands leadership over; ``PrePrepare`` / ``PrePromise`` are the pre-vote
guard's probe; ``SnapshotChunk`` / ``SnapshotChunkRequest`` carry a snapshot in pieces.

Ballot encoding: a ballot ``(round, node)`` is also written as one integer,
``round * 2**16 + node`` (:meth:`Ballot.as_term`), the ``term`` of entries it introduces
and of :class:`consensus.core.Status`. Node ids are below ``2**16``.
"""

from __future__ import annotations

import attrs

from ..types import Entry, Index, NodeId, Snapshot, SnapshotMeta, Term
from ._base import Message

NODE_ID_LIMIT = 2**16
"""Node ids must be below this for ballots to encode as one integer."""
ROUND_LIMIT = 2**47
"""Rounds must be below this so that an encoded ballot fits the codec's 63-bit integers."""


@attrs.frozen(slots=True, eq=False)
class Ballot:
    """A proposal number: ordered by ``round``, then ``node``; unique per proposer.

    The zero ballot ``Ballot(0, 0)`` means "nothing promised yet" and is below every real
    ballot (real ballots have ``round >= 1``).

    Equality, hash and order are written out by hand: attrs' ``order=True`` builds two
    tuples through generators per comparison (a third of a simulated Multi-Paxos run),
    and its ``__ne__`` is a Python-level call on top of ``__eq__``.
    """

    round: int
    node: NodeId

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ballot):
            return NotImplemented
        return self.round == other.round and self.node == other.node

    def __hash__(self) -> int:
        return hash((self.round, self.node))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Ballot):
            return NotImplemented
        return self.round < other.round or (self.round == other.round and self.node < other.node)

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Ballot):
            return NotImplemented
        return self.round < other.round or (self.round == other.round and self.node <= other.node)

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Ballot):
            return NotImplemented
        return self.round > other.round or (self.round == other.round and self.node > other.node)

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Ballot):
            return NotImplemented
        return self.round > other.round or (self.round == other.round and self.node >= other.node)

    def as_term(self) -> Term:
        """The ballot as one integer, ``round * 2**16 + node`` (order-preserving)."""
        if not (0 <= self.node < NODE_ID_LIMIT and 0 <= self.round < ROUND_LIMIT):
            raise ValueError(
                f"ballot ({self.round}, {self.node}) cannot be encoded: node ids must be "
                f"< {NODE_ID_LIMIT} and rounds < {ROUND_LIMIT}"
            )
        return self.round * NODE_ID_LIMIT + self.node

    @classmethod
    def from_term(cls, term: Term) -> Ballot:
        """The inverse of :meth:`as_term`."""
        if term < 0:
            raise ValueError(f"an encoded ballot is >= 0, got {term}")
        return cls(term // NODE_ID_LIMIT, term % NODE_ID_LIMIT)

    def __str__(self) -> str:
        return f"{self.round}.{self.node}"


ZERO_BALLOT = Ballot(0, 0)


@attrs.frozen(slots=True)
class AcceptedRecord:
    """An acceptor's vote in one instance: it accepted ``entry`` in ``ballot``.

    The instance (log slot) is ``entry.index``. ``entry.term`` is the ballot that first
    proposed the value, fixed when a later proposer adopts it; ``ballot`` is the ballot
    this acceptor accepted it in (>= the origin).
    """

    ballot: Ballot
    entry: Entry

    @property
    def slot(self) -> Index:
        return self.entry.index


@attrs.frozen(slots=True)
class PaxosHardState:
    """A Multi-Paxos node's durable acceptor state, as a *delta* in ``Ready`` and whole in
    ``Recovered``.

    - ``promised``: the highest ballot this acceptor promised (for every slot it has not
      seen chosen); replaces the stored one. Never decreases.
    - ``commit``: every slot up to here is chosen and stored (a lower bound, like Raft's).
    - ``accepted``: acceptor records; in a ``Ready`` the ones changed in that batch, in
      order (a later record for the same slot replaces an earlier one); in ``Recovered``
      every stored record, by slot.
    """

    promised: Ballot = ZERO_BALLOT
    commit: Index = 0
    accepted: tuple[AcceptedRecord, ...] = ()


@attrs.frozen(slots=True)
class PaxosMessage(Message):
    """Base of every Paxos message."""


@attrs.frozen(slots=True)
class Prepare(PaxosMessage):
    """Phase 1a: promise ``ballot`` for every slot from ``first_slot`` on.

    ``transfer`` marks a campaign the leader ordered (:class:`PaxosTimeoutNow`): acceptors
    answer it even while they hold a live leader's lease (``check_quorum``), as Raft's
    ``RequestVote.transfer``.
    """

    ballot: Ballot
    first_slot: Index
    transfer: bool = False


@attrs.frozen(slots=True)
class Promise(PaxosMessage):
    """Phase 1b: the acceptor promised ``ballot``.

    ``commit`` is the acceptor's commit index: every slot up to it is chosen and the
    acceptor can send it (``CatchUp``). ``accepted`` holds the acceptor's records for the
    slots from ``max(first_slot, commit + 1)`` on: what the new proposer must adopt.
    """

    ballot: Ballot
    first_slot: Index
    commit: Index
    accepted: tuple[AcceptedRecord, ...]


@attrs.frozen(slots=True)
class Accept(PaxosMessage):
    """Phase 2a: accept each of ``entries`` (one per slot) in ``ballot``.

    ``commit`` announces chosen slots as :class:`Commit` does.
    """

    ballot: Ballot
    entries: tuple[Entry, ...]
    commit: Index


@attrs.frozen(slots=True)
class Accepted(PaxosMessage):
    """Phase 2b: the acceptor accepted, in ``ballot``, what ``Accept`` proposed at ``slots``."""

    ballot: Ballot
    slots: tuple[Index, ...]


@attrs.frozen(slots=True)
class Nack(PaxosMessage):
    """A refusal of ``ballot`` (a Prepare, Accept, Commit or heartbeat): the acceptor has
    promised ``promised``, which is higher. The proposer jumps past it."""

    ballot: Ballot
    promised: Ballot


@attrs.frozen(slots=True)
class Commit(PaxosMessage):
    """The proposer of ``ballot`` announces: every slot up to ``commit`` is chosen, and at
    each of them where it proposed a value in ``ballot``, that value is the chosen one.

    So a receiver whose record at such a slot was accepted in ``ballot`` has learned the
    chosen value; for other slots it asks with :class:`CatchUp`.
    """

    ballot: Ballot
    commit: Index


@attrs.frozen(slots=True)
class PaxosHeartbeat(PaxosMessage):
    """Leader liveness from the distinguished proposer of ``ballot``; also a
    :class:`Commit`. ``context`` is set while a read-index round is confirming ``ballot``."""

    ballot: Ballot
    commit: Index
    context: bytes | None = None


@attrs.frozen(slots=True)
class PaxosHeartbeatAck(PaxosMessage):
    """The answer to a heartbeat: the sender had promised nothing above ``ballot`` when it
    sent this. ``commit`` is the sender's commit index; ``context`` is echoed."""

    ballot: Ballot
    commit: Index
    context: bytes | None = None


@attrs.frozen(slots=True)
class CatchUp(PaxosMessage):
    """Ask for the chosen values of slots ``first_slot`` onwards."""

    first_slot: Index


@attrs.frozen(slots=True)
class Chosen(PaxosMessage):
    """Chosen values (one entry per slot, consecutive or not) and the sender's commit
    index. Learning them is idempotent."""

    entries: tuple[Entry, ...]
    commit: Index


@attrs.frozen(slots=True)
class ReadForward(PaxosMessage):
    """A follower forwards a read-index request to the leader it knows."""

    context: bytes


@attrs.frozen(slots=True)
class ReadForwardReply(PaxosMessage):
    """The leader's answer: serve the read once ``index`` is applied; ``ok=False`` refuses."""

    context: bytes
    index: Index
    ok: bool


@attrs.frozen(slots=True)
class ChosenSnapshot(PaxosMessage):
    """The answer to a ``CatchUp`` for slots the sender has compacted: a state-machine
    snapshot that stands for every chosen value up to ``snapshot.meta.index``, and the
    sender's commit index, in one frame. Still understood, no longer sent: snapshots
    travel as :class:`SnapshotChunk` (``PaxosConfig.snapshot_chunk_bytes`` each)."""

    snapshot: Snapshot
    commit: Index


@attrs.frozen(slots=True)
class PaxosTimeoutNow(PaxosMessage):
    """Leadership transfer: the leader of ``ballot`` orders the receiver to start phase 1
    at once, with a ballot above it, marking its Prepares ``transfer``. Sent once the
    receiver reported every value the leader knows chosen."""

    ballot: Ballot


@attrs.frozen(slots=True)
class PrePrepare(PaxosMessage):
    """The pre-vote guard's probe: would the receiver promise a ballot of the sender now?
    Changes nothing on the receiver. ``ballot`` only names the probe (answers echo it)."""

    ballot: Ballot


@attrs.frozen(slots=True)
class PrePromise(PaxosMessage):
    """The answer to :class:`PrePrepare` ``ballot``: ``granted`` iff the sender has not
    heard from a live leader within ``election_ticks`` (and is not one); ``promised`` is
    the sender's promised ballot, so the prober's real ballot can go above it."""

    ballot: Ballot
    granted: bool
    promised: Ballot


@attrs.frozen(slots=True)
class SnapshotChunk(PaxosMessage):
    """One piece of the sender's snapshot described by ``meta``: ``data`` is the image's
    bytes ``offset .. offset + len(data)`` out of ``total``; ``commit`` is the sender's
    commit index. The answer to a ``CatchUp`` for compacted slots (offset 0) and to a
    :class:`SnapshotChunkRequest`."""

    meta: SnapshotMeta
    commit: Index
    offset: int
    data: bytes
    total: int


@attrs.frozen(slots=True)
class SnapshotChunkRequest(PaxosMessage):
    """Ask for the chunk at ``offset`` of the snapshot described by ``meta``; a sender
    whose snapshot changed answers with offset 0 of its current one."""

    meta: SnapshotMeta
    offset: int


PAXOS_MESSAGES: tuple[type[PaxosMessage], ...] = (
    Prepare,
    Promise,
    Accept,
    Accepted,
    Nack,
    Commit,
    PaxosHeartbeat,
    PaxosHeartbeatAck,
    CatchUp,
    Chosen,
    ReadForward,
    ReadForwardReply,
    ChosenSnapshot,
    PaxosTimeoutNow,
    PrePrepare,
    PrePromise,
    SnapshotChunk,
    SnapshotChunkRequest,
)

PAXOS_RECORDS: tuple[type, ...] = (Ballot, AcceptedRecord, PaxosHardState, *PAXOS_MESSAGES)
"""Every Paxos record, in wire-id order (type id 64 + position). Append only: never
reorder, never remove."""
