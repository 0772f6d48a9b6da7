"""No lost acknowledged writes, judged on the final reads after heal.

Register mode (``read`` / ``write v`` / ``cas [expected, new]`` per key, after the
workload's projection): for each key, a *final read* is an ``ok`` read invoked after
every write of the key (``fail`` ones aside) was invoked and after every ``ok`` write of
the key completed. A write ``w`` (``ok``, ``info`` or never completed; a cas writes its
``new``) is *superseded* when some ``ok`` write of the key was invoked after ``w``
completed: ``w`` took effect before it, so ``w``'s value can no longer be the last one
(``info`` and pending writes never complete, so are never superseded). The initial
value ``null`` counts as a write that every ``ok`` write supersedes. A final read must
return the value of some write that is not superseded: otherwise it saw a value that
was overwritten for certain (a stale or rolled-back value: the superseding ``ok`` write
is lost), or a value no write wrote. With values unique per key (the workloads'), this
is exact for the last write: when one ``ok`` write supersedes all others, the final read
must return its value.

A key with an ``ok`` write and no final read cannot be judged: the verdict is then
UNKNOWN (as it is when no key has a final read), never VALID.

Set mode: every ``ok`` add is in the final read of the set (see
:mod:`jepsen_lite.runner.checkers.set` for the final read and the full set checker).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any, Literal

import attrs

from ...history.ops import History, Operation, Status, Value, show, thaw
from ..api import CheckerResult, RunFacts, Validity
from .linearizable import Projection, identity, project_history
from .set import analyze_set, shown

WRITE_FS = frozenset({"write", "cas"})
SHOWN = 20
"""How many lost-write reads the details list (``lost_reads`` counts them all)."""


@attrs.frozen
class LostWrite:
    """A final read of ``key`` that returned ``value`` although only ``allowed`` could be
    there; ``superseded_by`` describes an ``ok`` write that overwrote the value read
    (``None`` when no write wrote it at all), ``superseded_event`` is that write's call
    event index."""

    key: Value
    read: Operation
    value: Value
    allowed: tuple[Value, ...]
    superseded_by: str | None
    superseded_event: int | None = None

    def describe(self) -> str:
        why = (
            f"overwritten for certain by {self.superseded_by}"
            if self.superseded_by
            else "a value no write wrote"
        )
        allowed = ", ".join(show(v) for v in self.allowed[:5]) or "none"
        return (
            f"key {show(self.key)}: final read (event {self.read.call}) saw {show(self.value)}, "
            f"{why}; possible: {allowed}"
        )


def written_value(op: Operation) -> Value:
    """The value a register write leaves (a cas's new value)."""
    if op.f == "cas" and isinstance(op.input, tuple) and len(op.input) == 2:
        return op.input[1]
    return op.input


def _describe_write(op: Operation) -> str:
    return f"{op.f} {show(op.input)} (process {show(op.process)}, event {op.call})"


def check_register_key(key: Value, ops: list[Operation]) -> tuple[list[LostWrite], int, bool]:
    """Judge one key's final reads: the lost writes found, how many final reads were
    judged, and whether the key has an ``ok`` write."""
    writes = [op for op in ops if op.f in WRITE_FS and op.status is not Status.FAIL]
    ok_writes = [op for op in writes if op.status is Status.OK]
    last_call = max((op.call for op in writes), default=-1)
    last_ok_ret = max((op.ret for op in ok_writes if op.ret is not None), default=-1)
    latest_ok_call = max((op.call for op in ok_writes), default=-1)
    allowed: dict[Value, None] = {}
    superseded: dict[Value, Operation] = {}
    if not ok_writes:
        allowed[None] = None
    else:
        superseded[None] = max(ok_writes, key=lambda o: o.call)
    by_call = sorted(ok_writes, key=lambda w: w.call)
    calls = [w.call for w in by_call]
    for op in writes:
        value = written_value(op)
        if op.ret is None or op.ret > latest_ok_call:
            allowed[value] = None
        else:  # the first ok write invoked after op completed
            superseded.setdefault(value, by_call[bisect.bisect_right(calls, op.ret)])
    found: list[LostWrite] = []
    judged = 0
    for op in ops:
        if op.f != "read" or op.status is not Status.OK:
            continue
        if op.call <= last_call or op.call <= last_ok_ret:
            continue
        judged += 1
        if op.output in allowed:
            continue
        by = superseded.get(op.output)
        found.append(
            LostWrite(
                key,
                op,
                op.output,
                tuple(allowed),
                _describe_write(by) if by is not None else None,
                by.call if by is not None else None,
            )
        )
    return found, judged, bool(ok_writes)


class LostWritesChecker:
    """No lost acknowledged writes (see the module doc). ``mode`` ``register`` judges
    each key's final reads of ``project(history)``; ``set`` the final set read."""

    name = "lost-writes"

    def __init__(
        self, mode: Literal["register", "set"] = "register", project: Projection = identity
    ) -> None:
        if mode not in ("register", "set"):
            raise ValueError(f"lost-writes mode must be 'register' or 'set', got {mode!r}")
        self.mode = mode
        self.project = project

    def check(self, history: History, facts: RunFacts) -> CheckerResult:
        if self.mode == "set":
            return self._check_set(history)
        return self._check_register(project_history(history, self.project).operations)

    def _check_register(self, operations: Iterable[Operation]) -> CheckerResult:
        by_key: dict[Value, list[Operation]] = {}
        for op in operations:
            if op.f in WRITE_FS or op.f == "read":
                by_key.setdefault(op.key, []).append(op)
        lost: list[LostWrite] = []
        judged_keys = 0
        unjudged: list[Value] = []
        for key, ops in by_key.items():
            found, judged, has_ok_write = check_register_key(key, ops)
            lost.extend(found)
            if judged:
                judged_keys += 1
            elif has_ok_write:
                unjudged.append(key)
        details: dict[str, Any] = {
            "keys": len(by_key),
            "judged_keys": judged_keys,
            "unjudged_keys": [thaw(k) for k in unjudged],
            "lost_reads": len(lost),
            "lost": [
                {
                    "key": thaw(w.key),
                    "read_event": w.read.call,
                    "value": thaw(w.value),
                    "allowed": [thaw(v) for v in w.allowed],
                    "superseded_by": w.superseded_by,
                    "superseded_by_event": w.superseded_event,
                }
                for w in lost[:SHOWN]
            ],
        }
        if lost:
            more = f" (and {len(lost) - 1} more)" if len(lost) > 1 else ""
            return CheckerResult(
                self.name,
                Validity.INVALID,
                f"{len(lost)} final reads saw a lost state: {lost[0].describe()}{more}",
                details,
            )
        if unjudged or not judged_keys:
            missing = ", ".join(show(k) for k in unjudged[:5]) or "every key"
            return CheckerResult(
                self.name,
                Validity.UNKNOWN,
                f"no final read after the writes of {len(unjudged) or len(by_key)} keys "
                f"({missing}); their acknowledged writes are not judged",
                details,
            )
        return CheckerResult(
            self.name,
            Validity.VALID,
            f"the final reads of {judged_keys} keys saw a value no acknowledged write "
            "had certainly overwritten",
            details,
        )

    def _check_set(self, history: History) -> CheckerResult:
        analysis = analyze_set(history)
        details = {"acknowledged": analysis.acknowledged, "lost": [thaw(v) for v in analysis.lost]}
        if analysis.final_read is None:
            return CheckerResult(
                self.name, Validity.UNKNOWN, "no final read of the set after the adds", details
            )
        if analysis.lost:
            return CheckerResult(
                self.name,
                Validity.INVALID,
                f"{len(analysis.lost)} of {analysis.acknowledged} acknowledged adds lost: "
                f"{shown(analysis.lost)}",
                details,
            )
        return CheckerResult(
            self.name,
            Validity.VALID,
            f"all {analysis.acknowledged} acknowledged adds are in the final read",
            details,
        )
