"""``--plot FILE.png``: throughput and latency percentiles of every cell that has them."""

from __future__ import annotations

from pathlib import Path

from .report import BenchReport


def write_plot(report: BenchReport, path: Path) -> None:
    """Two panels: ops/s per cell (bar, min-max whiskers) and p50/p99/p99.9 per cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = [c for c in report.cells if "ops_per_s" in c.figures]
    if not cells:
        raise ValueError("no cell of this run has a throughput figure (ops_per_s) to plot")
    fig, (ax_t, ax_l) = plt.subplots(
        2, 1, figsize=(max(6.0, 0.55 * len(cells) + 2), 7), constrained_layout=True
    )
    names = [f"{c.suite}: {c.name}" for c in cells]
    xs = list(range(len(cells)))
    tput = [c.figures["ops_per_s"] for c in cells]
    lo = [t - c.spread["ops_per_s"][0] for t, c in zip(tput, cells, strict=True)]
    hi = [c.spread["ops_per_s"][1] - t for t, c in zip(tput, cells, strict=True)]
    ax_t.bar(xs, tput, yerr=[lo, hi], capsize=3, color="#4c72b0")
    ax_t.set_yscale("log")  # embedded runs are 100x a sequential client's rate
    ax_t.set_ylabel("operations / s (log)")
    ax_t.set_xticks(xs, names, rotation=40, ha="right", fontsize=7)
    before = report.load_before[0] if report.load_before else "?"
    after = report.load_after[0] if report.load_after else "?"
    ax_t.set_title(f"throughput, median of runs (1-min load {before} -> {after})", fontsize=10)
    for key, marker in (("p50_ms", "o"), ("p99_ms", "s"), ("p99.9_ms", "^")):
        ys = [c.figures.get(key, float("nan")) for c in cells]
        ax_l.plot(xs, ys, marker=marker, linestyle="none", label=key.replace("_ms", ""))
    ax_l.set_yscale("log")
    ax_l.set_ylabel("latency, ms (log)")
    ax_l.set_xticks(xs, names, rotation=40, ha="right", fontsize=7)
    ax_l.legend()
    fig.savefig(path, dpi=110)
    plt.close(fig)
