"""What a simulation reports when a check fails: the invariant's name and what broke it.

Every check in the simulator (generic ones in :mod:`.history`, protocol ones in a spec's
``ProtocolInvariants``) raises :class:`SimViolation`. It derives from
``consensus.errors.InvariantViolation`` so a protocol checker may raise either; the
simulator records the first one and ends the run.
"""

from __future__ import annotations

import attrs

from ..errors import InvariantViolation

ELECTION_SAFETY = "election-safety"
"""At most one leader per term."""
LOG_MATCHING = "log-matching"
"""Two logs holding an entry with the same (index, term) agree on everything before it."""
LEADER_COMPLETENESS = "leader-completeness"
"""A new leader's log holds every entry committed before its election."""
ONE_VOTE_PER_TERM = "one-vote-per-term"
"""A node grants at most one (real, not pre-) vote per term, even across crashes."""
STATE_MACHINE_SAFETY = "state-machine-safety"
"""No two nodes apply different entries at one index."""
APPLY_ORDER = "apply-order"
"""A node applies index i+1 right after index i: no gap, no repeat."""
ACKNOWLEDGED_LOST = "acknowledged-proposal-lost"
"""An acknowledged proposal is the entry every node applies at its index, and is present
on every node after the heal phase."""
STALE_READ = "stale-read"
"""A read index is at least the index of every proposal acknowledged before the read."""
SNAPSHOT_CONSISTENCY = "snapshot-consistency"
"""A snapshot installed on a node stands for the same applied prefix everyone applied."""
ONE_CHANGE_IN_FLIGHT = "one-change-in-flight"
"""A leader's log holds at most one uncommitted CONFIG entry (the single-server rule)."""
SINGLE_STEP_CHANGE = "single-step-change"
"""Every committed configuration differs from the one committed before it by one step
(a learner added, a learner promoted, or a member removed)."""
LIVENESS = "liveness"
"""After the heal phase the cluster commits new proposals and converges within a bound."""
CORE_EXCEPTION = "core-exception"
"""A core (or its storage) raised where the contract says it must not."""
NO_PROGRESS = "no-progress"
"""The cluster sent far more messages than its commits explain (it thrashes)."""
BUDGET_EXCEEDED = "budget-exceeded"
"""A seed used up its event or wall-clock budget (a loop, or a storm of events)."""


class SimViolation(InvariantViolation):
    """A simulated run broke ``invariant`` (one of the names above); ``detail`` says how."""

    def __init__(self, invariant: str, detail: str) -> None:
        self.invariant = invariant
        self.detail = detail
        super().__init__(f"{invariant}: {detail}")


@attrs.frozen(slots=True)
class Violation:
    """The first violation of one run, with the virtual time it was found at."""

    invariant: str
    detail: str
    time_us: int

    def describe(self) -> str:
        return f"{self.invariant} at t={self.time_us / 1e6:.6f}s: {self.detail}"
