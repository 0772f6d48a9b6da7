"""NodeClock: offsets, rates, and that a rate change never jumps the clock by itself."""

from __future__ import annotations

import pytest
import trio

from consensus.runtime.clock import NodeClock, run_clock_ticks


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


async def test_clock_ticks_carry_elapsed_time_only_while_leading(
    autojump_clock: trio.testing.MockClock,
) -> None:
    leading = [False]
    proposed: list[int] = []
    clock = NodeClock(lambda: 1000.0 + trio.current_time())

    async def propose(command: bytes) -> object:
        proposed.append(int(command))
        return b""

    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            run_clock_ticks, lambda: leading[0], propose, lambda ms: b"%d" % ms, clock, 1.0
        )
        await trio.sleep(3.5)
        assert proposed == []  # not leading: nothing
        leading[0] = True
        await trio.sleep(3.0)  # the first leading tick only starts the measurement
        assert proposed == [1000, 1000]
        clock.skew(offset_ms=3_600_000, rate=2.0)  # a jump is ignored, the rate is not
        await trio.sleep(1.25)  # the interval of the change counts at the new rate, then
        assert proposed[2:] == [2000, 1000]  # ticks every 0.5 s, each worth 1 s
        leading[0] = False
        await trio.sleep(2.0)
        leading[0] = True
        await trio.sleep(1.0)  # deposed and back: measuring starts again, nothing doubled
        assert proposed[4:] == [1000]
        nursery.cancel_scope.cancel()


async def test_a_store_in_proposer_mode_stops_the_ticker(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[bytes] = []

    async def propose(command: bytes) -> object:
        calls.append(command)
        return b""

    with trio.fail_after(10):
        await run_clock_ticks(lambda: True, propose, lambda ms: None, NodeClock(), 1.0)
    assert calls == []
