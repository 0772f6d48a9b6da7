"""The Multi-Paxos acceptor of one node: one promised ballot for every open slot, and a
vote (accepted ballot and entry) per slot.

A Prepare covers every slot from some ``first_slot`` on; promising it for *all* slots is
stronger and simpler, and a proposer never needs a promise below its own commit index.
Per slot, the rules are exactly the single-decree ones (:mod:`.acceptor`).

Votes at or below the node's commit index are dropped from memory (:meth:`forget_through`):
a Promise reports the commit index instead, and the chosen log holds those values. They
stay in storage until compaction, which is harmless.

Every change (a new promise, a new vote) is recorded for the next ``Ready``: the caller
must make it durable before sending a reply it justifies.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import InvariantViolation
from ..messages import AcceptedRecord, Ballot
from ..types import Entry, Index
from .acceptor import AcceptorState, on_accept, on_prepare


class AcceptorLog:
    __slots__ = ("_forgotten", "_votes", "changes", "promised")

    def __init__(self, promised: Ballot, votes: Iterable[AcceptedRecord] = ()) -> None:
        self.promised = promised
        self._votes: dict[Index, AcceptedRecord] = {}
        for vote in votes:
            if vote.ballot > promised:
                raise InvariantViolation(
                    f"recovered vote at slot {vote.slot} in ballot {vote.ballot} is above "
                    f"the promised ballot {promised}"
                )
            self._votes[vote.slot] = vote
        self._forgotten: Index = 0
        self.changes: list[AcceptedRecord] = []
        """Votes changed since the last ``Ready`` took them, in order."""

    def prepare(self, ballot: Ballot) -> bool:
        """Phase 1b for every slot: promise ``ballot`` iff it is >= the promised one."""
        state, ok = on_prepare(AcceptorState(self.promised), ballot)
        self.promised = state.promised
        return ok

    def accept(self, ballot: Ballot, entry: Entry) -> bool:
        """Phase 2b at slot ``entry.index``."""
        slot = entry.index
        if slot <= self._forgotten:
            raise InvariantViolation(f"accept at slot {slot}, at or below the commit index")
        old = self._votes.get(slot)
        state, ok = on_accept(AcceptorState(self.promised, old), ballot, entry)
        if not ok:
            return False
        self.promised = state.promised
        if state.accepted is not old and state.accepted is not None:
            self._votes[slot] = state.accepted
            self.changes.append(state.accepted)
        return True

    def vote(self, slot: Index) -> AcceptedRecord | None:
        return self._votes.get(slot)

    def votes_from(self, first_slot: Index) -> tuple[AcceptedRecord, ...]:
        """Every vote at ``first_slot`` or above, by slot."""
        return tuple(sorted((v for s, v in self._votes.items() if s >= first_slot), key=_slot))

    def slots_between(self, lo: Index, hi: Index) -> list[Index]:
        """Slots with a vote in ``[lo, hi]``, ascending."""
        return sorted(s for s in self._votes if lo <= s <= hi)

    def last_slot(self) -> Index:
        return max(self._votes, default=0)

    def forget_through(self, commit: Index) -> None:
        """Drop the votes at slots <= ``commit`` (chosen: the chosen log stands for them)."""
        if commit <= self._forgotten:
            return
        if commit - self._forgotten > len(self._votes):
            for slot in [s for s in self._votes if s <= commit]:
                del self._votes[slot]
        else:
            for slot in range(self._forgotten + 1, commit + 1):
                self._votes.pop(slot, None)
        self._forgotten = commit


def _slot(vote: AcceptedRecord) -> Index:
    return vote.slot
