"""A self-contained HTML page explaining a check result, for a person to read.

No network, no scripts: inline CSS and SVG only. The page shows the verdict and summary,
per-key results and, when the history is not linearizable, the failing partition as a
timeline with one row per process (each operation a bar from invoke to completion, in
real-time order; open operations run to the right edge, dashed), the longest partial
linearization found numbered and shaded green, and the operation that cannot be
linearized in red; then the partial linearization as a table with the model state after
each step. Long histories show the window of operations around the failure.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from ..history.ops import History, Operation, Process, Status, Value, show
from ..models.base import Model, State
from .result import CheckResult, Counterexample, Verdict

WINDOW_OPS = 20
"""Operations shown on each side of the failing one (in call order)."""

_EVENT_PX = 120.0  # horizontal pixels per history event, at most
_MAX_WIDTH = 1300  # the timeline scrolls sideways beyond this
_CHAR_PX = 6.7

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
.verdict{display:inline-block;padding:3px 10px;border-radius:4px;color:#fff;font-weight:600}
.linearizable{background:#2e7d32}.not-linearizable{background:#c62828}.unknown{background:#ef6c00}
table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}code{background:#f5f5f5;padding:1px 4px}
.fail{background:#ffebee}.legend span{margin-right:16px}
.sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:4px;
border:1px solid #555}
svg text{font-size:11px;font-family:ui-monospace,monospace}
"""


def render_html(result: CheckResult, model: Model, history: History) -> str:
    """The page for ``result`` of checking ``history`` against ``model``."""
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>jepsen-lite: {_e(history.source)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(history.source)}</h1>",
        f"<p><span class='verdict {result.verdict.value}'>{result.verdict.value}</span> "
        f"model <code>{_e(result.model)}</code>, {result.operations} operations "
        f"({result.checked_operations} checked), {result.keys} keys, "
        f"checked in {result.time_s:.3f} s</p>",
    ]
    if result.verdict is Verdict.UNKNOWN:
        parts.append(
            "<p><b>Unknown is not success:</b> the checker ran out of budget before it could "
            "decide. Raise the time limit or split the history.</p>"
        )
    counterexample = result.counterexample
    if counterexample is not None:
        parts.append(_explain(counterexample, model))
        parts.append(_timeline(counterexample, history, model))
        parts.append(_linearization_table(counterexample, model))
    parts.append(_key_table(result))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(path: str | Path, result: CheckResult, model: Model, history: History) -> None:
    """Write the page to ``path`` (UTF-8)."""
    Path(path).write_text(render_html(result, model, history), encoding="utf-8")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _key_label(key: Value) -> str:
    if key is None:
        return "(the whole history)"
    if isinstance(key, tuple):  # a multi-register component
        return ", ".join(show(k) for k in key)
    return show(key)


def _where(op: Operation) -> str:
    return f"line {op.line}" if op.line else f"event {op.call}"


def _explain(cx: Counterexample, model: Model) -> str:
    op = cx.failing_op
    key = "" if cx.key is None else f" on key <code>{_e(_key_label(cx.key))}</code>"
    head = (
        f"<h2>Counterexample{key}</h2><p>Operation <b>{_e(model.describe_op(op))}</b> by "
        f"process {_e(show(op.process))} ({_e(_where(op))}) cannot be linearized"
    )
    if cx.note:
        return f"{head}: {_e(cx.note)}.</p>"
    return (
        f"{head}. The longest partial linearization found has {len(cx.linearization)} "
        f"operations and leaves the model in state <code>{_e(cx.state_text)}</code>; no remaining "
        f"operation can be placed next before this one must have taken effect.</p>"
    )


def _shown_ops(cx: Counterexample, history: History) -> list[Operation]:
    """The failing partition's operations around the failing one."""
    key = cx.failing_op.key
    ops = [op for op in history.operations if op.key == key and op.status is not Status.FAIL]
    position = next((n for n, op in enumerate(ops) if op.id == cx.failing_op.id), 0)
    low = max(0, position - WINDOW_OPS)
    return ops[low : position + WINDOW_OPS + 1]


