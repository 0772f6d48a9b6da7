"""The search strategies of ``jepsen-lite shrink``, as pure functions over a predicate.

``fails(candidate)`` says whether a candidate still fails the way the original did (one
simulated run each, in :mod:`.shrinker`); it may raise :class:`BudgetSpent` to end the
search, which these functions let through (the caller keeps the smallest candidate that
failed so far). Nothing here is random: the same answers give the same candidates in the
same order.

- :func:`ddmin`: delta debugging (Zeller and Hildebrandt, "Simplifying and Isolating
  Failure-Inducing Input", 2002) over a sequence: the result fails and removing any one
  element of it makes it pass (1-minimal), as far as the predicate is monotone.
- :func:`smallest_failing`: binary search for the smallest integer that fails, between a
  value taken to pass and one known to fail (the time limit, clients, rate, in units).
- :func:`clip`: a fault schedule cut to a shorter main phase; :func:`shift`: moved
  earlier.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

from ..runner.api import FaultWindow

T = TypeVar("T")


class BudgetSpent(Exception):
    """The search budget (runs or seconds) is used up, or the user interrupted it."""


def _chunks(items: Sequence[T], n: int) -> list[tuple[T, ...]]:
    """``items`` cut into ``n`` contiguous chunks whose sizes differ by at most one."""
    size, extra = divmod(len(items), n)
    chunks: list[tuple[T, ...]] = []
    start = 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        chunks.append(tuple(items[start:end]))
        start = end
    return [c for c in chunks if c]


def ddmin(items: Sequence[T], fails: Callable[[tuple[T, ...]], bool]) -> tuple[T, ...]:
    """A failing subsequence of ``items`` (order kept) that is 1-minimal for ``fails``.

    ``items`` itself is taken to fail (it is not tested). The empty sequence is tried
    first; then, at granularity ``n`` (starting at 2), each chunk alone, then each
    chunk's complement (with two chunks, each is the other's complement); a failing one
    becomes the new sequence (granularity back to 2 for a chunk, ``n - 1`` for a
    complement), else the granularity doubles until it is the sequence's length.
    ``BudgetSpent`` from ``fails`` propagates."""
    current = tuple(items)
    if not current:
        return current
    if fails(()):
        return ()
    n = 2
    while len(current) >= 2:
        chunks = _chunks(current, min(n, len(current)))
        reduced = False
        for chunk in chunks:
            if fails(chunk):
                current, n, reduced = chunk, 2, True
                break
        if not reduced and len(chunks) > 2:
            for i in range(len(chunks)):
                rest = tuple(x for j, c in enumerate(chunks) if j != i for x in c)
                if fails(rest):
                    current, n, reduced = rest, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= len(current):
                break
            n = min(2 * n, len(current))
    return current


def smallest_failing(passes: int, fails_at: int, fails: Callable[[int], bool]) -> int:
    """The smallest ``k`` in ``(passes, fails_at]`` found failing by binary search, with
    ``fails_at`` taken to fail and ``passes`` taken to pass (neither is tested);
    ``fails_at`` if nothing smaller failed. Exact when failing is monotone in ``k``; else
    some failing ``k`` whose predecessor passed."""
    lo, hi = passes, fails_at
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fails(mid):
            hi = mid
        else:
            lo = mid
    return hi


def quantum(value: float) -> float:
    """The step for bisecting a time limit or rate of ``value``: about 1/64 of it, a
    multiple of 0.1, at least 0.1 (so a bisection takes about six runs)."""
    return max(0.1, round(value / 64, 1))


def units(value: float, step: float) -> int:
    """How many ``step`` s it takes to reach ``value`` (rounded up)."""
    return max(1, math.ceil(round(value / step, 9)))


def at(k: int, step: float, cap: float) -> float:
    """The value of ``k`` units of ``step``, rounded to 0.001 and at most ``cap``."""
    return min(cap, round(k * step, 3))


def clip(windows: Sequence[FaultWindow], time_limit_s: float) -> tuple[FaultWindow, ...]:
    """The windows of a schedule that start before ``time_limit_s``, each ending by it."""
    return tuple(
        FaultWindow(w.start_s, min(w.end_s, time_limit_s), w.fault)
        for w in windows
        if w.start_s < time_limit_s
    )


def shift(windows: Sequence[FaultWindow], by_s: float) -> tuple[FaultWindow, ...]:
    """The windows moved ``by_s`` seconds earlier (no window may start before 0)."""
    if any(w.start_s < by_s for w in windows):
        raise ValueError(f"cannot move a schedule starting before {by_s:g} s earlier by it")
    return tuple(
        FaultWindow(round(w.start_s - by_s, 3), round(w.end_s - by_s, 3), w.fault) for w in windows
    )
