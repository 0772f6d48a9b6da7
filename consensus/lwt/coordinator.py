"""One operation at its coordinator: the rounds it runs and how it picks their values.

An :class:`Operation` goes through attempts; each attempt is one round with a fresh
ballot: PREPARE (wait for a majority of promises), ACCEPT (propose the computed state,
wait for a majority of acceptances), and, after a refusal or a timeout, BACKOFF before
the next attempt. :func:`choose` is the value rule, kept apart so tests can call it.

Value rule (CASPaxos): from the promises of a majority take the state accepted in the
highest ballot (two promises with the same accepted ballot carry the same state: one
ballot proposes one state). Then:

1. if that state's ``writer`` is one of this operation's own write attempts, the
   operation already took effect (in that attempt): write the state back unchanged and
   answer what that attempt computed;
2. else, if the operation proposed a write in an attempt whose ballot is at or below the
   highest accepted ballot, that write may have been chosen and then overwritten: the
   operation cannot tell whether it took effect, and gives up with ``applied=None``. The
   same when the highest accepted ballot is zero after a write attempt: the key may have
   been forgotten (purged) after the write was chosen and overwritten by a delete;
3. else no write of this operation was ever chosen (each would be at or below the highest
   accepted ballot), and none can be once this attempt's ballot is chosen: evaluate the
   operation on the state's value; a write gets ``writer`` = this attempt's ballot, a
   read or a failed condition writes the state back unchanged.
"""

from __future__ import annotations

import enum

import attrs

from ..messages.paxos import ZERO_BALLOT, Ballot
from ..types import NodeId, ProposalTicket
from .acceptor import order
from .ops import ChangeFn, LwtOp, evaluate


class Phase(enum.Enum):
    QUEUED = "queued"
    PREPARE = "prepare"
    ACCEPT = "accept"
    BACKOFF = "backoff"


@attrs.frozen(slots=True)
class Promised:
    """One promise as the coordinator keeps it: the acceptor's accepted ballot and state."""

    accepted: Ballot
    value: bytes | None
    writer: Ballot


@attrs.frozen(slots=True)
class Choice:
    """What :func:`choose` decided for an attempt.

    ``unknown``: rule 2 (give up, outcome unknown); otherwise propose ``value``/``writer``
    computed from ``base`` and answer ``held``/``seen`` once it is accepted; ``wrote``:
    this attempt proposes a new write (``writer`` is the attempt's ballot).
    """

    unknown: bool = False
    value: bytes | None = None
    writer: Ballot = ZERO_BALLOT
    base: Ballot = ZERO_BALLOT
    held: bool = False
    seen: bytes | None = None
    wrote: bool = False


class Operation:
    """The coordinator's state for one operation (mutable; owned by ``LwtCore``)."""

    __slots__ = (
        "acks",
        "answer",
        "attempts",
        "ballot",
        "first_write",
        "last_failure",
        "nacks",
        "op",
        "phase",
        "promises",
        "proposed_absent",
        "ticket",
        "timer",
        "writes",
    )

    def __init__(self, ticket: ProposalTicket, op: LwtOp) -> None:
        self.ticket = ticket
        self.op = op
        self.phase = Phase.QUEUED
        self.ballot = ZERO_BALLOT
        self.attempts = 0
        self.timer = 0
        self.promises: dict[NodeId, Promised] = {}
        self.acks: set[NodeId] = set()
        self.nacks: set[NodeId] = set()
        """Nodes that refused the current attempt."""
        self.writes: dict[Ballot, bytes | None] = {}
        """This operation's write attempts: ballot -> the value it overwrote."""
        self.first_write: Ballot | None = None
        self.answer: tuple[bool, bytes | None] = (False, None)
        """(condition held, value seen) of the attempt now in ACCEPT."""
        self.last_failure = "timeout"
        self.proposed_absent = False
        """The attempt now in ACCEPT proposes an absent value (a candidate for purging)."""


def choose(
    operation: Operation, promises: list[Promised], change: ChangeFn | None = None
) -> Choice:
    """The value rule (module doc) for ``operation``'s current attempt, given the
    promises of a majority (``change``: the core's change function, for ``APPLY``)."""
    top = max(promises, key=lambda p: order(p.accepted))
    if top.writer in operation.writes:
        return Choice(
            value=top.value,
            writer=top.writer,
            base=top.accepted,
            held=True,
            seen=operation.writes[top.writer],
        )
    if operation.first_write is not None and (
        top.accepted == ZERO_BALLOT or order(top.accepted) >= order(operation.first_write)
    ):
        return Choice(unknown=True, base=top.accepted)
    held, writes, new = evaluate(operation.op, top.value, change)
    if writes:
        return Choice(
            value=new,
            writer=operation.ballot,
            base=top.accepted,
            held=held,
            seen=top.value,
            wrote=True,
        )
    return Choice(value=top.value, writer=top.writer, base=top.accepted, held=held, seen=top.value)
