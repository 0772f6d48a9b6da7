"""Read-index requests a leader is confirming (dissertation section 6.4).

A read asked at commit index c is safe to serve at c once a quorum has answered a
heartbeat sent after the request: that proves no newer leader existed at the moment the
request arrived. Requests are released in arrival order: when request k is confirmed, so is
every request before it, since the same heartbeat answers vouch for them too.

Heartbeats carry the leader's own round number (8 bytes, big-endian), never the caller's
context, so an answer to an earlier round can never confirm a later read, whatever
contexts callers choose.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection

import attrs

from ..quorum import majority
from ..types import Index, NodeId

ROUND_BYTES = 8


@attrs.define(slots=True)
class PendingRead:
    """``tick``: the leader's tick count when the round started (its heartbeats carry
    the round's number from then on), the start of the read lease it confirms."""

    context: bytes
    index: Index
    origin: NodeId
    acks: set[NodeId]
    tick: int = 0


class ReadIndexQueue:
    """Pending reads in arrival order, each under a fresh round number."""

    __slots__ = ("_next_round", "_pending")

    def __init__(self) -> None:
        self._pending: OrderedDict[int, PendingRead] = OrderedDict()
        self._next_round = 1

    def __len__(self) -> int:
        return len(self._pending)

    def add(
        self,
        context: bytes,
        index: Index,
        origin: NodeId,
        self_id: NodeId,
        tick: int = 0,
        self_votes: bool = True,
    ) -> bytes:
        """Queue a read, its round started at the leader's tick count ``tick``; returns
        the heartbeat context that confirms it. ``self_votes``: the leader is a voter (a
        leader removing itself is not), so its own acknowledgement counts."""
        number = self._next_round
        self._next_round += 1
        acks = {self_id} if self_votes else set()
        self._pending[number] = PendingRead(context, index, origin, acks, tick)
        return number.to_bytes(ROUND_BYTES, "big")

    def ack(
        self, round_context: bytes, voter: NodeId, voters: Collection[NodeId]
    ) -> list[PendingRead]:
        """Record ``voter``'s answer to the heartbeat of ``round_context``; return the reads
        this confirms (in arrival order), removed from the queue. The last one is the
        round the answer was for, the newest of them (its ``tick`` the latest). Only
        answers (and the leader's own) from ``voters`` count towards their majority."""
        if len(round_context) != ROUND_BYTES:
            return []
        number = int.from_bytes(round_context, "big")
        read = self._pending.get(number)
        if read is None:
            return []
        if voter in voters:
            read.acks.add(voter)
        if len(read.acks) < majority(len(voters)):
            return []
        done: list[PendingRead] = []
        while self._pending:
            key, first = self._pending.popitem(last=False)
            done.append(first)
            if key == number:
                break
        return done

    def drain(self) -> list[PendingRead]:
        """Remove and return every pending read (leadership lost)."""
        reads = list(self._pending.values())
        self._pending.clear()
        return reads

    def last_round(self) -> bytes | None:
        """The context of the newest pending round (re-sent with every heartbeat)."""
        if not self._pending:
            return None
        return next(reversed(self._pending)).to_bytes(ROUND_BYTES, "big")
