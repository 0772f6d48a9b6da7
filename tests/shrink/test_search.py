"""The pure search strategies of jepsen-lite shrink: ddmin, bisection, clip, shift."""

from __future__ import annotations

import pytest

from jepsen_lite.runner.api import Fault, FaultWindow
from jepsen_lite.shrink.search import (
    BudgetSpent,
    at,
    clip,
    ddmin,
    quantum,
    shift,
    smallest_failing,
    units,
)


def test_ddmin_finds_the_one_minimal_failing_subset_and_keeps_order() -> None:
    asked: list[tuple[int, ...]] = []

    def fails(sub: tuple[int, ...]) -> bool:
        asked.append(sub)
        return {3, 7} <= set(sub)

    assert ddmin(range(10), fails) == (3, 7)
    assert asked[0] == ()  # the empty schedule first
    assert len(set(asked)) == 22  # distinct candidates (the shrinker caches repeats)
    first = list(asked)
    asked.clear()
    assert ddmin(range(10), fails) == (3, 7)
    assert asked == first  # deterministic: the same questions in the same order


def test_ddmin_edge_cases() -> None:
    assert ddmin((), lambda s: True) == ()
    assert ddmin((1, 2, 3), lambda s: True) == ()
    assert ddmin((1, 2, 3), lambda s: 2 in s) == (2,)
    assert ddmin((1, 2, 3), lambda s: len(s) == 3) == (1, 2, 3)  # nothing smaller fails


def test_ddmin_lets_a_spent_budget_through() -> None:
    def fails(sub: tuple[int, ...]) -> bool:
        raise BudgetSpent()

    with pytest.raises(BudgetSpent):
        ddmin((1, 2), fails)


def test_smallest_failing_bisects_a_monotone_predicate() -> None:
    asked: list[int] = []

    def from_13(k: int) -> bool:
        asked.append(k)
        return k >= 13

    assert smallest_failing(0, 64, from_13) == 13
    assert len(asked) == 6 and 64 not in asked and 0 not in asked
    assert smallest_failing(0, 10, lambda k: False) == 10
    assert smallest_failing(-1, 5, lambda k: True) == 0


def test_units_and_steps() -> None:
    assert quantum(30.0) == 0.5 and quantum(2.0) == 0.1 and quantum(50.0) == 0.8
    assert units(30.0, 0.5) == 60 and units(20.0, 0.3) == 67
    assert at(67, 0.3, 20.0) == 20.0 and at(33, 0.3, 20.0) == 9.9


def test_clip_and_shift_a_schedule() -> None:
    kill = Fault("kill", "leader")
    windows = (
        FaultWindow(1.0, 4.0, kill),
        FaultWindow(5.0, 7.5, kill),
        FaultWindow(9.0, 9.5, kill),
    )
    assert clip(windows, 6.0) == (FaultWindow(1.0, 4.0, kill), FaultWindow(5.0, 6.0, kill))
    assert clip(windows, 1.0) == ()
    assert shift(windows, 0.5)[1] == FaultWindow(4.5, 7.0, kill)
    with pytest.raises(ValueError, match="earlier"):
        shift(windows, 1.5)
