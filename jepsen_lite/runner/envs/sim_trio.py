"""Trio on virtual time, deterministically, for the sim environment.

:class:`JumpingClock` is the virtual clock of a run, and also its cheapest timer: a heap
of callbacks fired when virtual time reaches them, without a Trio task or cancel scope
each (see the class). :func:`deterministic_trio` makes Trio's scheduling order a
function of a seed (see ``docs/jepsen-run.md``, Determinism).
"""

from __future__ import annotations

import contextlib
import heapq
import math
import random
from collections.abc import Callable, Iterator
from typing import Any, cast

import trio

JUMPS_PER_CALL_MAX = 10_000
"""How many timer instants one idle scheduler pass may run through while no task
becomes runnable, before it hands control back to Trio (keeps Ctrl-C and I/O checks
going even if only timers ran for a while)."""


class Timer(list[Any]):
    """A callback the clock will call at virtual time ``when`` (see :meth:`cancel`): a
    list ``[when, seq, fn, arg]``, so that the heap compares timers in C."""

    __slots__ = ()

    @property
    def when(self) -> float:
        return cast(float, self[0])

    def cancel(self) -> None:
        """Do not call it (no-op once it ran)."""
        self[2] = self[3] = None


class JumpingClock(trio.abc.Clock):
    """Virtual time with the effect of ``MockClock(autojump_threshold=0)`` in one
    scheduler pass instead of two: when no task is runnable, Trio asks the clock how long
    to sleep until the next deadline, and this clock jumps there at once and answers 0.
    (The stock autojump first polls with a zero timeout, then jumps, then needs one more
    pass to expire the timers; ``MockClock`` cannot be subclassed.) Time never moves by
    itself. Equivalent as long as nothing waits for real I/O or another thread, which is
    the case in the sim environment (``sync_in_thread=False``).

    **Timers.** :meth:`call_at` schedules a plain callback (no task, no cancel scope):
    at that same moment (Trio idle, time jumping) the clock jumps to the earliest of its
    own timers and Trio's next deadline, and calls every timer due by then, in
    (time, scheduling order). A callback runs outside any task: it may set events,
    reschedule tasks, cancel scopes and call :meth:`call_at`, but must not await or
    ask for the current task; it must not raise (if one does, the error is kept in
    :attr:`failure` and :attr:`on_failure` is called). While the callbacks of an instant
    make no task runnable, the clock goes straight on to the next instant within the
    same pass, up to Trio's next deadline (Trio's run queue is read for that; without
    it, or with no Trio deadline at all, as while a run shuts down, one instant per
    pass, so that nothing waiting outside virtual time is overtaken by a long chain).
    Timers due at once keep their scheduling order; a timer scheduled for the current
    instant by a callback runs at the next idle pass. :meth:`sleep_until` parks the
    calling task on such a timer: a cheap ``trio.sleep_until``.
    """

    def __init__(self) -> None:
        self._now = 0.0
        self._timers: list[Timer] = []
        self._seq = 0
        self._runq: Any = None
        self.failure: BaseException | None = None
        """The first exception a timer callback raised."""
        self.on_failure: Callable[[BaseException], None] = lambda exc: None
        self.jumps = 0
        """Virtual instants the clock fired timers at (for benchmarks)."""

    def start_clock(self) -> None:
        import trio._core._run as trio_run

        runner = getattr(getattr(trio_run, "GLOBAL_RUN_CONTEXT", None), "runner", None)
        self._runq = getattr(runner, "runq", None)

    def current_time(self) -> float:
        return self._now

    # -- timers -----------------------------------------------------------------------
    def call_at(self, when: float, fn: Callable[[Any], object], arg: Any = None) -> Timer:
        """Call ``fn(arg)`` when virtual time reaches ``when`` (see the class doc)."""
        self._seq += 1
        timer = Timer((when, self._seq, fn, arg))
        heapq.heappush(self._timers, timer)
        return timer

    async def sleep_until(self, when: float) -> None:
        """Like ``trio.sleep_until`` (a checkpoint; cancellable), on a timer."""
        if when <= self._now:
            await trio.lowlevel.checkpoint()
            return
        timer = self.call_at(when, trio.lowlevel.reschedule, trio.lowlevel.current_task())

        def abort(_: object) -> trio.lowlevel.Abort:
            timer.cancel()
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    async def sleep(self, seconds: float) -> None:
        """Like ``trio.sleep``, on a timer."""
        await self.sleep_until(self._now + seconds)

    def _fire_due(self) -> None:
        timers = self._timers
        now = self._now
        last = self._seq  # what callbacks schedule now waits for the next pass
        while timers and timers[0][0] <= now and timers[0][1] <= last:
            _, _, fn, arg = timer = heapq.heappop(timers)
            if fn is None:
                continue
            timer[2] = timer[3] = None
            try:
                fn(arg)
            except Exception as exc:
                if self.failure is None:
                    self.failure = exc
                    self.on_failure(exc)

    # -- Trio's side ------------------------------------------------------------------
    def deadline_to_sleep_time(self, deadline: float) -> float:
        timers = self._timers
        runq = self._runq
        for _ in range(JUMPS_PER_CALL_MAX):
            while timers and timers[0][2] is None:
                heapq.heappop(timers)
            if not timers or timers[0][0] > deadline:
                break
            if timers[0][0] > self._now:
                self._now = timers[0][0]
            self.jumps += 1
            self._fire_due()
            if runq is None or runq or deadline == math.inf:
                return 0.0
        else:
            return 0.0
        if deadline == math.inf:
            return 86400.0  # nothing will ever happen: a deadlock, as with MockClock
        if deadline > self._now:
            self._now = deadline
        return 0.0


@contextlib.contextmanager
def deterministic_trio(seed: int) -> Iterator[None]:
    """Seed Trio's scheduler randomness and make its batch order independent of timer
    ties (see the module docstring); restores both on exit."""
    import trio._core._run as trio_run

    rng: random.Random = trio_run._r
    state = rng.getstate()
    allowed = trio_run._ALLOW_DETERMINISTIC_SCHEDULING
    rng.seed(seed)
    setattr(trio_run, "_ALLOW_DETERMINISTIC_SCHEDULING", True)  # noqa: B010
    try:
        yield
    finally:
        setattr(trio_run, "_ALLOW_DETERMINISTIC_SCHEDULING", allowed)  # noqa: B010
        rng.setstate(state)
