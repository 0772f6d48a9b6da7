"""A node's clock source: the time a node believes it is, which fault injection can skew.

Everything in a node that reads "what time is it" for a protocol purpose (the tick pace of
the driver, the time a leader stamps on commands, lease deadlines) goes through one
:class:`NodeClock`, so that a clock fault (a clock running fast or slow, or jumping) is one
call: :meth:`NodeClock.skew`. The base clock is injected: ``time.time`` in a node process,
``trio.current_time`` plus a fixed epoch under the simulator's ``MockClock``.

Contract: ``now_s()`` is ``base() * 1`` until the first skew; after ``skew(offset_ms, rate)``
it is ``anchor + (base() - anchor) * rate + offset_ms / 1000`` where ``anchor`` is the base
time of that call, so a rate change never makes the clock jump by itself. It is not
monotonic under a negative offset (that is the point of a ``jump`` fault); callers that need
monotonic intervals use Trio's clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import trio

log = logging.getLogger("consensus.runtime.clock")


class NodeClock:
    """The node's skewable wall clock (see the module doc)."""

    __slots__ = ("_anchor", "_base", "_base_at_anchor", "offset_ms", "rate")

    def __init__(self, base: Callable[[], float] = time.time) -> None:
        self._base = base
        self.offset_ms = 0.0
        self.rate = 1.0
        self._anchor = 0.0  # the clock's reading at the last skew (before its offset)
        self._base_at_anchor = 0.0

    def now_s(self) -> float:
        """Seconds since the epoch, as this node believes."""
        base = self._base()
        if self.rate == 1.0 and self.offset_ms == 0.0 and self._anchor == 0.0:
            return base
        return self._anchor + (base - self._base_at_anchor) * self.rate + self.offset_ms / 1000

    def now_ms(self) -> int:
        """:meth:`now_s` in whole milliseconds."""
        return int(self.now_s() * 1000)

    def skew(self, offset_ms: float, rate: float = 1.0) -> None:
        """From now on, read ``offset_ms`` ahead of the base clock's pace (negative:
        behind) and run at ``rate`` times its speed. Raises ``ValueError`` for a rate
        that is not positive."""
        if not rate > 0:
            raise ValueError(f"clock rate must be > 0, got {rate}")
        unskewed = self.now_s() - self.offset_ms / 1000
        self._base_at_anchor = self._base()
        self._anchor = unskewed
        self.offset_ms = float(offset_ms)
        self.rate = float(rate)

    def reset(self) -> None:
        """Back to the base clock exactly."""
        self.offset_ms, self.rate, self._anchor, self._base_at_anchor = 0.0, 1.0, 0.0, 0.0


CLOCK_TICK_S_DEFAULT = 0.25
"""How often a leading node proposes its clock tick (seconds of its own clock)."""


async def run_clock_ticks(
    is_leader: Callable[[], bool],
    propose: Callable[[bytes], Awaitable[object]],
    make_command: Callable[[int], bytes | None],
    clock: NodeClock,
    interval_s: float = CLOCK_TICK_S_DEFAULT,
) -> None:
    """Write the leader's clock into the log, forever: while ``is_leader()``, every
    ``interval_s`` propose ``make_command(elapsed_ms)`` (a state machine's
    ``clock_command``; nothing when it returns None).

    ``elapsed_ms`` is Trio's monotonic time since the previous proposal, scaled by the
    node clock's ``rate``: a clock fault that makes the node's clock run fast or slow
    moves the store's time at that pace (from the interval in which the rate changed), but
    a wall-clock jump (``offset_ms``) does not
    (monotonic clocks do not jump). The first tick after this node starts leading is
    measured from the moment it noticed, so time is lost across a leader change (never
    counted twice); a proposal that fails (not leader any more, back-pressure, a timeout)
    is not retried. Never raises except on cancellation."""
    last: float | None = None
    while True:
        await trio.sleep(interval_s / clock.rate)
        if not is_leader():
            last = None
            continue
        now = trio.current_time()
        if last is None:
            last = now
            continue
        elapsed_ms = int((now - last) * 1000 * clock.rate)
        last = now
        command = make_command(elapsed_ms)
        if command is None:
            return
        try:
            await propose(command)
        except Exception as exc:  # best effort: the next tick carries the time on
            log.debug("clock tick not committed: %s", exc)
