"""The lost-writes checker: final reads after the writes must see a value no
acknowledged write had certainly overwritten; set mode: every acknowledged add."""

from __future__ import annotations

import pytest

from jepsen_lite.runner.api import Validity
from jepsen_lite.runner.checkers.lost_writes import LostWritesChecker

from .histories import NO_FACTS, build, op


def check(rows: list[tuple[object, ...]]) -> tuple[Validity, str, dict[str, object]]:
    result = LostWritesChecker().check(build(rows), NO_FACTS)
    return result.validity, result.summary, dict(result.details)


def test_final_read_of_the_last_write_is_valid() -> None:
    validity, summary, _ = check(
        op(0, "write", 1, key="a") + op(0, "write", 2, key="a") + op(1, "read", None, 2, key="a")
    )
    assert validity is Validity.VALID, summary


def test_final_read_of_an_overwritten_value_is_invalid() -> None:
    validity, summary, details = check(
        op(0, "write", 1, key="a") + op(0, "write", 2, key="a") + op(1, "read", None, 1, key="a")
    )
    assert validity is Validity.INVALID
    assert "saw 1, overwritten for certain by write 2 (process 0, event 2)" in summary
    assert details["lost"] == [
        {
            "key": "a",
            "read_event": 4,
            "value": 1,
            "allowed": [2],
            "superseded_by": "write 2 (process 0, event 2)",
            "superseded_by_event": 2,
        }
    ]


def test_final_read_of_the_initial_value_after_an_ok_write_is_invalid() -> None:
    validity, summary, _ = check(op(0, "write", 1, key="a") + op(1, "read", None, None, key="a"))
    assert validity is Validity.INVALID and "saw null" in summary


def test_a_value_never_written_is_invalid() -> None:
    validity, summary, _ = check(op(0, "write", 1, key="a") + op(1, "read", None, 7, key="a"))
    assert validity is Validity.INVALID and "a value no write wrote" in summary


def test_indefinite_and_concurrent_writes_may_win() -> None:
    rows = [
        (0, "invoke", "write", 1, "a"),
        (1, "invoke", "cas", [None, 2], "a"),
        (0, "ok", "write", 1, "a"),
        (1, "info", "cas", [None, 2], "a"),
        *op(2, "write", 3, key="a"),
        *op(3, "read", None, 2, key="a"),  # the info cas may take effect after write 3
    ]
    assert check(rows)[0] is Validity.VALID
    concurrent = [
        (0, "invoke", "write", 1, "a"),
        (1, "invoke", "write", 2, "a"),
        (1, "ok", "write", 2, "a"),
        (0, "ok", "write", 1, "a"),
        *op(3, "read", None, 2, key="a"),
    ]
    assert check(concurrent)[0] is Validity.VALID


def test_a_read_during_the_writes_is_not_judged() -> None:
    rows = [
        (0, "invoke", "write", 1, "a"),
        *op(1, "read", None, 5, key="a"),  # concurrent with the write: not a final read
        (0, "ok", "write", 1, "a"),
    ]
    validity, summary, details = check(rows)
    assert validity is Validity.UNKNOWN
    assert details["unjudged_keys"] == ["a"]
    assert "no final read after the writes of 1 keys" in summary


def test_no_history_is_unknown() -> None:
    assert check([])[0] is Validity.UNKNOWN


def test_set_mode_reports_lost_adds() -> None:
    rows = op(0, "add", 1) + op(0, "add", 2) + op(1, "read", None, [2])
    result = LostWritesChecker("set").check(build(rows), NO_FACTS)
    assert result.validity is Validity.INVALID
    assert result.summary == "1 of 2 acknowledged adds lost: 1"
    clean = op(0, "add", 1) + op(1, "read", None, [1])
    assert LostWritesChecker("set").check(build(clean), NO_FACTS).validity is Validity.VALID
    assert LostWritesChecker("set").check(build(op(0, "add", 1)), NO_FACTS).validity is (
        Validity.UNKNOWN
    )


def test_bad_mode_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="mode must be 'register' or 'set'"):
        LostWritesChecker("bank")  # type: ignore[arg-type]
