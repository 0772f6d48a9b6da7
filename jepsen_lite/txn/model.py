"""Transactions as a transactional checker sees them: micro-operations on keys.

A list-append history (Elle's workload: Kingsbury and Alvaro, 2020) is made of ``txn``
operations whose value is a sequence of micro-ops ``[f, key, value]``:

- ``["append", k, v]``: append ``v`` to the list at ``k``; every ``(k, v)`` is appended at
  most once in the whole history (the workload makes values unique per key), which is
  what lets a checker recover each key's version order from the lists that reads see;
- ``["r", k, list]`` (also ``"read"``): read the list at ``k``; ``null`` in an ``ok``
  completion means the empty list, in an invoke or an ``info`` completion "not known".

:func:`transactions` turns a paired :class:`~jepsen_lite.history.ops.History` into
:class:`Txn` records: ``ok`` transactions with what their reads saw, ``info`` (and never
completed) transactions whose appends may or may not have happened and whose reads are
unknown, and ``fail`` transactions, which certainly did not happen (kept only so that a
read of one of their values can be named: G1a, aborted read).
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from ..history.errors import HistoryError
from ..history.ops import UNKNOWN, History, Operation, Status, Value, show

APPEND = "append"
READ = "r"
_F = {"append": APPEND, "r": READ, "read": READ}


@attrs.frozen(slots=True)
class MicroOp:
    """One step of a transaction. ``value`` is the appended element for an append; for
    a read, the list seen (a tuple) or ``None`` when not known."""

    f: str
    key: Value
    value: Value


@attrs.frozen(slots=True)
class Txn:
    """A transaction of the history. ``id`` is its operation id (call order); ``call``
    and ``ret`` are event indexes (``ret`` is ``None`` for one that never completed
    definitely: info or pending). ``line`` is the invoke's source line."""

    id: int
    process: object
    status: Status
    ops: tuple[MicroOp, ...]
    call: int
    ret: int | None
    line: int = 0

    @property
    def committed(self) -> bool:
        """An ``ok`` transaction: it happened, once, between call and ret."""
        return self.status is Status.OK

    @property
    def aborted(self) -> bool:
        """A ``fail`` transaction: it certainly did not happen."""
        return self.status is Status.FAIL

    def appends(self) -> Iterator[MicroOp]:
        return (op for op in self.ops if op.f == APPEND)

    def reads(self) -> Iterator[MicroOp]:
        return (op for op in self.ops if op.f == READ and op.value is not None)

    def show(self) -> str:
        """``T7 (process 3, ok): [append x 1] [r y [1,2]]``."""
        steps = " ".join(f"[{op.f} {show(op.key)} {_show_op_value(op)}]" for op in self.ops)
        return f"T{self.id} (process {self.process}, {self.status.value}): {steps}"


def _show_op_value(op: MicroOp) -> str:
    if op.value is None:
        return "?" if op.f == READ else "null"
    return show(op.value)


def transactions(history: History) -> list[Txn]:
    """The history's ``txn`` operations as :class:`Txn` (in call order).

    Raises :class:`HistoryError` naming the line for an operation that is not a ``txn``,
    a micro-op that is not ``[append|r, key, value]``, a read whose list is not a list,
    or a completion whose micro-ops do not match its invoke's.
    """
    txns = []
    for op in history.operations:
        if op.f != "txn":
            raise HistoryError(
                history.source,
                op.line,
                f"a list-append history has only txn operations, not {op.f!r}",
            )
        txns.append(_txn(history.source, op))
    return txns


def _txn(source: str, op: Operation) -> Txn:
    done = op.status is Status.OK
    asked = _micro_ops(source, op.line, op.input, completed=False)
    if done:
        seen = _micro_ops(source, op.complete_line or op.line, op.output, completed=True)
        if [(m.f, m.key) for m in seen] != [(m.f, m.key) for m in asked]:
            raise HistoryError(
                source,
                op.complete_line or op.line,
                "the completion's micro-ops are not those of its invoke",
            )
        for mine, theirs in zip(seen, asked, strict=True):
            if mine.f == APPEND and mine.value != theirs.value:
                raise HistoryError(
                    source,
                    op.complete_line or op.line,
                    f"the completion appends {show(mine.value)} to {show(mine.key)} where "
                    f"its invoke appends {show(theirs.value)}",
                )
        ops = seen
    else:
        ops = tuple(MicroOp(m.f, m.key, None) if m.f == READ else m for m in asked)
    return Txn(op.id, op.process, op.status, ops, op.call, op.ret, op.line)


def _micro_ops(source: str, line: int, value: Value, *, completed: bool) -> tuple[MicroOp, ...]:
    if not isinstance(value, tuple):
        raise HistoryError(
            source, line, f"a txn value must be a list of micro-ops, got {show(value)}"
        )
    ops = []
    for item in value:
        if not isinstance(item, tuple) or len(item) != 3 or _F.get(str(item[0])) is None:
            raise HistoryError(
                source, line, f'a micro-op is ["append"|"r", key, value], got {show(item)}'
            )
        f, key, v = _F[str(item[0])], item[1], item[2]
        if f == READ:
            if v is None or v is UNKNOWN:
                v = () if completed else None  # an ok read of nil saw the empty list
            elif not isinstance(v, tuple):
                raise HistoryError(source, line, f"a read of {show(key)} saw {show(v)}, not a list")
        elif v is UNKNOWN:
            raise HistoryError(source, line, f"an append to {show(key)} has no value")
        ops.append(MicroOp(f, key, v))
    return tuple(ops)
