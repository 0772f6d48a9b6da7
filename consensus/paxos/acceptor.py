"""The single-decree acceptor: two rules over an immutable state (Lamport, "Paxos Made
Simple", phases 1b and 2b).

- Prepare(b): promise ``b`` iff ``b >= promised``; the promise reports the accepted vote.
- Accept(b, v): accept iff ``b >= promised``; then ``promised = b`` and ``accepted = (b, v)``.

``>=`` (not ``>``) makes a duplicated Prepare or Accept get the same answer as the first.
The state is the acceptor's hard state: the caller must make a new state durable before
any reply it justifies leaves the node. Multi-Paxos applies the same rules per slot, with
one ``promised`` shared by all slots (:mod:`.acceptor_log`).
"""

from __future__ import annotations

import attrs

from ..errors import InvariantViolation
from ..messages import ZERO_BALLOT, AcceptedRecord, Ballot
from ..types import Entry


@attrs.frozen(slots=True)
class AcceptorState:
    """What one acceptor of one instance remembers.

    Invariant: ``accepted is None or accepted.ballot <= promised``.
    """

    promised: Ballot = ZERO_BALLOT
    accepted: AcceptedRecord | None = None

    def __attrs_post_init__(self) -> None:
        if self.accepted is not None and self.accepted.ballot > self.promised:
            raise InvariantViolation(
                f"accepted ballot {self.accepted.ballot} is above promised {self.promised}"
            )


def on_prepare(state: AcceptorState, ballot: Ballot) -> tuple[AcceptorState, bool]:
    """Phase 1b: ``(new state, promised?)``. On a promise, reply with ``state.accepted``."""
    if ballot < state.promised:
        return state, False
    if ballot == state.promised:
        return state, True
    return AcceptorState(ballot, state.accepted), True


def on_accept(state: AcceptorState, ballot: Ballot, entry: Entry) -> tuple[AcceptorState, bool]:
    """Phase 2b: ``(new state, accepted?)``.

    A proposer proposes one value per ballot, so a second, different value in the ballot
    this acceptor already accepted in is a bug: ``InvariantViolation``.
    """
    if ballot < state.promised:
        return state, False
    old = state.accepted
    if old is not None and old.ballot == ballot:
        if old.entry != entry:
            raise InvariantViolation(
                f"slot {entry.index}: ballot {ballot} proposed two values, "
                f"{old.entry!r} and {entry!r}"
            )
        return AcceptorState(ballot, old), True
    return AcceptorState(ballot, AcceptedRecord(ballot, entry)), True