def _timeline(cx: Counterexample, history: History, model: Model) -> str:
    ops = _shown_ops(cx, history)
    if not ops:
        return ""
    order = {op.id: n + 1 for n, op in enumerate(cx.linearization)}
    processes: list[Process] = sorted(
        {op.process for op in ops}, key=lambda p: (isinstance(p, str), str(p).zfill(12))
    )
    row = {p: n for n, p in enumerate(processes)}
    start = min(op.call for op in ops)
    end = max(max(op.call, op.ret if op.ret is not None else op.call) for op in ops) + 1
    left, row_h = 90, 24
    scale = max(1.0, min(_EVENT_PX, (_MAX_WIDTH - left) / max(1, end - start)))
    width = int(left + (end - start) * scale + 20)
    height = row_h * len(processes) + 30
    svg = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}'>"]
    for p, n in row.items():
        y = 20 + n * row_h
        svg.append(f"<text x='4' y='{y + 15}'>process {_e(show(p))}</text>")
        svg.append(f"<line x1='{left}' y1='{y + row_h - 2}' x2='{width}' y2='{y + row_h - 2}' "
                   "stroke='#eee'/>")  # fmt: skip
    for op in ops:
        x1 = left + (op.call - start) * scale
        x2 = left + ((op.ret if op.ret is not None else end) - start) * scale
        y = 20 + row[op.process] * row_h + 3
        fill, stroke = "#e0e0e0", "#888"
        if op.id in order:
            fill, stroke = "#a5d6a7", "#2e7d32"
        if op.id == cx.failing_op.id:
            fill, stroke = "#ef9a9a", "#c62828"
        dash = " stroke-dasharray='4 3'" if op.ret is None else ""
        bar = max(2.0, x2 - x1)
        label = _fit(model.describe_op(op), order.get(op.id), bar)
        tip = (
            f"{model.describe_op(op)} ({op.status.value}, process {show(op.process)}, {_where(op)})"
        )
        svg.append(
            f"<g><title>{_e(tip)}</title><rect x='{x1:.1f}' y='{y}' width='{bar:.1f}' "
            f"height='{row_h - 8}' rx='3' fill='{fill}' stroke='{stroke}'{dash}/>"
            f"<text x='{x1 + 3:.1f}' y='{y + 12}'>{_e(label)}</text></g>"
        )
    svg.append("</svg>")
    legend = (
        "<p class='legend'><span><i class='sw' style='background:#a5d6a7'></i>in the partial "
        "linearization (#n: its position)</span><span><i class='sw' style='background:#ef9a9a'>"
        "</i>cannot be linearized</span><span><i class='sw' style='background:#e0e0e0'></i>"
        "other</span><span>dashed: open (info or never completed)</span>"
        "<span>hover a bar for details</span></p>"
    )
    title = f"<h2>Timeline ({len(ops)} operations around the failure, real-time order)</h2>"
    return title + legend + "<div style='overflow-x:auto'>" + "".join(svg) + "</div>"


def _fit(text: str, position: int | None, width: float) -> str:
    """The longest label that fits a bar ``width`` pixels wide (11px monospace)."""
    prefix = f"#{position} " if position is not None else ""
    for label in (prefix + text, prefix.strip()):
        if len(label) * _CHAR_PX + 6 <= width:
            return label
    return ""


def _linearization_table(cx: Counterexample, model: Model) -> str:
    states: list[State] = []
    state = model.init(cx.key)
    for op in cx.linearization:
        _, state = model.step(state, op)
        states.append(state)
    rows = list(zip(range(1, len(states) + 1), cx.linearization, states, strict=True))
    shown: Sequence[tuple[int, Operation, State]] = rows[-50:]
    body = "".join(
        f"<tr><td>{n}</td><td>{_e(show(op.process))}</td><td>{_e(model.describe_op(op))}</td>"
        f"<td>{_e(_where(op))}</td><td><code>{_e(model.describe_state(s))}</code></td></tr>"
        for n, op, s in shown
    )
    op = cx.failing_op
    body += (
        f"<tr class='fail'><td>✗</td><td>{_e(show(op.process))}</td>"
        f"<td>{_e(model.describe_op(op))}</td><td>{_e(_where(op))}</td>"
        f"<td>cannot follow state <code>{_e(cx.state_text)}</code></td></tr>"
    )
    note = f" (last {len(shown)} of {len(rows)})" if len(shown) < len(rows) else ""
    return (
        f"<h2>Partial linearization{note}</h2><table><tr><th>#</th><th>process</th>"
        f"<th>operation</th><th>where</th><th>state after</th></tr>{body}</table>"
    )


def _key_table(result: CheckResult) -> str:
    rows = sorted(
        result.results, key=lambda r: (r.verdict is Verdict.LINEARIZABLE, _key_label(r.key))
    )
    body = "".join(
        f"<tr><td>{_e(_key_label(r.key))}</td><td>{r.verdict.value}</td><td>{r.operations}</td>"
        f"<td>{r.explored}</td><td>{r.time_s:.3f}</td><td>{_e(r.reason or '')}</td></tr>"
        for r in rows[:500]
    )
    more = f"<p>… and {len(rows) - 500} more keys</p>" if len(rows) > 500 else ""
    return (
        "<h2>Per key</h2><table><tr><th>key</th><th>verdict</th><th>operations</th>"
        f"<th>configurations</th><th>seconds</th><th>note</th></tr>{body}</table>{more}"
    )
