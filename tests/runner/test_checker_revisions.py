"""The revision-order checker of the kv workload, with planted anomalies."""

from __future__ import annotations

from jepsen_lite.runner.api import Validity
from jepsen_lite.runner.checkers.revisions import RevisionChecker

from .histories import NO_FACTS, build, op

TXN = [[["a", 1]], [["b", 5]], []]  # if a = 1 then put b = 5


def check(rows: list[tuple[object, ...]]):  # type: ignore[no-untyped-def]
    return RevisionChecker().check(build(rows), NO_FACTS)


def kinds(rows: list[tuple[object, ...]]) -> list[str]:
    return [a["kind"] for a in check(rows).details["found"]]


def clean() -> list[tuple[object, ...]]:
    return [
        *op(0, "write", 1, [1, 1, True], key="a"),
        *op(1, "read", None, [1, 1, 1], key="a"),
        *op(2, "txn", TXN, [True, 2, [["a", 1, 1]]]),
        *op(1, "read", None, [5, 2, 2], key="b"),
        *op(0, "write", None, [None, 3, True], key="a"),
        *op(1, "read", None, [None, 0, 3], key="a"),
        *op(0, "write", None, [None, 3, False], key="c"),  # deleted nothing
    ]


def test_clean_history_is_valid() -> None:
    result = check(clean())
    assert result.validity is Validity.VALID, result.summary
    assert result.details["transactions"] == 1 and result.details["writes"] == 3


def test_duplicate_revision() -> None:
    rows = [*op(0, "write", 1, [1, 1, True], key="a"), *op(1, "write", 2, [2, 1, True], key="b")]
    result = check(rows)
    assert result.validity is Validity.INVALID
    assert result.details["found"][0]["kind"] == "duplicate-revision"
    assert "revision 1 is also the revision of write by process 0" in result.summary


def test_revision_going_back_in_real_time() -> None:
    rows = [*op(0, "write", 1, [1, 5, True], key="a"), *op(1, "read", None, [None, 0, 3], key="b")]
    assert kinds(rows) == ["real-time"]
    writes = [*op(0, "write", 1, [1, 5, True], key="a"), *op(1, "write", 2, [2, 4, True], key="b")]
    assert kinds(writes) == ["real-time"]


def test_stale_read() -> None:
    rows = [
        *op(0, "write", 1, [1, 1, True], key="a"),
        *op(0, "write", 2, [2, 2, True], key="a"),
        *op(1, "read", None, [1, 1, 2], key="a"),
    ]
    result = check(rows)
    assert result.validity is Validity.INVALID
    assert result.details["found"][0]["text"] == (
        'key "a": read 1 (mod revision 1) at revision 2: missed the write of 2 at revision 2'
    )
    deleted = [
        *op(0, "write", 1, [1, 1, True], key="a"),
        *op(1, "read", None, [None, 0, 1], key="a"),
    ]
    assert kinds(deleted) == ["stale-read"]


def test_wrong_value_phantom_and_future() -> None:
    assert kinds(
        [*op(0, "write", 1, [1, 1, True], key="a"), *op(1, "read", None, [7, 1, 1], key="a")]
    ) == ["wrong-value"]
    assert kinds([*op(1, "read", None, [9, 4, 4], key="a")]) == ["phantom"]
    assert kinds([*op(1, "read", None, [9, 5, 4], key="a")]) == ["future-read"]


def test_an_indefinite_write_explains_a_value() -> None:
    rows = [
        (0, "invoke", "write", 9, "a"),
        (0, "info", "write", 9, "a"),
        *op(1, "read", None, [9, 4, 4], key="a"),
    ]
    assert check(rows).validity is Validity.VALID


def test_wrong_branch() -> None:
    rows = [
        *op(0, "write", 2, [2, 1, True], key="a"),
        *op(2, "txn", TXN, [True, 2, [["a", 2, 1]]]),  # a was 2, yet the success branch ran
    ]
    result = check(rows)
    assert result.validity is Validity.INVALID
    assert result.details["found"][0]["kind"] == "branch"
    assert "txn took the success branch but its gets say its compares were false" in result.summary


def test_txn_gets_read_before_its_own_puts() -> None:
    rows = [
        *op(0, "write", 1, [1, 1, True], key="a"),
        *op(2, "txn", [[["a", 1]], [["a", 2]], []], [True, 2, [["a", 1, 1]]]),
        *op(1, "read", None, [2, 2, 2], key="a"),
    ]
    assert check(rows).validity is Validity.VALID


def test_malformed_and_empty() -> None:
    assert kinds([*op(1, "read", None, [1, "x", 2], key="a")]) == ["malformed"]
    assert check([]).validity is Validity.UNKNOWN


def test_value_read_at_another_revision() -> None:
    rows = [*op(0, "write", 1, [1, 1, True], key="a"), *op(1, "read", None, [1, 2, 2], key="a")]
    assert kinds(rows) == ["wrong-revision"]
