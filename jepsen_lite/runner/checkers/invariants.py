"""The environment's own verdict: the core invariants it watched during the run (the
simulator's election safety and state-machine safety in ``sim``), passed in
``RunFacts.invariant_violations``. INVALID if there is any, VALID otherwise. The runner
adds this checker only when the cluster exposes ``invariant_violations()``.
"""

from __future__ import annotations

from ...history.ops import History
from ..api import CheckerResult, RunFacts, Validity

SHOWN = 20
"""Violations kept word for word in ``details`` (the rest are counted)."""


class InvariantsChecker:
    """See the module doc."""

    name = "invariants"

    def check(self, history: History, facts: RunFacts) -> CheckerResult:
        """Report the environment's invariant violations."""
        found = facts.invariant_violations
        details = {"violations": list(found[:SHOWN]), "count": len(found)}
        if found:
            return CheckerResult(
                self.name,
                Validity.INVALID,
                f"{len(found)} invariant violations, first: {found[0]}",
                details,
            )
        return CheckerResult(self.name, Validity.VALID, "no core invariant violated", details)
