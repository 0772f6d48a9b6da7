"""One ticker for every node of the sim environment, on the clock's timers.

A node process's driver ticks itself from a task of its own (a Trio sleep per tick). In
the sim environment five such tasks at 100 Hz were most of an idle cluster's scheduler
passes; here each node's driver runs with ``DriverConfig(external_ticks=True)`` and
:class:`SharedTicker` calls ``Driver.tick`` from :class:`~.sim_trio.JumpingClock`
timers, with no task switch unless a tick gives its node something to do.

Contract (what the driver's own ticker does, per node):

- a node ticks every ``tick_s / rate`` of virtual time, where ``rate`` is its
  :class:`~consensus.runtime.clock.NodeClock`'s rate read at each tick, so a clock
  fault that makes it run fast or slow changes its pace from the next tick on;
- a node whose clock runs at rate 1 ticks on a grid shared by all (multiples of
  ``tick_s``), so that nodes tick at the same virtual instants (one timer pass for all);
  its first tick, and its first after a rate change back to 1, are at the next grid
  point (at most one ``tick_s`` away, as the driver's first tick);
- a paused node's driver keeps being ticked (its :class:`~.sim_invariants.WatchedCore`
  drops the ticks, as under the driver's own ticker); a node that stops (killed,
  failed) is removed and ticks again only from its next start.
"""

from __future__ import annotations

import math

from consensus.runtime.clock import NodeClock
from consensus.runtime.driver import Driver

from .sim_trio import JumpingClock, Timer


class _Ticking:
    __slots__ = ("clock", "deadline", "driver", "timer")

    def __init__(self, driver: Driver, clock: NodeClock) -> None:
        self.driver = driver
        self.clock = clock
        self.deadline = 0.0
        self.timer: Timer | None = None


class SharedTicker:
    """Ticks registered drivers (see the module docstring)."""

    def __init__(self, clock: JumpingClock, tick_s: float) -> None:
        if tick_s <= 0:
            raise ValueError(f"tick_s must be > 0, got {tick_s}")
        self._clock = clock
        self.tick_s = tick_s
        self.ticks = 0
        """Ticks delivered so far (all nodes)."""

    def _next_deadline(self, after: float, rate: float) -> float:
        if rate == 1.0:
            return (math.floor(after / self.tick_s + 1e-9) + 1) * self.tick_s
        return after + self.tick_s / rate

    def add(self, driver: Driver, clock: NodeClock) -> _Ticking:
        """Start ticking ``driver`` at the pace of ``clock``; the handle for :meth:`remove`."""
        ticking = _Ticking(driver, clock)
        self._schedule(ticking, self._clock.current_time())
        return ticking

    def remove(self, ticking: _Ticking) -> None:
        """Stop ticking (idempotent)."""
        if ticking.timer is not None:
            ticking.timer.cancel()
            ticking.timer = None

    def _schedule(self, ticking: _Ticking, after: float) -> None:
        ticking.deadline = self._next_deadline(after, ticking.clock.rate)
        ticking.timer = self._clock.call_at(ticking.deadline, self._tick, ticking)

    def _tick(self, ticking: _Ticking) -> None:
        self.ticks += 1
        self._schedule(ticking, ticking.deadline)
        ticking.driver.tick()
