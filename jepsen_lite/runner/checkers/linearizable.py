"""Linearizability per key over a runner history, by the existing checker
(:func:`jepsen_lite.checker.check`, Wing-Gong-Lowe with per-key partitioning).

A workload whose history is not already in its model's vocabulary gives a projection:
a function from one runner :class:`~jepsen_lite.history.ops.Operation` to the model
operations it stands for (none, one, or one per key it touched), keeping its ``call``,
``ret`` and status. The projected operations are renumbered in call order and checked.

Verdicts: ``linearizable`` is VALID only when at least one operation was checked;
``not-linearizable`` is INVALID, with the failing key and the counterexample in the
details; ``unknown`` (the time or memory budget ran out), an empty history and a history
with nothing left to check are UNKNOWN, never VALID. An operation that does not suit
the model (a workload bug, not a system's) is UNKNOWN with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

from ...checker import CheckResult, Verdict, check
from ...history.errors import HistoryError
from ...history.ops import History, Operation, show, thaw
from ...models import Model
from ..api import CheckerResult, RunFacts, Validity

Projection = Callable[[Operation], Iterable[Operation]]
"""Maps one runner operation to the model operations it stands for."""

LAST_SHOWN = 8
"""How many of the counterexample's last linearized operations the details list."""


def identity(op: Operation) -> Iterable[Operation]:
    """The default projection: the history is already in the model's vocabulary."""
    return (op,)


def project_history(history: History, project: Projection) -> History:
    """``history`` with each operation replaced by its projection, renumbered."""
    projected = [p for op in history.operations for p in project(op)]
    projected.sort(key=lambda op: op.call)
    ops = tuple(attrs.evolve(op, id=i) for i, op in enumerate(projected))
    return History(ops, history.source, history.event_count, history.warnings)


class LinearizableChecker:
    """Linearizability per key of ``project(history)`` against ``model``, within
    ``time_limit_s`` (``None``: no limit) and ``max_cache_entries`` per key; ``workers``
    as for :func:`jepsen_lite.checker.check` (default 1: in this process)."""

    def __init__(
        self,
        model: Model,
        project: Projection = identity,
        *,
        name: str = "linearizable",
        time_limit_s: float | None = 60.0,
        max_cache_entries: int = 1_000_000,
        workers: int | None = 1,
    ) -> None:
        self.name = name
        self.model = model
        self.project = project
        self.time_limit_s = time_limit_s
        self.max_cache_entries = max_cache_entries
        self.workers = workers

    def check(self, history: History, facts: RunFacts) -> CheckerResult:
        projected = project_history(history, self.project)
        try:
            result = check(
                self.model,
                projected,
                self.time_limit_s,
                max_cache_entries=self.max_cache_entries,
                workers=self.workers,
            )
        except HistoryError as exc:
            return CheckerResult(
                self.name,
                Validity.UNKNOWN,
                f"cannot check with model {self.model.name!r}: {exc}",
                {"error": str(exc), "model": self.model.name},
            )
        details = self._details(result)
        keys = f"{result.keys} key" + ("" if result.keys == 1 else "s")
        counts = f"{result.checked_operations} of {result.operations} operations, {keys}"
        if result.verdict is Verdict.NOT_LINEARIZABLE:
            cx = details["counterexample"]
            summary = (
                f"not linearizable: key {cx['key']}: cannot linearize {cx['operation']} "
                f"(process {cx['process']}) after {cx['linearized']} operations; "
                f"state {cx['state']} ({counts})"
            )
            return CheckerResult(self.name, Validity.INVALID, summary, details)
        if result.verdict is Verdict.UNKNOWN:
            reasons = "; ".join(details["unknown_reasons"]) or "budget spent"
            return CheckerResult(
                self.name,
                Validity.UNKNOWN,
                f"unknown, NOT a success: {reasons} ({counts})",
                details,
            )
        if result.checked_operations == 0:
            return CheckerResult(
                self.name,
                Validity.UNKNOWN,
                f"nothing to check: no operation is left after removing fails and open reads "
                f"({result.operations} operations)",
                details,
            )
        return CheckerResult(self.name, Validity.VALID, f"linearizable ({counts})", details)

    def _details(self, result: CheckResult) -> dict[str, Any]:
        details: dict[str, Any] = {
            "verdict": result.verdict.value,
            "model": result.model,
            "operations": result.operations,
            "checked_operations": result.checked_operations,
            "keys": result.keys,
            "time_s": round(result.time_s, 6),
            "warnings": list(result.warnings),
            "unknown_reasons": sorted(
                {r.reason for r in result.results if r.verdict is Verdict.UNKNOWN and r.reason}
            ),
        }
        cx = result.counterexample
        if cx is not None:
            op = cx.failing_op
            details["failing_key"] = thaw(cx.key)
            details["counterexample"] = {
                "key": show(cx.key),
                "operation": self.model.describe_op(op),
                "process": show(op.process),
                "call_event": op.call,
                "return_event": op.ret,
                "call_time_ns": op.call_time,
                "return_time_ns": op.return_time,
                "linearized": len(cx.linearization),
                "last_linearized": [
                    f"{self.model.describe_op(o)} (process {show(o.process)})"
                    for o in cx.linearization[-LAST_SHOWN:]
                ],
                "last_linearized_events": [o.call for o in cx.linearization[-LAST_SHOWN:]],
                "state": cx.state_text,
                "why": cx.note,
            }
        return details
