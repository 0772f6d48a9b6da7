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

import time
from collections.abc import Callable


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
