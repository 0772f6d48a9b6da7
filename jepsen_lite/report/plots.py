"""The report's two plots, as PNG files: latency over time and throughput over time.

Both share one layout: on top a *fault lane* per fault kind that ran (a bar per fault
window, the kind named on the left), below it the plot, with every fault window shaded
in its kind's colour across the plot too, and the phase boundaries after the main phase
(heal, recovery, final) as dashed lines. Time is seconds since the test started (virtual
seconds in ``sim``).

- ``latency.png``: one point per completed operation at its invocation time, its latency
  (completion minus invocation) on a logarithmic axis in milliseconds; colour by
  operation (``f``), marker by outcome: ``ok`` a dot, ``fail`` a cross, ``info`` a hollow
  triangle. Pending operations (never completed) have no latency; the legend counts them.
- ``throughput.png``: completions per second over time, one line per outcome (``ok``,
  ``fail``, ``info``), in bins of at least one second (wider for long runs, so that a plot
  has at most :data:`MAX_BINS` bins).

matplotlib runs on its Agg backend through :class:`matplotlib.figure.Figure` (no pyplot,
no global state, no display needed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..history.ops import History, Operation, Status

KIND_COLOURS = {
    "partition": "#d62728",
    "kill": "#7f7f7f",
    "pause": "#9467bd",
    "clock": "#ff7f0e",
    "packet": "#17becf",
    "disk": "#8c564b",
}
"""The shading colour of each fault kind (any other kind: :data:`OTHER_KIND`)."""
OTHER_KIND = "#bcbd22"
F_COLOURS = ("#1f77b4", "#2ca02c", "#e377c2", "#8c564b", "#bcbd22", "#17becf", "#ff7f0e")
"""Colours of the operation names, in sorted order of ``f``."""
STATUS_COLOURS = {"ok": "#2ca02c", "fail": "#d62728", "info": "#9467bd"}
MAX_BINS = 400
WIDTH_IN, HEIGHT_IN, DPI = 12.0, 6.0, 100


@attrs.frozen(slots=True)
class FaultSpan:
    """One fault window to shade: ``kind``, ``label`` (its shape and nodes), seconds."""

    kind: str
    label: str
    start_s: float
    end_s: float


def fault_spans(faults: Sequence[Mapping[str, Any]], end_s: float) -> list[FaultSpan]:
    """The ``results.json`` ``faults`` as spans (a fault never ended lasts to ``end_s``)."""
    spans = []
    for fault in faults:
        start = float(fault["start_s"])
        end = float(fault["end_s"]) if fault.get("end_s") is not None else end_s
        nodes = ",".join(str(n) for n in fault.get("nodes", ()))
        label = f"{fault.get('shape', '')} {nodes}".strip()
        spans.append(FaultSpan(str(fault["kind"]), label, start, max(end, start)))
    return spans


def _seconds(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e9


def history_end_s(history: History, phases: Sequence[Mapping[str, Any]]) -> float:
    """The last time anything happened: the last event time or the end of the phases."""
    times = [float(p["end_s"]) for p in phases]
    for op in history.operations:
        for ns in (op.call_time, op.return_time):
            if ns is not None:
                times.append(ns / 1e9)
    return max(times, default=1.0) or 1.0


def _figure(kinds: Sequence[str]) -> tuple[Figure, Axes, Axes | None]:
    # fixed margins (room for the legend on the right) rather than matplotlib's
    # constrained layout, which took about a third of the drawing time
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(figure)
    margins = {"left": 0.075, "right": 0.83, "top": 0.94, "bottom": 0.085}
    if not kinds:
        grid = figure.add_gridspec(1, 1, **margins)
        return figure, figure.add_subplot(grid[0]), None
    lanes_share = min(0.35, 0.07 * len(kinds) + 0.04)
    grid = figure.add_gridspec(
        2, 1, height_ratios=[lanes_share, 1 - lanes_share], hspace=0.06, **margins
    )
    lanes = figure.add_subplot(grid[0])
    main = figure.add_subplot(grid[1], sharex=lanes)
    return figure, main, lanes


def _colour(kind: str) -> str:
    return KIND_COLOURS.get(kind, OTHER_KIND)


def _decorate(
    main: Axes,
    lanes: Axes | None,
    spans: Sequence[FaultSpan],
    kinds: Sequence[str],
    phases: Sequence[Mapping[str, Any]],
    end_s: float,
) -> None:
    """Shade the fault windows, draw the lanes and the phase boundaries, set the x axis."""
    # lighter when several kinds overlap: the lanes above tell them apart
    alpha = 0.14 if len(kinds) <= 2 else 0.08
    for span in spans:
        main.axvspan(span.start_s, span.end_s, color=_colour(span.kind), alpha=alpha, lw=0)
    boundaries = phase_boundaries(phases, end_s)
    for at, name in boundaries:
        main.axvline(at, color="#444444", lw=0.8, ls="--")
        main.text(
            at,
            0.99,
            f"{name} ",
            transform=main.get_xaxis_transform(),
            rotation=90,
            va="top",
            ha="right",
            fontsize=8,
            color="#333333",
            zorder=6,
            bbox={"facecolor": "white", "alpha": 0.7, "lw": 0, "pad": 1},
        )
    main.set_xlim(0, end_s * 1.01)
    main.set_xlabel("time since the test started (s)")
    main.grid(True, which="major", alpha=0.3)
    if lanes is None:
        return
    row = {kind: n for n, kind in enumerate(kinds)}
    for span in spans:
        y = len(kinds) - 1 - row[span.kind]
        lanes.broken_barh(
            [(span.start_s, max(span.end_s - span.start_s, end_s / 1000))],
            (y + 0.15, 0.7),
            facecolors=_colour(span.kind),
            alpha=0.8,
        )
    lanes.set_yticks([len(kinds) - 0.5 - row[k] for k in kinds], list(kinds), fontsize=9)
    lanes.tick_params(axis="y", length=0)
    lanes.set_ylim(0, len(kinds))
    lanes.tick_params(axis="x", labelbottom=False, length=0)
    lanes.set_title("faults", loc="left", fontsize=9, color="#444444")
    for at, _name in boundaries:
        lanes.axvline(at, color="#444444", lw=0.8, ls="--")
    for side in ("top", "right"):
        lanes.spines[side].set_visible(False)


def phase_boundaries(phases: Sequence[Mapping[str, Any]], end_s: float) -> list[tuple[float, str]]:
    """Where each phase after ``main`` starts, in time order; phases that start within
    1.5% of ``end_s`` of the previous boundary share its line and label (``heal +
    recovery``), so that labels never overlap."""
    starts = sorted((float(p["start_s"]), str(p["name"])) for p in phases if p["name"] != "main")
    merged: list[tuple[float, list[str]]] = []
    for at, name in starts:
        if merged and at - merged[-1][0] < 0.015 * end_s:
            merged[-1][1].append(name)
        else:
            merged.append((at, [name]))
    return [(at, " + ".join(names)) for at, names in merged]


def _kinds(spans: Sequence[FaultSpan]) -> list[str]:
    order = list(KIND_COLOURS)
    found = {s.kind for s in spans}
    return sorted(found, key=lambda k: (order.index(k) if k in order else len(order), k))


def _fault_legend(spans: Sequence[FaultSpan]) -> list[Patch]:
    return [Patch(color=_colour(k), alpha=0.35, label=f"{k} fault") for k in _kinds(spans)]


def latency_plot(
    history: History,
    faults: Sequence[Mapping[str, Any]],
    phases: Sequence[Mapping[str, Any]],
    path: Path,
    title: str,
    marked: Sequence[Operation] = (),
) -> None:
    """Write ``latency.png`` (see the module doc) to ``path``; the ``marked`` operations
    (the anomalies the checkers name) are ringed in black."""
    end_s = history_end_s(history, phases)
    spans = fault_spans(faults, end_s)
    kinds = _kinds(spans)
    figure, main, lanes = _figure(kinds)
    fs = sorted({op.f for op in history.operations})
    colour = {f: F_COLOURS[n % len(F_COLOURS)] for n, f in enumerate(fs)}
    pending = 0
    points: dict[tuple[str, Status], tuple[list[float], list[float]]] = {}
    for op in history.operations:
        call, ret = _seconds(op.call_time), _seconds(op.return_time)
        if call is None or ret is None:
            pending += 1
            continue
        xs, ys = points.setdefault((op.f, op.status), ([], []))
        xs.append(call)
        ys.append(max((ret - call) * 1000.0, 1e-3))
    count = len(history.operations)
    dot = 4 if count > 3000 else 9 if count > 300 else 20  # small runs: dots that show
    for (f, status), (xs, ys) in sorted(points.items(), key=lambda i: (i[0][0], i[0][1].value)):
        if status is Status.OK:
            main.scatter(
                xs,
                ys,
                s=dot,
                color=colour[f],
                alpha=0.55,
                lw=0,
                marker="o",
                rasterized=True,
                zorder=2,
            )
        elif status is Status.FAIL:
            main.scatter(xs, ys, s=22, color=colour[f], marker="x", lw=1.0, zorder=3)
        else:
            main.scatter(
                xs, ys, s=30, facecolors="none", edgecolors=colour[f], marker="^", lw=1.0, zorder=4
            )
    rings = [
        (op.call_time / 1e9, max((op.return_time - op.call_time) / 1e6, 1e-3))
        for op in marked
        if op.call_time is not None and op.return_time is not None
    ]
    if rings:
        main.scatter(
            [x for x, _ in rings],
            [y for _, y in rings],
            s=140,
            facecolors="none",
            edgecolors="black",
            lw=1.6,
            zorder=5,
        )
    main.set_yscale("log")
    main.set_ylabel("latency (ms, log scale)")
    _decorate(main, lanes, spans, kinds, phases, end_s)
    handles: list[Any] = [Patch(color=colour[f], label=f) for f in fs]
    handles += [
        Line2D([], [], ls="", marker="o", color="#555555", label="ok"),
        Line2D([], [], ls="", marker="x", color="#555555", label="fail"),
        Line2D([], [], ls="", marker="^", markerfacecolor="none", color="#555555", label="info"),
    ]
    handles += _fault_legend(spans)
    if rings:
        handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                markersize=10,
                markerfacecolor="none",
                markeredgecolor="black",
                label="anomaly (see the report)",
            )
        )
    if pending:
        handles.append(Line2D([], [], ls="", label=f"{pending} pending (no latency)"))
    if not points:
        main.text(
            0.5,
            0.5,
            "no completed operation",
            transform=main.transAxes,
            ha="center",
            va="center",
            color="#888888",
        )
    main.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False
    )
    (lanes or main).set_title(f"latency: {title}", loc="center", fontsize=11)
    figure.savefig(path, format="png")


def bin_width(end_s: float) -> float:
    """The throughput bin: 1 s, or wider so that ``end_s`` needs at most MAX_BINS."""
    return max(1.0, math.ceil(end_s / MAX_BINS))


def throughput_plot(
    history: History,
    faults: Sequence[Mapping[str, Any]],
    phases: Sequence[Mapping[str, Any]],
    path: Path,
    title: str,
) -> None:
    """Write ``throughput.png`` (see the module doc) to ``path``."""
    end_s = history_end_s(history, phases)
    spans = fault_spans(faults, end_s)
    kinds = _kinds(spans)
    figure, main, lanes = _figure(kinds)
    width = bin_width(end_s)
    # equal bins, except that the last one covers what is left (half a bin to one and a
    # half): a sliver of a bin at the end would show a few completions as a spike or a dip
    bins = max(1, round(end_s / width))
    counts = {status: [0] * bins for status in ("ok", "fail", "info")}
    for op in history.operations:
        ret = _seconds(op.return_time)
        if ret is None or op.status is Status.PENDING:
            continue
        counts[op.status.value][min(int(ret // width), bins - 1)] += 1
    edges = [n * width for n in range(bins)] + [max(end_s, (bins - 0.5) * width)]
    for status, row in counts.items():
        if any(row) or status == "ok":
            rates = [c / (edges[n + 1] - edges[n]) for n, c in enumerate(row)]
            main.stairs(
                rates,
                edges,
                color=STATUS_COLOURS[status],
                lw=1.4,
                label=status,
                baseline=None,
                zorder=3,
            )
    main.set_ylim(bottom=0)
    main.set_ylabel(f"completions per second ({width:g} s bins)")
    _decorate(main, lanes, spans, kinds, phases, end_s)
    handles, _labels = main.get_legend_handles_labels()
    main.legend(
        handles=[*handles, *_fault_legend(spans)],
        loc="upper left",
        bbox_to_anchor=(1.005, 1.0),
        fontsize=8,
        frameon=False,
    )
    (lanes or main).set_title(f"throughput: {title}", loc="center", fontsize=11)
    figure.savefig(path, format="png")
