"""Learning: when is a value chosen, and remembering it.

A value is chosen when a majority of acceptors accepted it in one ballot.
:class:`AcceptTally` counts the acceptances of one proposal (one value, one ballot, one
slot) as the proposer receives them. :class:`Learner` holds what one instance learned and
checks the safety property on every announcement: a second, different chosen value is an
``InvariantViolation``; the same one again changes nothing (learning is idempotent).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import InvariantViolation
from ..messages import Ballot
from ..quorum import majority
from ..types import Entry, NodeId


class AcceptTally:
    """Who has accepted ``entry`` in ``ballot``, among ``acceptors``."""

    __slots__ = ("_acceptors", "_need", "ballot", "entry", "votes")

    def __init__(self, ballot: Ballot, entry: Entry, acceptors: Iterable[NodeId]) -> None:
        self.ballot = ballot
        self.entry = entry
        self._acceptors = frozenset(acceptors)
        self._need = majority(len(self._acceptors))
        self.votes: set[NodeId] = set()

    def record(self, acceptor: NodeId) -> bool:
        """Count ``acceptor`` (once); True iff this acceptance made the value chosen."""
        if acceptor not in self._acceptors or acceptor in self.votes:
            return False
        self.votes.add(acceptor)
        return len(self.votes) == self._need

    @property
    def chosen(self) -> bool:
        return len(self.votes) >= self._need


class Learner:
    """The chosen value of one instance, once known."""

    __slots__ = ("value",)

    def __init__(self, value: Entry | None = None) -> None:
        self.value = value

    def learn(self, entry: Entry) -> bool:
        """Record that ``entry`` is chosen; True iff it is news."""
        if self.value is None:
            self.value = entry
            return True
        if self.value != entry:
            raise InvariantViolation(
                f"slot {entry.index}: two values chosen, {self.value!r} and {entry!r}"
            )
        return False
