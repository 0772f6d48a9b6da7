"""The linearizability checker over runner histories: planted stale reads are INVALID
with the failing key and a counterexample; empty, vacuous and over-budget checks are
UNKNOWN, never VALID."""

from __future__ import annotations

from jepsen_lite.models import CasRegisterModel, RegisterModel
from jepsen_lite.runner.api import Validity
from jepsen_lite.runner.checkers.linearizable import LinearizableChecker

from .histories import NO_FACTS, build, op


def test_clean_history_is_valid() -> None:
    history = build(
        op(0, "write", 1, key="a") + op(1, "read", None, 1, key="a") + op(0, "write", 1, key="b")
    )
    result = LinearizableChecker(RegisterModel()).check(history, NO_FACTS)
    assert result.validity is Validity.VALID
    assert result.summary == "linearizable (3 of 3 operations, 2 keys)"


def test_stale_read_is_invalid_with_a_counterexample() -> None:
    history = build(
        op(0, "write", 1, key="a")
        + op(0, "write", 2, key="b")
        + op(0, "write", 3, key="b")
        + op(1, "read", None, 2, key="b")  # stale: 3 was written before this read began
    )
    result = LinearizableChecker(RegisterModel()).check(history, NO_FACTS)
    assert result.validity is Validity.INVALID
    assert result.details["failing_key"] == "b"
    cx = result.details["counterexample"]
    assert cx["operation"] == "read → 2" and cx["process"] == "1"
    assert cx["state"] == "3" and cx["linearized"] == 2
    assert result.summary.startswith('not linearizable: key "b": cannot linearize read → 2')


def test_empty_history_is_unknown() -> None:
    result = LinearizableChecker(RegisterModel()).check(build([]), NO_FACTS)
    assert result.validity is Validity.UNKNOWN
    assert result.summary.startswith("nothing to check")


def test_only_failed_operations_is_unknown() -> None:
    history = build(op(0, "cas", [1, 2], key="a", kind="fail"))
    result = LinearizableChecker(CasRegisterModel()).check(history, NO_FACTS)
    assert result.validity is Validity.UNKNOWN


def hard_history() -> list[tuple[object, ...]]:
    """Twelve concurrent writes and twelve reads in between that see them out of order:
    linearizable, but only after a search of some thousands of configurations."""
    rows: list[tuple[object, ...]] = [(p, "invoke", "write", p, "a") for p in range(12)]
    for i in range(12):
        rows += op(100 + i, "read", None, (i * 5) % 12, key="a")
    rows += [(p, "ok", "write", p, "a") for p in range(12)]
    return rows


def test_budget_spent_is_unknown_never_valid() -> None:
    history = build(hard_history())
    assert LinearizableChecker(RegisterModel()).check(history, NO_FACTS).validity is Validity.VALID
    memory = LinearizableChecker(RegisterModel(), max_cache_entries=100).check(history, NO_FACTS)
    assert memory.validity is Validity.UNKNOWN
    assert memory.summary.startswith("unknown, NOT a success: memory budget spent")
    timed = LinearizableChecker(RegisterModel(), time_limit_s=0.0).check(history, NO_FACTS)
    assert timed.validity is Validity.UNKNOWN
    assert timed.details["unknown_reasons"] == ["time limit reached"]


def test_operation_the_model_does_not_know_is_unknown() -> None:
    history = build(op(0, "cas", [1, 2], key="a"))
    result = LinearizableChecker(RegisterModel()).check(history, NO_FACTS)
    assert result.validity is Validity.UNKNOWN
    assert "does not support f 'cas'" in result.summary
