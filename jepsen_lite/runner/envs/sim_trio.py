"""Trio on virtual time, deterministically, for the sim environment.

:class:`JumpingClock` is the virtual clock of a run; :func:`deterministic_trio` makes
Trio's scheduling order a function of a seed (see ``docs/jepsen-run.md``, Determinism).
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Iterator

import trio


class JumpingClock(trio.abc.Clock):
    """Virtual time with the effect of ``MockClock(autojump_threshold=0)`` in one
    scheduler pass instead of two: when no task is runnable, Trio asks the clock how long
    to sleep until the next deadline, and this clock jumps there at once and answers 0.
    (The stock autojump first polls with a zero timeout, then jumps, then needs one more
    pass to expire the timers; ``MockClock`` cannot be subclassed.) Time never moves by
    itself. Equivalent as long as nothing waits for real I/O or another thread, which is
    the case in the sim environment (``sync_in_thread=False``)."""

    def __init__(self) -> None:
        self._now = 0.0

    def start_clock(self) -> None:
        pass

    def current_time(self) -> float:
        return self._now

    def deadline_to_sleep_time(self, deadline: float) -> float:
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
