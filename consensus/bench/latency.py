"""Latency recording with an HDR histogram (``hdrhistogram``, imported as ``hdrh``).

Values are recorded in microseconds, 1 us to 60 s, 3 significant digits: a percentile is
exact to 0.1 % of its value, whatever the number of samples, in constant memory.
"""

from __future__ import annotations

from typing import Final

from hdrh.histogram import HdrHistogram

LOWEST_US: Final = 1
HIGHEST_US: Final = 60_000_000
DIGITS: Final = 3
PERCENTILES: Final = (50.0, 90.0, 99.0, 99.9)


class Latency:
    """A histogram of latencies; :meth:`record` takes seconds, figures are milliseconds."""

    __slots__ = ("_hist",)

    def __init__(self) -> None:
        self._hist = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)

    def record(self, seconds: float) -> None:
        """Record one latency; values beyond 60 s are clamped to 60 s (still counted)."""
        us = min(HIGHEST_US, max(LOWEST_US, round(seconds * 1e6)))
        self._hist.record_value(us)

    def merge(self, other: Latency) -> None:
        self._hist.add(other._hist)

    @property
    def count(self) -> int:
        return int(self._hist.get_total_count())

    def percentile_ms(self, q: float) -> float:
        """The latency (ms) at percentile ``q`` (0-100); 0.0 with no samples."""
        if self.count == 0:
            return 0.0
        return float(self._hist.get_value_at_percentile(q)) / 1e3

    def figures(self) -> dict[str, float]:
        """``p50_ms``, ``p90_ms``, ``p99_ms``, ``p99.9_ms``, ``max_ms`` and ``mean_ms``."""
        out = {f"p{q:g}_ms": self.percentile_ms(q) for q in PERCENTILES}
        out["max_ms"] = float(self._hist.get_max_value()) / 1e3 if self.count else 0.0
        out["mean_ms"] = float(self._hist.get_mean_value()) / 1e3 if self.count else 0.0
        return out
