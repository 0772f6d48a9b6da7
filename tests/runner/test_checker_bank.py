"""The bank checker: every read sees the initial total, no negative balance."""

from __future__ import annotations

from jepsen_lite.runner.api import Validity
from jepsen_lite.runner.checkers.bank import BankChecker

from .histories import NO_FACTS, build, op

SETUP = op(0, "write", [10, 10, 10])


def check(rows: list[tuple[object, ...]], **kwargs: bool):  # type: ignore[no-untyped-def]
    return BankChecker(**kwargs).check(build(rows), NO_FACTS)


def test_reads_with_the_total_are_valid() -> None:
    rows = [
        *op(1, "read", None, [None, None, None]),  # before the setup
        *SETUP,
        *op(2, "txn", [0, 1, 4]),
        *op(3, "read", None, [6, 14, 10]),
    ]
    result = check(rows)
    assert result.validity is Validity.VALID, result.summary
    assert (
        result.summary == "all 1 reads of the 3 accounts saw the total 30 and no negative balance"
    )


def test_wrong_total_is_invalid() -> None:
    result = check([*SETUP, *op(3, "read", None, [6, 10, 10])])
    assert result.validity is Validity.INVALID
    assert result.summary == (
        "1 of 1 reads broke the bank invariant: read [6,10,10] (process 3, event 2): "
        "total 26, expected 30"
    )


def test_negative_balance() -> None:
    rows = [*SETUP, *op(3, "read", None, [-1, 21, 10])]
    assert check(rows).validity is Validity.INVALID
    assert "negative balance" in check(rows).summary
    assert check(rows, allow_negative=True).validity is Validity.VALID


def test_partial_and_vanished_accounts() -> None:
    partial = check([*SETUP, *op(3, "read", None, [None, 20, 10])])
    assert partial.validity is Validity.INVALID and "absent while others exist" in partial.summary
    vanished = check([*SETUP, *op(3, "read", None, [None, None, None])])
    assert vanished.validity is Validity.INVALID
    assert "every account absent after the accounts existed" in vanished.summary
    short = check([*SETUP, *op(3, "read", None, [30])])
    assert short.validity is Validity.INVALID and "expected 3 balances" in short.summary


def test_unknown_without_setup_or_full_read() -> None:
    assert check(op(3, "read", None, [10, 10, 10])).validity is Validity.UNKNOWN
    assert check([*SETUP, *op(2, "txn", [0, 1, 1])]).validity is Validity.UNKNOWN
    assert check([]).validity is Validity.UNKNOWN
