"""NodeClock: offsets, rates, and that a rate change never jumps the clock by itself."""

from __future__ import annotations

import pytest

from consensus.runtime.clock import NodeClock


class FakeBase:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_unskewed_clock_is_the_base() -> None:
    base = FakeBase()
    clock = NodeClock(base)
    assert clock.now_s() == 100.0
    base.t = 250.5
    assert clock.now_ms() == 250_500


def test_offset_and_rate() -> None:
    base = FakeBase()
    clock = NodeClock(base)
    clock.skew(500, rate=2.0)
    assert clock.now_s() == pytest.approx(100.5)
    base.t = 101.0
    assert clock.now_s() == pytest.approx(102.5)  # one base second ran as two


def test_rate_change_alone_does_not_jump() -> None:
    base = FakeBase()
    clock = NodeClock(base)
    clock.skew(0, rate=3.0)
    base.t = 110.0
    before = clock.now_s()
    clock.skew(0, rate=0.5)
    assert clock.now_s() == pytest.approx(before)
    base.t = 112.0
    assert clock.now_s() == pytest.approx(before + 1.0)


def test_reset_returns_to_base_and_bad_rate_is_refused() -> None:
    base = FakeBase()
    clock = NodeClock(base)
    clock.skew(-2000, rate=1.5)
    base.t = 200.0
    assert clock.now_s() != 200.0
    clock.reset()
    assert clock.now_s() == 200.0
    with pytest.raises(ValueError, match="rate must be > 0"):
        clock.skew(0, rate=0)
