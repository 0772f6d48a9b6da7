"""Counter bounds (Jepsen's counter checker), per key.

The history: ``add n`` (``n`` an integer >= 0) and ``read`` whose ``ok`` value is the
counter's integer value; counters start at 0. Each ``ok`` read ``r`` must lie within

- **lower**: the sum of the ``ok`` adds that completed before ``r`` was invoked (they
  took effect before ``r`` began), and
- **upper**: the sum of every add not ``fail`` (``ok``, ``info`` or never completed)
  invoked before ``r`` completed (nothing else can have taken effect by then).

A read outside is INVALID (below: an acknowledged increment was lost or the read is
stale; above: the counter counted something never attempted, or twice); a read that is
not an integer is INVALID too. No ``ok`` read is UNKNOWN; a negative ``add`` makes the
bounds unsound, so it is UNKNOWN with that reason.
"""

from __future__ import annotations

import bisect
import itertools
from typing import Any

import attrs

from ...history.ops import History, Operation, Status, Value, show, thaw
from ..api import CheckerResult, RunFacts, Validity
from .kv_values import as_int

SHOWN = 20
"""How many out-of-bounds reads the details list."""


@attrs.frozen
class BadRead:
    """An ``ok`` read of ``key`` whose value is outside ``[lower, upper]``."""

    key: Value
    read: Operation
    lower: int
    upper: int

    def describe(self) -> str:
        value = as_int(self.read.output)
        where = "not an integer, outside"
        if value is not None:
            where = "below" if value < self.lower else "above"
        key = "" if self.key is None else f"key {show(self.key)}: "
        return (
            f"{key}read {show(self.read.output)} (process {show(self.read.process)}, event "
            f"{self.read.call}) is {where} [{self.lower}, {self.upper}]"
        )


class _Sums:
    """Prefix sums of deltas ordered by an event index: ``upto(i)`` sums those < ``i``."""

    def __init__(self, pairs: list[tuple[int, int]]) -> None:
        pairs.sort()
        self.index = [i for i, _ in pairs]
        self.sums = [0, *itertools.accumulate(d for _, d in pairs)]

    def before(self, event: int) -> int:
        return self.sums[bisect.bisect_left(self.index, event)]


class CounterChecker:
    """Every ``ok`` read within the bounds of acknowledged and attempted adds."""

    name = "counter"

    def check(self, history: History, facts: RunFacts) -> CheckerResult:
        by_key: dict[Value, list[Operation]] = {}
        for op in history.operations:
            if op.f in ("add", "read"):
                by_key.setdefault(op.key, []).append(op)
        bad: list[BadRead] = []
        reads = 0
        acknowledged = attempted = 0
        for key, ops in by_key.items():
            adds = [op for op in ops if op.f == "add" and op.status is not Status.FAIL]
            deltas = [(op, as_int(op.input)) for op in adds]
            negative = [op for op, delta in deltas if delta is None or delta < 0]
            if negative:
                op = negative[0]
                return CheckerResult(
                    self.name,
                    Validity.UNKNOWN,
                    f"cannot bound reads: add {show(op.input)} (event {op.call}) is not an "
                    "integer >= 0",
                    {"reads": 0},
                )
            done = _Sums(
                [(op.ret, d or 0) for op, d in deltas if op.status is Status.OK and op.ret]
            )
            tried = _Sums([(op.call, d or 0) for op, d in deltas])
            acknowledged += done.sums[-1]
            attempted += tried.sums[-1]
            for op in ops:
                if op.f != "read" or op.status is not Status.OK:
                    continue
                reads += 1
                lower = done.before(op.call)
                upper = tried.before(op.ret) if op.ret is not None else tried.sums[-1]
                value = as_int(op.output)
                if value is None or not lower <= value <= upper:
                    bad.append(BadRead(key, op, lower, upper))
        details: dict[str, Any] = {
            "reads": reads,
            "acknowledged_total": acknowledged,
            "attempted_total": attempted,
            "bad_reads": len(bad),
            "out_of_bounds": [
                {
                    "key": thaw(b.key),
                    "read_event": b.read.call,
                    "value": thaw(b.read.output),
                    "lower": b.lower,
                    "upper": b.upper,
                }
                for b in bad[:SHOWN]
            ],
        }
        if bad:
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            return CheckerResult(
                self.name,
                Validity.INVALID,
                f"{len(bad)} of {reads} reads out of bounds: {bad[0].describe()}{more}",
                details,
            )
        if not reads:
            return CheckerResult(
                self.name, Validity.UNKNOWN, "no read completed: nothing to bound", details
            )
        return CheckerResult(
            self.name,
            Validity.VALID,
            f"all {reads} reads within bounds (acknowledged total {acknowledged}, attempted "
            f"{attempted})",
            details,
        )
