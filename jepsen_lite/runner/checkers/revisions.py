"""Revision order for the ``kv`` workload: its transactions' reads and branches are
consistent with the serial order the store's revisions give.

The store numbers its writes: every applied write (and every transaction whose branch
writes) gets the next revision, a read answers at the revision of the state it read,
and every key carries the ``mod_revision`` of its last write. The ``kv`` workload
records these (see :mod:`jepsen_lite.runner.workloads.kv` for the encoding), so the
claimed serial order is "by revision". This checker verifies, in linear time plus a
sort, that the claim is consistent:

1. **unique**: no two ``ok`` writes report the same revision;
2. **real time**: an ``ok`` operation invoked after another ``ok`` operation completed
   has a revision at least as high, and strictly higher when it writes (a write after
   a completed operation is applied after it);
3. **reads**: every observation of key ``k`` (a get, a transaction's get, a delete that
   found nothing) of value ``v`` with ``mod_revision`` ``m`` at read revision ``R`` (a
   writing transaction's gets read at ``R - 1``): ``m <= R``; if an ``ok`` write of the
   revision ``m`` is known, it wrote ``v`` to ``k``; if none is known, ``v`` is the
   value of some ``info`` or pending write of ``k`` (its revision was unknown); and no
   known write of ``k`` has a revision in ``(m, R]`` (the read did not miss a later
   write). An absent ``v`` needs the latest known write of ``k`` at or before ``R`` to
   be a delete (unless an ``info`` delete of ``k`` may explain it);
4. **branch**: each ``ok`` transaction took the success branch exactly when its
   compares hold on the values its own gets saw (``null`` expected: absent).

Together with linearizability per key (which the ``kv`` workload checks too) this
catches a transaction that was not atomic at one revision, a stale read, a lost or
phantom write, and a wrong branch. It does not search: operations whose revision is
unknown (``info``) are only used as possible writers. No ``ok`` operation with a
revision is UNKNOWN.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Any

import attrs

from ...history.ops import History, Operation, Status, Value, show
from ..api import CheckerResult, RunFacts, Validity
from .kv_values import as_int, txn_input, txn_output

SHOWN = 20
"""How many anomalies the details list."""


@attrs.frozen
class Anomaly:
    kind: str
    op: Operation
    text: str

    def describe(self) -> str:
        return f"{self.kind}: {self.text} (process {show(self.op.process)}, event {self.op.call})"


@attrs.frozen
class _Observation:
    key: Value
    value: Value
    mod_revision: int
    revision: int
    op: Operation


@attrs.define
class _Facts:
    """What the ``ok`` operations claim, and what the indefinite ones may have done."""

    revision: dict[int, int] = attrs.Factory(dict)  # op id -> its revision
    writes_op: dict[int, bool] = attrs.Factory(dict)  # op id -> it created its revision
    writes: dict[tuple[Value, int], Value] = attrs.Factory(dict)  # (key, rev) -> value
    writer: dict[int, Operation] = attrs.Factory(dict)  # rev -> the op that wrote it
    observations: list[_Observation] = attrs.Factory(list)
    possible: dict[Value, set[Value]] = attrs.Factory(dict)  # key -> info-written values
    branches: list[tuple[Operation, bool, bool]] = attrs.Factory(list)  # (op, took, should)


class RevisionChecker:
    """Revision-order consistency of a ``kv`` workload history (see the module doc)."""

    name = "revisions"

    def check(self, history: History, facts: RunFacts) -> CheckerResult:
        found: list[Anomaly] = []
        known = _collect(history.operations, found)
        _check_real_time(history.operations, known, found)
        checked_reads = _check_reads(known, found)
        for op, took, should in known.branches:
            if took != should:
                branch = "success" if took else "failure"
                found.append(
                    Anomaly(
                        "branch",
                        op,
                        f"txn took the {branch} branch but its gets say its compares were "
                        f"{'true' if should else 'false'}: {show(op.input)} -> {show(op.output)}",
                    )
                )
        details: dict[str, Any] = {
            "operations": len(known.revision),
            "writes": len(known.writer),
            "reads_checked": checked_reads,
            "transactions": len(known.branches),
            "anomalies": len(found),
            "found": [{"kind": a.kind, "event": a.op.call, "text": a.text} for a in found[:SHOWN]],
        }
        if found:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            return CheckerResult(
                self.name,
                Validity.INVALID,
                f"{len(found)} revision-order anomalies: {found[0].describe()}{more}",
                details,
            )
        if not known.revision:
            return CheckerResult(
                self.name, Validity.UNKNOWN, "no ok operation reported a revision", details
            )
        return CheckerResult(
            self.name,
            Validity.VALID,
            f"{len(known.revision)} operations ({len(known.writer)} writes, "
            f"{len(known.branches)} transactions) consistent with the revision order; "
            f"{checked_reads} reads checked",
            details,
        )


def _collect(operations: tuple[Operation, ...], found: list[Anomaly]) -> _Facts:
    known = _Facts()
    for op in operations:
        if op.status is Status.FAIL:
            continue
        if op.status is not Status.OK:
            for key, value in _possible_writes(op):
                known.possible.setdefault(key, set()).add(value)
            continue
        out = op.output
        if not isinstance(out, tuple):
            found.append(Anomaly("malformed", op, f"ok value {show(out)} is not an array"))
            continue
        if op.f == "read" and len(out) == 3:
            value, mod, rev = out[0], as_int(out[1]), as_int(out[2])
            if mod is None or rev is None:
                found.append(Anomaly("malformed", op, f"read value {show(out)}"))
                continue
            known.revision[op.id] = rev
            known.writes_op[op.id] = False
            known.observations.append(_Observation(op.key, value, mod, rev, op))
        elif op.f in ("write", "cas") and len(out) == 3:
            value, rev, wrote = out[0], as_int(out[1]), out[2]
            if rev is None:
                found.append(Anomaly("malformed", op, f"write value {show(out)}"))
                continue
            known.revision[op.id] = rev
            known.writes_op[op.id] = bool(wrote)
            if wrote:
                known.writes[(op.key, rev)] = value
                _claim(known, rev, op, found)
            else:
                known.observations.append(_Observation(op.key, None, 0, rev, op))
        elif op.f == "txn":
            _collect_txn(op, known, found)
        else:
            found.append(Anomaly("malformed", op, f"{op.f} ok value {show(out)}"))
    return known


def _collect_txn(op: Operation, known: _Facts, found: list[Anomaly]) -> None:
    spec, out = txn_input(op.input), txn_output(op.output)
    if spec is None or out is None:
        found.append(Anomaly("malformed", op, f"txn {show(op.input)} -> {show(op.output)}"))
        return
    rev = out.revision
    taken = spec.success if out.succeeded else spec.failure
    wrote = bool(taken)
    known.revision[op.id] = rev
    known.writes_op[op.id] = wrote
    if wrote:
        for key, value in taken:
            known.writes[(key, rev)] = value
        _claim(known, rev, op, found)
    seen: dict[Value, Value] = {}
    for read in out.reads:
        seen[read.key] = read.value
        at = rev - 1 if wrote else rev
        known.observations.append(_Observation(read.key, read.value, read.mod_revision, at, op))
    should = all(
        key in seen and ((seen[key] is None) if want is None else seen[key] == want)
        for key, want in spec.compares
    )
    known.branches.append((op, out.succeeded, should))


def _claim(known: _Facts, rev: int, op: Operation, found: list[Anomaly]) -> None:
    other = known.writer.get(rev)
    if other is not None and other.id != op.id:
        found.append(
            Anomaly(
                "duplicate-revision",
                op,
                f"revision {rev} is also the revision of {other.f} by process "
                f"{show(other.process)} (event {other.call})",
            )
        )
    else:
        known.writer[rev] = op


def _possible_writes(op: Operation) -> Iterator[tuple[Value, Value]]:
    """The (key, value) pairs an ``info`` or pending operation may have written."""
    if op.f == "write":
        yield op.key, op.input
    elif op.f == "cas" and isinstance(op.input, tuple) and len(op.input) == 2:
        yield op.key, op.input[1]
    elif op.f == "txn":
        spec = txn_input(op.input)
        if spec is not None:
            yield from spec.success
            yield from spec.failure


def _check_real_time(
    operations: tuple[Operation, ...], known: _Facts, found: list[Anomaly]
) -> None:
    events: list[tuple[int, int, Operation]] = []  # (event index, 0 call / 1 return, op)
    for op in operations:
        if op.id in known.revision and op.ret is not None:
            events.append((op.call, 0, op))
            events.append((op.ret, 1, op))
    events.sort(key=lambda e: (e[0], e[1]))
    highest = 0
    highest_op: Operation | None = None
    floor: dict[int, tuple[int, Operation | None]] = {}
    for _, kind, op in events:
        if kind == 0:
            floor[op.id] = (highest, highest_op)
            continue
        rev = known.revision[op.id]
        least, before = floor[op.id]
        writes = known.writes_op[op.id]
        if before is not None and (rev < least or (writes and rev == least)):
            what = "write" if writes else "read"
            found.append(
                Anomaly(
                    "real-time",
                    op,
                    f"{what} at revision {rev} was invoked after {before.f} by process "
                    f"{show(before.process)} (event {before.call}) completed at revision "
                    f"{least}",
                )
            )
        if rev > highest:
            highest, highest_op = rev, op


def _check_reads(known: _Facts, found: list[Anomaly]) -> int:
    chains: dict[Value, list[tuple[int, Value]]] = {}
    for (key, rev), value in known.writes.items():
        chains.setdefault(key, []).append((rev, value))
    for chain in chains.values():
        chain.sort(key=lambda item: item[0])
    revs = {key: [r for r, _ in chain] for key, chain in chains.items()}
    count = 0
    for obs in known.observations:
        count += 1
        problem = _read_problem(obs, known, chains.get(obs.key, []), revs.get(obs.key, []))
        if problem:
            found.append(Anomaly(problem[0], obs.op, problem[1]))
    return count


def _read_problem(
    obs: _Observation, known: _Facts, chain: list[tuple[int, Value]], revs: list[int]
) -> tuple[str, str] | None:
    key, value, mod, rev = obs.key, obs.value, obs.mod_revision, obs.revision
    where = f"key {show(key)}: read {show(value)} (mod revision {mod}) at revision {rev}"
    if mod > rev:
        return "future-read", f"{where}: its mod revision is after the read's revision"
    if value is not None:
        if mod < 1:
            return "malformed", f"{where}: a present value needs a mod revision"
        if (key, mod) in known.writes:
            wrote = known.writes[(key, mod)]
            if wrote != value:
                return "wrong-value", f"{where}: the write at revision {mod} wrote {show(wrote)}"
        elif mod in known.writer:
            other = known.writer[mod]
            return (
                "wrong-value",
                f"{where}: the write at revision {mod} ({other.f}) did not write it",
            )
        elif value not in known.possible.get(key, set()):
            elsewhere = [r for (k, r), v in known.writes.items() if k == key and v == value]
            if elsewhere:
                return (
                    "wrong-revision",
                    f"{where}: that value was written at revision {elsewhere[0]}",
                )
            return "phantom", f"{where}: no write of this key wrote {show(value)}"
    latest = bisect.bisect_right(revs, rev) - 1
    if latest < 0:
        return None  # no known write of the key yet (a value here came from an info write)
    last_rev, last_value = chain[latest]
    if value is not None and last_rev > mod:
        return (
            "stale-read",
            f"{where}: missed the write of {show(last_value)} at revision {last_rev}",
        )
    if value is None and last_value is not None and None not in known.possible.get(key, set()):
        return "stale-read", f"{where}: the key holds {show(last_value)} since revision {last_rev}"
    return None
