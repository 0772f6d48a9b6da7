"""Errors a protocol core (and the replicated-log facade above it) raises to its caller.

The names say whose problem it is: ``NotLeader`` and ``ProposalDropped`` are the normal
answers of a healthy cluster that cannot take the request here and now; the caller may
retry (elsewhere, or later). ``InvariantViolation`` means a bug in this library.
"""

from __future__ import annotations

from .types import NodeId


class ConsensusError(Exception):
    """Base class of every error this package raises on purpose."""


class NotLeader(ConsensusError):
    """This node cannot take the request; ``leader_hint`` is the leader it knows, if any."""

    def __init__(self, leader_hint: NodeId | None, detail: str = "") -> None:
        self.leader_hint = leader_hint
        hint = f"leader is probably node {leader_hint}" if leader_hint else "leader unknown"
        super().__init__(f"not the leader ({hint}){': ' + detail if detail else ''}")


class ProposalDropped(ConsensusError):
    """The proposal was not taken and will never be applied (back-pressure, transfer...)."""


class InvariantViolation(AssertionError):
    """A protocol invariant failed inside a core: always a bug, never a user error."""
