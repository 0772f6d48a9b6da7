"""Jepsen's set checker with planted anomalies of each class."""

from __future__ import annotations

from jepsen_lite.runner.api import Validity
from jepsen_lite.runner.checkers.set import SetChecker

from .histories import NO_FACTS, build, op


def check(rows: list[tuple[object, ...]]):  # type: ignore[no-untyped-def]
    return SetChecker().check(build(rows), NO_FACTS)


def adds() -> list[tuple[object, ...]]:
    return [
        *op(0, "add", 1),
        *op(0, "add", 2),
        (1, "invoke", "add", 3),
        (1, "info", "add", 3),
        (2, "invoke", "add", 4),
        (2, "info", "add", 4),
        *op(3, "add", 5, kind="fail"),
    ]


def test_clean_history_counts_recovered() -> None:
    result = check([*adds(), *op(9, "read", None, [1, 2, 3])])
    assert result.validity is Validity.VALID, result.summary
    assert result.details["recovered"] == 1 and result.details["not_recovered"] == 1
    assert "(2 acknowledged, 2 indefinite (1 recovered, 1 not))" in result.summary


def test_lost_add() -> None:
    result = check([*adds(), *op(9, "read", None, [2])])
    assert result.validity is Validity.INVALID
    assert result.summary.startswith("1 lost: 1 (")
    assert result.details["lost"] == [1]


def test_unexpected_element() -> None:
    result = check([*adds(), *op(9, "read", None, [1, 2, 77])])
    assert result.validity is Validity.INVALID and result.details["unexpected"] == [77]


def test_failed_add_present() -> None:
    result = check([*adds(), *op(9, "read", None, [1, 2, 5])])
    assert result.validity is Validity.INVALID and result.details["failed-but-present"] == [5]


def test_duplicate_element() -> None:
    result = check([*adds(), *op(9, "read", None, [1, 2, 2])])
    assert result.validity is Validity.INVALID and result.details["duplicated"] == [2]


def test_read_before_the_last_add_completed_is_not_final() -> None:
    rows = [(0, "invoke", "add", 1), *op(1, "read", None, []), (0, "ok", "add", 1)]
    result = check(rows)
    assert result.validity is Validity.UNKNOWN
    assert result.summary.startswith("no final read completed after the adds")


def test_empty_history_is_unknown() -> None:
    assert check([]).validity is Validity.UNKNOWN
