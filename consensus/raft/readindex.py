"""Read-index requests a leader is confirming (dissertation section 6.4).

A read asked at commit index c is safe to serve at c once a quorum has answered a
heartbeat sent after the request: that proves no newer leader existed at the moment the
request arrived. Requests are released in arrival order: when request k is confirmed, so is
every request before it, since the same heartbeat answers vouch for them too.
"""

from __future__ import annotations

from collections import OrderedDict

import attrs

from ..quorum import majority
from ..types import Index, NodeId


@attrs.define(slots=True)
class PendingRead:
    context: bytes
    index: Index
    origin: NodeId
    acks: set[NodeId]


class ReadIndexQueue:
    """Pending reads keyed by context. Contexts should be unique per request; a context
    already pending is answered together with the first one."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: OrderedDict[bytes, PendingRead] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, context: bytes, index: Index, origin: NodeId, self_id: NodeId) -> bool:
        """Queue a read; returns False if that context was already pending."""
        if context in self._pending:
            return False
        self._pending[context] = PendingRead(context, index, origin, {self_id})
        return True

    def ack(self, context: bytes, voter: NodeId, voters: int) -> list[PendingRead]:
        """Record ``voter``'s heartbeat answer for ``context``; return the reads this
        confirms (in arrival order), removed from the queue."""
        read = self._pending.get(context)
        if read is None:
            return []
        read.acks.add(voter)
        if len(read.acks) < majority(voters):
            return []
        done: list[PendingRead] = []
        while self._pending:
            ctx, first = self._pending.popitem(last=False)
            done.append(first)
            if ctx == context:
                break
        return done

    def drain(self) -> list[PendingRead]:
        """Remove and return every pending read (leadership lost)."""
        reads = list(self._pending.values())
        self._pending.clear()
        return reads

    def last_context(self) -> bytes | None:
        return next(reversed(self._pending)) if self._pending else None
