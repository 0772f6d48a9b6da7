"""The sim environment's virtual clock and its timers (``envs/sim_trio.py``)."""

from __future__ import annotations

import math

import pytest
import trio

from jepsen_lite.runner.envs.sim_trio import JumpingClock


def run_on(clock: JumpingClock, body: object) -> None:
    trio.run(body, clock=clock)  # type: ignore[arg-type]


def test_timers_fire_in_time_order_then_scheduling_order_and_jump_the_clock() -> None:
    clock = JumpingClock()
    fired: list[tuple[str, float]] = []

    def note(name: str) -> None:
        fired.append((name, clock.current_time()))

    async def body() -> None:
        clock.call_at(0.3, note, "c")
        clock.call_at(0.1, note, "a")
        clock.call_at(0.1, note, "b")
        cancelled = clock.call_at(0.2, note, "never")
        cancelled.cancel()
        await trio.sleep(1.0)
        fired.append(("slept", trio.current_time()))

    run_on(clock, body)
    assert fired == [("a", 0.1), ("b", 0.1), ("c", 0.3), ("slept", 1.0)]
    assert clock.jumps == 2  # two instants with timers (0.1, 0.3); 0.2 was cancelled


def test_a_timer_and_a_trio_deadline_at_one_instant_fire_together() -> None:
    clock = JumpingClock()
    seen: list[str] = []

    async def body() -> None:
        clock.call_at(0.5, lambda _: seen.append(f"timer {clock.current_time()}"))
        await trio.sleep_until(0.5)
        seen.append(f"task {trio.current_time()}")

    run_on(clock, body)
    assert seen == ["timer 0.5", "task 0.5"]


def test_clock_sleep_wakes_on_time_and_is_cancellable() -> None:
    clock = JumpingClock()
    out: dict[str, float | bool] = {}

    async def body() -> None:
        await clock.sleep(0.25)
        out["woke"] = trio.current_time()
        with trio.move_on_after(0.1) as scope:
            await clock.sleep_until(5.0)
        out["cancelled"] = scope.cancelled_caught
        out["after"] = trio.current_time()
        await clock.sleep_until(0.0)  # in the past: a checkpoint
        await trio.sleep(10)  # the cancelled timer is gone and does not fire
        out["end"] = trio.current_time()

    run_on(clock, body)
    assert out == {"woke": 0.25, "cancelled": True, "after": pytest.approx(0.35), "end": 10.35}


def test_timers_reschedule_themselves_without_a_task_switch() -> None:
    clock = JumpingClock()
    count = [0]

    def again(_: object) -> None:
        count[0] += 1
        clock.call_at(clock.current_time() + 0.01, again)

    async def body() -> None:
        clock.call_at(0.01, again)
        await trio.sleep(1.0)

    steps = [0]

    class Steps(trio.abc.Instrument):
        def before_task_step(self, task: trio.lowlevel.Task) -> None:
            steps[0] += 1

    trio.run(body, clock=clock, instruments=[Steps()])
    assert 99 <= count[0] <= 101
    assert steps[0] < 20  # the timer chain woke no task (100 ticks)


def test_a_raising_callback_is_kept_and_reported() -> None:
    clock = JumpingClock()
    reported: list[BaseException] = []
    clock.on_failure = reported.append

    def boom(_: object) -> None:
        raise RuntimeError("bad timer")

    async def body() -> None:
        clock.call_at(0.1, boom)
        clock.call_at(0.2, boom)
        await trio.sleep(1)

    run_on(clock, body)
    assert isinstance(clock.failure, RuntimeError) and reported == [clock.failure]


def test_nothing_left_to_wait_for_is_a_long_sleep_as_with_mockclock() -> None:
    clock = JumpingClock()
    assert clock.deadline_to_sleep_time(math.inf) == 86400.0
    assert clock.deadline_to_sleep_time(2.0) == 0.0 and clock.current_time() == 2.0
