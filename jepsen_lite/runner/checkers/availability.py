"""Availability per phase and liveness after heal: the runner's own checker.

Each operation belongs to the phase in which it was *invoked* (``RunFacts.phases``, in
environment seconds since the test started; an operation invoked exactly at a boundary
belongs to the later phase). Per phase it reports the share of ``ok`` among the
operations invoked there (``fail``, ``info`` and never-completed operations count as not
ok). The verdict is about liveness only (low availability under faults is expected):

- INVALID if an operation of the workload's final invocations never completed ``ok``
  (``final_missing``), or if the recovery phase invoked operations and none of them
  completed ``ok`` within ``recovery_s`` of the recovery phase's start;
- UNKNOWN if nothing was invoked after heal at all (no recovery operation, no final
  invocation): liveness was not tested;
- VALID otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...history.ops import History, Operation, Status
from ..api import CheckerResult, RunFacts, Validity

NS = 1_000_000_000


def phase_of(op: Operation, phases: Mapping[str, tuple[float, float]]) -> str | None:
    """The phase ``op`` was invoked in (``None`` without a call time or outside all)."""
    if op.call_time is None:
        return None
    at = op.call_time / NS
    ordered = sorted(phases.items(), key=lambda item: item[1])
    for i, (name, (start, end)) in enumerate(ordered):
        last = i == len(ordered) - 1
        if start <= at < end or (last and start <= at <= end):
            return name
    return None


def phase_counts(
    history: History, phases: Mapping[str, tuple[float, float]]
) -> dict[str, dict[str, int]]:
    """Per phase: ``{"ok", "fail", "info", "pending", "total"}`` counts of its operations."""
    counts = {name: {"ok": 0, "fail": 0, "info": 0, "pending": 0, "total": 0} for name in phases}
    for op in history.operations:
        name = phase_of(op, phases)
        if name is None:
            continue
        counts[name][op.status.value] += 1
        counts[name]["total"] += 1
    return counts


class AvailabilityChecker:
    """See the module doc. ``final_expected`` is the number of final invocations the
    runner ran, ``final_missing`` a description of each that never completed ``ok``."""

    name = "availability"

    def __init__(
        self, recovery_s: float, final_expected: int = 0, final_missing: Sequence[str] = ()
    ) -> None:
        self.recovery_s = recovery_s
        self.final_expected = final_expected
        self.final_missing = tuple(final_missing)

    def check(self, history: History, facts: RunFacts) -> CheckerResult:
        """Judge liveness after heal; report availability per phase."""
        counts = phase_counts(history, facts.phases)
        shares = {
            name: (round(c["ok"] / c["total"], 4) if c["total"] else None)
            for name, c in counts.items()
        }
        recovered_after = self._first_ok_after(history, facts)
        details: dict[str, Any] = {
            "phases": counts,
            "ok_share": shares,
            "recovery_s": self.recovery_s,
            "recovered_after_s": recovered_after,
            "final_expected": self.final_expected,
            "final_missing": list(self.final_missing),
        }
        shown = ", ".join(
            f"{name} {share:.0%}" for name, share in shares.items() if share is not None
        )
        recovery_ops = counts.get("recovery", {}).get("total", 0)
        if self.final_missing:
            return CheckerResult(
                self.name,
                Validity.INVALID,
                f"not live after heal: {len(self.final_missing)} of {self.final_expected} "
                f"final operations never succeeded ({self.final_missing[0]}); ok: {shown}",
                details,
            )
        if recovery_ops and (recovered_after is None or recovered_after > self.recovery_s):
            return CheckerResult(
                self.name,
                Validity.INVALID,
                f"not live after heal: no operation succeeded within {self.recovery_s:g} s "
                f"of recovery ({recovery_ops} invoked); ok: {shown}",
                details,
            )
        if not recovery_ops and not self.final_expected:
            return CheckerResult(
                self.name,
                Validity.UNKNOWN,
                f"liveness not tested: no operation after heal; ok: {shown or 'no operations'}",
                details,
            )
        when = (
            f"first ok {recovered_after:.3f} s into recovery; "
            if recovered_after is not None
            else ""
        )
        return CheckerResult(
            self.name, Validity.VALID, f"live after heal ({when}ok: {shown})", details
        )

    def _first_ok_after(self, history: History, facts: RunFacts) -> float | None:
        """Seconds from the recovery phase's start to the first ok completion of an
        operation invoked in it (``None`` if none)."""
        if "recovery" not in facts.phases:
            return None
        start = facts.phases["recovery"][0]
        best: float | None = None
        for op in history.operations:
            if op.status is not Status.OK or op.return_time is None:
                continue
            if phase_of(op, facts.phases) != "recovery":
                continue
            after = op.return_time / NS - start
            best = after if best is None else min(best, after)
        return None if best is None else round(best, 6)
