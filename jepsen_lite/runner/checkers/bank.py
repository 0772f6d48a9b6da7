"""The bank invariant: every read of all accounts sees the same total, and no account
is negative.

The history (the ``bank`` workload's): the setup ``write`` whose value is the array of
initial balances (one per account; the total is their sum), transfers (``txn [from, to,
amount]``, not judged here) and ``read``\\ s whose ``ok`` value is the array of all
balances read at one revision (``null`` for an absent account).

Each ``ok`` read must be either *empty* (every account absent: the setup had not taken
effect yet) or *full* with integer balances that sum to the total and, when
``allow_negative`` is false, none below 0. An empty read is INVALID once the accounts
are known to exist, that is when it was invoked after an ``ok`` setup or an ``ok`` full
read had completed (accounts are never deleted). A read with some accounts absent, the
wrong number of balances or a balance that is not an integer is INVALID. No setup in
the history, or no full read, is UNKNOWN.
"""

from __future__ import annotations

from typing import Any

import attrs

from ...history.ops import History, Operation, Status, Value, show
from ..api import CheckerResult, RunFacts, Validity
from .kv_values import as_int

SHOWN = 20
"""How many bad reads the details list."""


@attrs.frozen
class BadRead:
    read: Operation
    problem: str

    def describe(self) -> str:
        return (
            f"read {show(self.read.output)} (process {show(self.read.process)}, event "
            f"{self.read.call}): {self.problem}"
        )


def _balances(value: Value) -> tuple[Value, ...] | None:
    return value if isinstance(value, tuple) else None


def _ints(values: tuple[Value, ...] | None) -> list[int] | None:
    """``values`` as integers, or ``None`` if one is not an integer."""
    if values is None:
        return None
    ints = [as_int(v) for v in values]
    return None if any(i is None for i in ints) else [i for i in ints if i is not None]


class BankChecker:
    """Every ``ok`` read sees the initial total (see the module doc)."""

    name = "bank"

    def __init__(self, *, allow_negative: bool = False) -> None:
        self.allow_negative = allow_negative

    def check(self, history: History, facts: RunFacts) -> CheckerResult:
        setups = [op for op in history.operations if op.f == "write"]
        initial = [_ints(_balances(op.input)) for op in setups]
        if not setups or any(b is None for b in initial):
            return CheckerResult(
                self.name,
                Validity.UNKNOWN,
                "no setup write of the initial balances in the history: the total is unknown",
                {"reads": 0},
            )
        first = initial[0]
        assert first is not None
        if any(b != first for b in initial):
            return CheckerResult(
                self.name,
                Validity.UNKNOWN,
                "the setup writes disagree on the initial balances",
                {"reads": 0},
            )
        accounts = len(first)
        total = sum(first)
        reads = [op for op in history.operations if op.f == "read" and op.status is Status.OK]
        bad: list[BadRead] = []
        full: list[Operation] = []
        empty: list[Operation] = []
        for op in reads:
            problem = self._problem(op.output, accounts, total)
            if problem == "empty":
                empty.append(op)
            elif problem:
                bad.append(BadRead(op, problem))
            else:
                full.append(op)
        evidence = [op.ret for op in setups if op.status is Status.OK and op.ret is not None]
        evidence += [op.ret for op in full if op.ret is not None]
        exists_since = min(evidence, default=None)
        if exists_since is not None:
            for op in empty:
                if op.call > exists_since:
                    bad.append(BadRead(op, "every account absent after the accounts existed"))
        bad.sort(key=lambda b: b.read.call)
        details: dict[str, Any] = {
            "accounts": accounts,
            "total": total,
            "reads": len(reads),
            "full_reads": len(full),
            "empty_reads": len(empty),
            "bad_reads": len(bad),
            "bad": [{"read_event": b.read.call, "problem": b.problem} for b in bad[:SHOWN]],
        }
        if bad:
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            return CheckerResult(
                self.name,
                Validity.INVALID,
                f"{len(bad)} of {len(reads)} reads broke the bank invariant: "
                f"{bad[0].describe()}{more}",
                details,
            )
        if not full:
            return CheckerResult(
                self.name,
                Validity.UNKNOWN,
                f"no read saw the accounts ({len(reads)} reads, {len(empty)} before the setup)",
                details,
            )
        return CheckerResult(
            self.name,
            Validity.VALID,
            f"all {len(full)} reads of the {accounts} accounts saw the total {total}"
            + ("" if self.allow_negative else " and no negative balance"),
            details,
        )

    def _problem(self, output: Value, accounts: int, total: int) -> str:
        """``""`` for a good full read, ``"empty"``, or what is wrong with it."""
        balances = _balances(output)
        if balances is None or len(balances) != accounts:
            return f"expected {accounts} balances"
        if all(b is None for b in balances):
            return "empty"
        if any(b is None for b in balances):
            absent = [i for i, b in enumerate(balances) if b is None]
            return f"accounts {absent} absent while others exist"
        ints = _ints(balances)
        if ints is None:
            return "a balance is not an integer"
        if sum(ints) != total:
            return f"total {sum(ints)}, expected {total}"
        if not self.allow_negative and any(b < 0 for b in ints):
            return "negative balance"
        return ""
