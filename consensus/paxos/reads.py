"""Read-index requests: the leader's confirmation rounds and a follower's forwarded reads.

Leader side (:class:`ReadRounds`). A read asked when the leader's read index is ``i`` may
be served at ``i`` once a majority has answered a heartbeat sent *after* the request with
"I have promised nothing above your ballot": then no higher ballot had chosen anything
when the read arrived (any majority that chose at a higher ballot would include one of
those acceptors, which would have refused). Requests are batched: all reads waiting when a
round starts share its heartbeat; reads arriving during a round wait for the next one
(they cannot use answers to a heartbeat sent before they arrived).

Follower side (:class:`ForwardedReads`). A follower forwards a read to its leader and
waits a bounded number of ticks for the answer; it drops the read on timeout or when its
leader changes.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from ..quorum import majority
from ..types import Index, NodeId


@attrs.frozen(slots=True)
class PendingRead:
    context: bytes
    index: Index
    origin: NodeId


class ReadRounds:
    __slots__ = (
        "_acks",
        "_current",
        "_limit",
        "_need",
        "_round",
        "_self",
        "_voters",
        "_waiting",
    )

    def __init__(self, self_id: NodeId, voters: Iterable[NodeId], limit: int) -> None:
        """Only answers of ``voters`` count (a learner's acknowledgement vouches for no
        quorum)."""
        self._self = self_id
        self._voters = frozenset(voters)
        self._need = majority(len(self._voters))
        self._limit = limit
        self._round = 0
        self._current: list[PendingRead] = []
        self._acks: set[NodeId] = set()
        self._waiting: list[PendingRead] = []

    def __len__(self) -> int:
        return len(self._current) + len(self._waiting)

    def add(self, read: PendingRead) -> bool:
        """Queue ``read``; False when ``limit`` reads already wait (the caller drops it)."""
        if len(self) >= self._limit:
            return False
        self._waiting.append(read)
        return True

    def start(self) -> bytes | None:
        """Start a round for the waiting reads if none is running: returns the new round's
        context (send heartbeats carrying it), else None."""
        if self._current or not self._waiting:
            return None
        self._current, self._waiting = self._waiting, []
        self._round += 1
        self._acks = {self._self}
        return self.context()

    def context(self) -> bytes | None:
        """The running round's context, for heartbeats; None when no round runs."""
        return self._round.to_bytes(8, "big") if self._current else None

    def ack(self, voter: NodeId, context: bytes) -> list[PendingRead]:
        """Count ``voter``'s answer; the reads the round confirms once a majority did."""
        if not self._current or context != self.context() or voter not in self._voters:
            return []
        self._acks.add(voter)
        return self.confirm_if_quorum()

    def confirm_if_quorum(self) -> list[PendingRead]:
        if not self._current or len(self._acks) < self._need:
            return []
        done, self._current = self._current, []
        return done

    def drain(self) -> list[PendingRead]:
        """Remove and return every read (leadership lost)."""
        reads = self._current + self._waiting
        self._current, self._waiting = [], []
        return reads


class ForwardedReads:
    """Contexts a follower forwarded, with the ticks each has waited."""

    __slots__ = ("_limit", "_timeout_ticks", "_waiting")

    def __init__(self, limit: int, timeout_ticks: int) -> None:
        self._limit = limit
        self._timeout_ticks = timeout_ticks
        self._waiting: dict[bytes, int] = {}

    def add(self, context: bytes) -> bool:
        if len(self._waiting) >= self._limit or context in self._waiting:
            return False
        self._waiting[context] = 0
        return True

    def answered(self, context: bytes) -> bool:
        """True iff ``context`` was waiting (it no longer is)."""
        return self._waiting.pop(context, None) is not None

    def tick(self) -> list[bytes]:
        """Age every read; return (and forget) the ones that timed out."""
        expired = []
        for context in self._waiting:
            self._waiting[context] += 1
            if self._waiting[context] >= self._timeout_ticks:
                expired.append(context)
        for context in expired:
            del self._waiting[context]
        return expired

    def drain(self) -> list[bytes]:
        contexts = list(self._waiting)
        self._waiting.clear()
        return contexts
