"""Errors of the replicated-log facade, beyond the core's ``NotLeader``/``ProposalDropped``.

- ``NotLeader(hint)``: this node cannot take the request; try ``hint``.
- ``ProposalDropped``: the proposal will never be applied; safe to retry.
- :class:`Backpressure` (a ``ProposalDropped``): too many requests already wait here.
- :class:`Timeout`: the deadline passed first. For a proposal the outcome is unknown:
  it may still commit later.
- :class:`OutcomeUnknown`: the node lost track of a proposal (a snapshot from the
  leader replaced the log around it); it may or may not have been applied.
- :class:`NodeStopped`: the node is shutting down or stopped.
- ``MembershipError`` (from :mod:`consensus.membership`): a membership change does not
  apply (the message says why); :class:`MembershipUnsupported` (one of them): the
  protocol cannot change its membership at all.
"""

from __future__ import annotations

from ..errors import ConsensusError, NotLeader, ProposalDropped
from ..membership import MembershipError


class Backpressure(ProposalDropped):
    """Too many proposals or reads are already waiting on this node."""


class Timeout(ConsensusError):
    """The request's deadline passed; a proposal's outcome is then unknown."""


class OutcomeUnknown(ConsensusError):
    """The proposal may or may not have been applied."""


class NodeStopped(ConsensusError):
    """The node is stopping or has stopped; nothing more is served here."""


class MembershipUnsupported(MembershipError):
    """The node's protocol core cannot change its membership (``paxos-lwt``, the unsafe
    targets, or a core without ``ReconfigurableCore`` yet)."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        super().__init__(f"membership changes are not supported by protocol {protocol} yet")


__all__ = [
    "Backpressure",
    "MembershipError",
    "MembershipUnsupported",
    "NodeStopped",
    "NotLeader",
    "OutcomeUnknown",
    "ProposalDropped",
    "Timeout",
]
