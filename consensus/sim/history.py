"""The protocol-agnostic checks: what every node applies, and what clients were promised.

All checks are incremental (constant work per applied entry, per proposal, per read):

- state machine safety: the first entry applied at each index anywhere is recorded in a
  global list; every later apply at that index, by any node, must be the same entry.
- apply order: a node applies index i+1 right after i (or jumps by installing a snapshot).
- acknowledged proposals: ``propose`` gave a ticket (index, term); the proposal is
  acknowledged when the node it was proposed to applies (index, term). It must carry the
  proposed data (and, by state machine safety, every node then applies it there), and
  after the heal phase every node must have applied past it (:meth:`History.check_acked`).
- linearizable reads: a read index is at least the index of every proposal acknowledged
  before the read started.
- snapshots: a state-machine image (applied index, running hash) must equal the global
  record's hash of that prefix.

A :class:`Replica` is one node's state machine: the applied index and a running CRC-32
of the applied commands. It is volatile: a crash resets it, and the node re-applies.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable

from ..types import Entry, Index, NodeId, ProposalResult, ProposalTicket, ReadState, Snapshot, Term
from .violation import (
    ACKNOWLEDGED_LOST,
    APPLY_ORDER,
    SNAPSHOT_CONSISTENCY,
    STALE_READ,
    STATE_MACHINE_SAFETY,
    SimViolation,
)

Resolved = Callable[[bool], None]
"""Told whether a proposal was acknowledged (True) or dropped (False), or whether a read
completed (True) or was dropped (False)."""

_IMAGE = struct.Struct(">QI")


class Replica:
    """One node's state machine: the applied prefix as (index, running hash).

    With ``record`` set it also keeps every applied entry (for tests that compare logs).
    """

    __slots__ = ("applied", "hash", "log", "node")

    def __init__(self, node: NodeId, record: bool = False) -> None:
        self.node = node
        self.applied: Index = 0
        self.hash = 0
        self.log: list[Entry] | None = [] if record else None

    def image(self) -> bytes:
        """The state-machine snapshot: applied index and hash."""
        return _IMAGE.pack(self.applied, self.hash)


def read_image(data: bytes) -> tuple[Index, int]:
    if len(data) != _IMAGE.size:
        raise SimViolation(
            SNAPSHOT_CONSISTENCY, f"snapshot data of {len(data)} bytes is not an image"
        )
    index, digest = _IMAGE.unpack(data)
    return index, digest


class History:
    """Global records of applied entries, pending proposals and pending reads."""

    def __init__(self, term_text: Callable[[Term], str] = str) -> None:
        self._term_text = term_text
        self._applied: list[Entry | None] = [None]  # index -> first entry applied there
        self._prefix_hash: list[int] = [0]  # index -> running hash after applying it
        self._tickets: dict[NodeId, dict[Index, tuple[Term, bytes, Resolved | None]]] = {}
        self._reads: dict[NodeId, dict[bytes, tuple[Index, Resolved | None]]] = {}
        self.acked: dict[Index, Term] = {}
        self.acked_max: Index = 0
        self.reads_done = 0
        self.answered_ok = 0
        self.answers = 0

    def text(self, entry: Entry | None) -> str:
        """An entry as a violation prints it (its term through the protocol's format)."""
        if entry is None:
            return "nothing"
        return (
            f"Entry(index={entry.index}, term={self._term_text(entry.term)}, "
            f"data={entry.data!r}, kind={entry.kind.name})"
        )

    # -- applying -------------------------------------------------------------------------
    @property
    def applied_max(self) -> Index:
        """The highest index any node has applied."""
        return len(self._applied) - 1

    def entry_at(self, index: Index) -> Entry | None:
        return self._applied[index] if 0 < index < len(self._applied) else None

    def apply(self, replica: Replica, entry: Entry) -> None:
        """``replica`` applies ``entry``: check order and agreement, resolve its ticket."""
        index = entry.index
        if index != replica.applied + 1:
            raise SimViolation(
                APPLY_ORDER,
                f"node {replica.node} applied index {index} after index {replica.applied}",
            )
        digest = zlib.crc32(entry.data, replica.hash)
        applied = self._applied
        if index < len(applied):
            first = applied[index]
            if first is not entry and (
                first is None
                or first.term != entry.term
                or first.data != entry.data
                or first.kind != entry.kind
            ):
                raise SimViolation(
                    STATE_MACHINE_SAFETY,
                    f"node {replica.node} applied {self.text(entry)} at index {index} where "
                    f"another node applied {self.text(first)}",
                )
        else:
            applied.append(entry)
            self._prefix_hash.append(digest)
        replica.applied = index
        replica.hash = digest
        if replica.log is not None:
            replica.log.append(entry)
        tickets = self._tickets.get(replica.node)
        if tickets:
            pending = tickets.pop(index, None)
            if pending is not None:
                self._resolve(replica.node, index, entry.term, entry.data, pending)

    def _resolve(
        self,
        node: NodeId,
        index: Index,
        term: Term,
        data: bytes,
        pending: tuple[Term, bytes, Resolved | None],
    ) -> None:
        want_term, want_data, done = pending
        ok = term == want_term
        if ok:
            if data != want_data:
                raise SimViolation(
                    ACKNOWLEDGED_LOST,
                    f"node {node} applied ({index}, {self._term_text(term)}) with data "
                    f"{data!r}, but it ticketed {want_data!r} there",
                )
            self.acked[index] = term
            if index > self.acked_max:
                self.acked_max = index
        if done is not None:
            done(ok)

    def install(self, replica: Replica, snapshot: Snapshot) -> None:
        """``replica`` replaces its state with ``snapshot`` (from a leader or its disk)."""
        meta = snapshot.meta
        index, digest = read_image(snapshot.data)
        known = self.entry_at(meta.index)
        if index != meta.index or known is None or known.term != meta.term:
            raise SimViolation(
                SNAPSHOT_CONSISTENCY,
                f"node {replica.node} installed a snapshot at ({meta.index}, "
                f"{self._term_text(meta.term)}) holding index {index}; the applied entry "
                f"there is {self.text(known)}",
            )
        if digest != self._prefix_hash[index]:
            raise SimViolation(
                SNAPSHOT_CONSISTENCY,
                f"node {replica.node} installed a snapshot at index {index} whose state "
                f"differs from what every node applied up to there",
            )
        replica.applied = index
        replica.hash = digest
        if replica.log is not None:
            replica.log[:] = [e for e in self._applied[1 : index + 1] if e is not None]
        tickets = self._tickets.get(replica.node)
        if tickets:
            for at in sorted(i for i in tickets if i <= index):
                e = self._applied[at]
                assert e is not None
                self._resolve(replica.node, at, e.term, e.data, tickets.pop(at))

    # -- proposals and reads --------------------------------------------------------------
    def proposed(
        self, node: NodeId, ticket: ProposalTicket, data: bytes, done: Resolved | None
    ) -> None:
        """``node`` took ``data`` and answered with ``ticket``."""
        self._tickets.setdefault(node, {})[ticket.index] = (ticket.term, data, done)

    def answered(self, node: NodeId, result: ProposalResult) -> None:
        """``node`` answered a proposal itself (a core without a log): resolve its ticket
        with ``result.ok``. What the answer means is the protocol checker's business."""
        self.answers += 1
        pending = self._tickets.get(node, {}).pop(result.ticket.index, None)
        if pending is None:
            return
        if pending[0] != result.ticket.term:
            raise SimViolation(
                ACKNOWLEDGED_LOST,
                f"node {node} answered ticket {result.ticket} but issued "
                f"({result.ticket.index}, {pending[0]})",
            )
        if result.ok:
            self.answered_ok += 1
        done = pending[2]
        if done is not None:
            done(result.ok)

    def pending_tickets(self, node: NodeId) -> int:
        return len(self._tickets.get(node, ()))

    def read_started(self, node: NodeId, context: bytes, done: Resolved | None) -> None:
        self._reads.setdefault(node, {})[context] = (self.acked_max, done)

    def read_state(self, node: NodeId, state: ReadState) -> None:
        pending = self._reads.get(node, {}).pop(state.context, None)
        if pending is None:
            return  # a read this history did not start (or one already answered)
        floor, done = pending
        if state.index < floor:
            raise SimViolation(
                STALE_READ,
                f"node {node} answered read {state.context!r} at index {state.index}, but "
                f"index {floor} was acknowledged before the read started",
            )
        self.reads_done += 1
        if done is not None:
            done(True)

    def read_dropped(self, node: NodeId, context: bytes) -> None:
        pending = self._reads.get(node, {}).pop(context, None)
        if pending is not None and pending[1] is not None:
            pending[1](False)

    def forget(self, node: NodeId) -> None:
        """``node`` crashed: its pending proposals and reads become indefinite (their
        clients are told nothing and give up on a timeout)."""
        self._tickets.pop(node, None)
        self._reads.pop(node, None)

    # -- after the heal -------------------------------------------------------------------
    def check_acked(self, replicas: Iterable[Replica]) -> None:
        """Every acknowledged proposal is applied on every node, as it was acknowledged."""
        for replica in replicas:
            if replica.applied < self.acked_max:
                raise SimViolation(
                    ACKNOWLEDGED_LOST,
                    f"node {replica.node} applied only up to {replica.applied} after the "
                    f"heal; proposal at {self.acked_max} was acknowledged",
                )
        for index, term in self.acked.items():
            entry = self._applied[index]
            if entry is None or entry.term != term:
                raise SimViolation(
                    ACKNOWLEDGED_LOST,
                    f"acknowledged ({index}, {self._term_text(term)}) but {self.text(entry)} "
                    "is applied there",
                )
