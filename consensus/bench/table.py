"""The human summary of a :class:`~consensus.bench.report.BenchReport` (rich tables)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from .report import BenchReport, Cell

# Figures shown in the table, in this order, when a cell has them (the JSON has them all).
SHOWN: tuple[tuple[str, str], ...] = (
    ("ops_per_s", "ops/s"),
    ("p50_ms", "p50 ms"),
    ("p90_ms", "p90 ms"),
    ("p99_ms", "p99 ms"),
    ("p99.9_ms", "p99.9 ms"),
    ("messages_per_op", "msgs/op"),
    ("bytes_per_op", "bytes/op"),
    ("round_trips_per_op", "RTT/op"),
    ("fsyncs_per_op", "fsyncs/op"),
    ("cpu_us_per_op", "CPU us/op"),
    ("rss_mib", "RSS MiB"),
    ("unavailable_ms", "unavail ms"),
    ("appends_per_s", "appends/s"),  # storage
    ("syncs_per_s", "syncs/s"),
    ("mb_per_s", "MB/s"),
    ("recovery_mib_per_s", "recovery MiB/s"),
    ("check_s", "check s"),  # checker
    ("ratio", "ours/Porcupine"),
)


def _fmt(value: float, spread: list[float] | None, runs: int) -> str:
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    if spread is not None and runs > 1 and spread[0] != spread[1]:
        lo, hi = spread
        width = (hi - lo) / value * 100 if value else 0.0
        text += f" ±{width / 2:.0f}%"
    return text


def suite_table(suite: str, cells: list[Cell]) -> Table:
    shown = [(k, h) for k, h in SHOWN if any(k in c.figures for c in cells)]
    extra = sorted({k for c in cells for k in c.figures} - {k for k, _ in SHOWN})
    if not shown:  # a suite with figures of its own: show up to six of them
        shown = [(k, k) for k in extra[:6]]
    table = Table(title=f"suite {suite}", title_justify="left")
    table.add_column("cell")
    for _, header in shown:
        table.add_column(header, justify="right")
    for cell in cells:
        figures, spread = cell.figures, cell.spread
        row = [cell.name]
        for key, _ in shown:
            row.append(
                _fmt(figures[key], spread.get(key), len(cell.runs)) if key in figures else "-"
            )
        table.add_row(*row)
    return table


def print_report(report: BenchReport, console: Console | None = None) -> None:
    """Print one table per suite, what was skipped and why, and the load around the run."""
    # Piped into a file or a pager: wide enough that no row wraps (a terminal: its width).
    console = console or Console(width=None if sys.stdout.isatty() else 160)
    suites: dict[str, list[Cell]] = {}
    for cell in report.cells:
        suites.setdefault(cell.suite, []).append(cell)
    for suite, cells in suites.items():
        console.print(suite_table(suite, cells))
    for skipped in report.skipped:
        console.print(f"skipped {skipped['suite']}/{skipped['what']}: {skipped['why']}")
    console.print(
        f"load average before {report.load_before}, after {report.load_after}; "
        "figures are medians of the runs, ± half the min-max spread"
    )
