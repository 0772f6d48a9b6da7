"""Jepsen's set checker: after heal, a final read of the whole set must hold every
acknowledged add, and nothing that was never added.

The history: ``add x`` (``x`` unique) and ``read`` whose ``ok`` value is the array of
elements read. The *final read* is the last ``ok`` read invoked after every add was
invoked and every ``ok`` add had completed (reads earlier than that are not judged
here). With ``attempted`` the elements of every add invoke:

- **lost**: an ``ok`` add missing from the final read (INVALID);
- **unexpected**: an element in the final read that no add attempted (INVALID);
- **failed but present**: the element of a ``fail`` add (which certainly did not take
  effect) in the final read (INVALID);
- **duplicated**: an element listed twice in the final read (INVALID);
- **recovered** / **not recovered**: ``info`` (or never completed) adds present / absent:
  both are allowed, only counted.

No final read (none completed ``ok``, or the history is empty) is UNKNOWN, never VALID.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import attrs

from ...history.ops import History, Operation, Status, Value, show, thaw
from ..api import CheckerResult, RunFacts, Validity

SHOWN = 10
"""How many elements of each anomaly class the summary names."""


@attrs.frozen
class SetAnalysis:
    """What :func:`analyze_set` found (element tuples are sorted)."""

    final_read: Operation | None
    attempted: int
    acknowledged: int
    indefinite: int
    lost: tuple[Value, ...]
    unexpected: tuple[Value, ...]
    failed_present: tuple[Value, ...]
    duplicated: tuple[Value, ...]
    recovered: tuple[Value, ...]
    not_recovered: tuple[Value, ...]

    @property
    def anomalies(self) -> dict[str, tuple[Value, ...]]:
        """The anomaly classes that make a history invalid, by name."""
        return {
            "lost": self.lost,
            "unexpected": self.unexpected,
            "failed-but-present": self.failed_present,
            "duplicated": self.duplicated,
        }


def _sorted(values: Iterable[Value]) -> tuple[Value, ...]:
    """Mixed values in a deterministic order (by type name, then numbers by value)."""
    return tuple(sorted(values, key=_order))


def _order(value: Value) -> tuple[str, float, str]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return ("number", float(value), "")
    return (type(value).__name__, 0.0, show(value))


def final_set_read(history: History, add_f: str = "add", read_f: str = "read") -> Operation | None:
    """The final read: the last ``ok`` read invoked after every add's invoke and every
    ``ok`` add's completion (``None`` if there is none)."""
    adds = [op for op in history.operations if op.f == add_f]
    last_call = max((op.call for op in adds), default=-1)
    last_ok_ret = max((op.ret for op in adds if op.status is Status.OK and op.ret), default=-1)
    final: Operation | None = None
    for op in history.operations:
        if op.f != read_f or op.status is not Status.OK:
            continue
        after = op.call > last_call and op.call > last_ok_ret
        if after and isinstance(op.output, tuple) and (final is None or op.call > final.call):
            final = op
    return final


def analyze_set(history: History) -> SetAnalysis:
    """Classify the adds of ``history`` against its final read (see the module doc)."""
    adds = [op for op in history.operations if op.f == "add"]
    ok = {op.input for op in adds if op.status is Status.OK}
    failed = {op.input for op in adds if op.status is Status.FAIL}
    indefinite = {op.input for op in adds if op.status in (Status.INFO, Status.PENDING)}
    attempted = {op.input for op in adds}
    final = final_set_read(history)
    elements = final.output if final is not None and isinstance(final.output, tuple) else ()
    read: Counter[Value] = Counter(elements)
    present = set(read)
    return SetAnalysis(
        final_read=final,
        attempted=len(attempted),
        acknowledged=len(ok),
        indefinite=len(indefinite - ok),
        lost=_sorted(ok - present) if final is not None else (),
        unexpected=_sorted(present - attempted),
        failed_present=_sorted((failed - ok - indefinite) & present),
        duplicated=_sorted(v for v, n in read.items() if n > 1),
        recovered=_sorted((indefinite - ok) & present),
        not_recovered=_sorted(indefinite - ok - present) if final is not None else (),
    )


def shown(values: tuple[Value, ...]) -> str:
    """The first :data:`SHOWN` values, and how many more."""
    text = ", ".join(show(v) for v in values[:SHOWN])
    more = len(values) - SHOWN
    return text + (f" and {more} more" if more > 0 else "")


def set_details(analysis: SetAnalysis) -> dict[str, Any]:
    """The JSON details of a set analysis (stable keys)."""
    final = analysis.final_read
    return {
        "final_read_event": final.call if final is not None else None,
        "final_read_size": len(final.output) if final and isinstance(final.output, tuple) else None,
        "attempted": analysis.attempted,
        "acknowledged": analysis.acknowledged,
        "indefinite": analysis.indefinite,
        **{name: [thaw(v) for v in values] for name, values in analysis.anomalies.items()},
        "recovered": len(analysis.recovered),
        "not_recovered": len(analysis.not_recovered),
    }


class SetChecker:
    """Jepsen's set checker over ``add``/``read`` (see the module doc)."""

    name = "set"

    def check(self, history: History, facts: RunFacts) -> CheckerResult:
        analysis = analyze_set(history)
        details = set_details(analysis)
        if analysis.final_read is None:
            return CheckerResult(
                self.name,
                Validity.UNKNOWN,
                f"no final read completed after the adds ({analysis.attempted} adds attempted); "
                "nothing is known about lost adds",
                details,
            )
        counts = (
            f"{analysis.acknowledged} acknowledged, {analysis.indefinite} indefinite "
            f"({len(analysis.recovered)} recovered, {len(analysis.not_recovered)} not)"
        )
        found = [(name, v) for name, v in analysis.anomalies.items() if v]
        if found:
            text = "; ".join(f"{len(v)} {name}: {shown(v)}" for name, v in found)
            return CheckerResult(self.name, Validity.INVALID, f"{text} ({counts})", details)
        return CheckerResult(
            self.name,
            Validity.VALID,
            f"final read of {details['final_read_size']} elements holds every acknowledged "
            f"add and nothing unattempted ({counts})",
            details,
        )
