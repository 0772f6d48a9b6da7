"""The counter checker: reads within [acknowledged before, attempted by]."""

from __future__ import annotations

from jepsen_lite.runner.api import Validity
from jepsen_lite.runner.checkers.counter import CounterChecker

from .histories import NO_FACTS, build, op


def check(rows: list[tuple[object, ...]]):  # type: ignore[no-untyped-def]
    return CounterChecker().check(build(rows), NO_FACTS)


def history(read: object) -> list[tuple[object, ...]]:
    return [
        *op(0, "add", 2),
        (1, "invoke", "add", 3),  # concurrent with the read: may or may not count
        (2, "invoke", "read", None),
        (2, "ok", "read", read),
        (1, "ok", "add", 3),
        (3, "invoke", "add", 10),
        (3, "info", "add", 10),
        *op(4, "add", 7, kind="fail"),
    ]


def test_reads_within_bounds_are_valid() -> None:
    for value in (2, 5):
        result = check(history(value))
        assert result.validity is Validity.VALID, result.summary
    final = check([*history(5), *op(5, "read", None, 15)])
    assert final.validity is Validity.VALID
    assert final.details["acknowledged_total"] == 5 and final.details["attempted_total"] == 15


def test_read_below_acknowledged_is_invalid() -> None:
    result = check(history(1))
    assert result.validity is Validity.INVALID
    assert result.summary == (
        "1 of 1 reads out of bounds: read 1 (process 2, event 3) is below [2, 5]"
    )
    assert result.details["out_of_bounds"] == [
        {"key": None, "read_event": 3, "value": 1, "lower": 2, "upper": 5}
    ]


def test_read_above_attempted_is_invalid() -> None:
    result = check(history(6))
    assert result.validity is Validity.INVALID and "is above [2, 5]" in result.summary
    failed_counted = check([*history(5), *op(5, "read", None, 22)])  # the failed 7 counted
    assert failed_counted.validity is Validity.INVALID


def test_read_that_is_not_a_number_is_invalid() -> None:
    result = check(history("5"))
    assert result.validity is Validity.INVALID and "not an integer" in result.summary


def test_no_read_or_negative_add_is_unknown() -> None:
    assert check(op(0, "add", 1)).validity is Validity.UNKNOWN
    negative = check([*op(0, "add", -1), *op(1, "read", None, 0)])
    assert negative.validity is Validity.UNKNOWN and "not an integer >= 0" in negative.summary
