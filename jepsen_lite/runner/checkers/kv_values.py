"""Typed readers of the ``kv`` workload's transaction values (the encoding is documented
in :mod:`jepsen_lite.runner.workloads.kv`). Each returns ``None`` for a value that does
not have the expected shape, so checkers report it instead of failing."""

from __future__ import annotations

import attrs

from ...history.ops import Value

Pairs = tuple[tuple[Value, Value], ...]


@attrs.frozen
class TxnInput:
    """``[compares, success, failure]``: ``[[key, expected], ...]`` and two lists of
    ``[key, value]`` puts."""

    compares: Pairs
    success: Pairs
    failure: Pairs


@attrs.frozen
class TxnRead:
    key: Value
    value: Value
    mod_revision: int


@attrs.frozen
class TxnOutput:
    """``[succeeded, revision, [[key, value, mod_revision], ...]]``."""

    succeeded: bool
    revision: int
    reads: tuple[TxnRead, ...]


def as_int(value: Value) -> int | None:
    """``value`` if it is an integer (not a boolean), else ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def pairs(value: Value) -> Pairs | None:
    if not isinstance(value, tuple):
        return None
    out: list[tuple[Value, Value]] = []
    for item in value:
        if not (isinstance(item, tuple) and len(item) == 2):
            return None
        out.append((item[0], item[1]))
    return tuple(out)


def txn_input(value: Value) -> TxnInput | None:
    if not (isinstance(value, tuple) and len(value) == 3):
        return None
    compares, success, failure = (pairs(v) for v in value)
    if compares is None or success is None or failure is None:
        return None
    return TxnInput(compares, success, failure)


def txn_output(value: Value) -> TxnOutput | None:
    if not (isinstance(value, tuple) and len(value) == 3):
        return None
    succeeded, revision, reads = value
    rev = as_int(revision)
    if not isinstance(succeeded, bool) or rev is None or not isinstance(reads, tuple):
        return None
    out: list[TxnRead] = []
    for item in reads:
        if not (isinstance(item, tuple) and len(item) == 3):
            return None
        mod = as_int(item[2])
        if mod is None:
            return None
        out.append(TxnRead(item[0], item[1], mod))
    return TxnOutput(succeeded, rev, tuple(out))
