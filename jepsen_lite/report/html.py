"""``report.html``: one self-contained page per run folder, with ``latency.png`` and
``throughput.png`` beside it and embedded in it.

:func:`write_report` reads a run folder (:mod:`jepsen_lite.report.load`), draws the two
plots (:mod:`jepsen_lite.report.plots`) into the folder, and renders
``templates/report.html.j2`` with jinja2 into ``RUN_DIR/report.html``. The page needs
nothing else: no scripts, no styles or images from elsewhere (the PNGs are ``data:``
URIs). Everything that comes from the run (history values, keys, process names, checker
summaries and details, fault parameters) goes through jinja2's autoescaping.

The page holds, in order: the test (name, seed, protocol, environment, workload, faults,
verdict); a table of every checker's verdict, what it checks and its summary; the fault
timeline (a table, the phases, and the two plots with the fault windows shaded); for
each invalid checker the counterexample it recorded and a window of the history around
each anomaly it names (:mod:`jepsen_lite.report.anomalies`), the anomaly's operations
highlighted (and ringed on the latency plot); every checker's JSON details, folded (open
for an unknown one: they say why); and the replay command.
"""

from __future__ import annotations

import base64
import json
import shlex
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import jinja2

from ..history.ops import Operation, Value, show
from .anomalies import MAX_ANOMALIES, SET_ANOMALY_KEYS, Window, references, window
from .load import RunData, load_run

REPORT_FILE = "report.html"
LATENCY_FILE = "latency.png"
THROUGHPUT_FILE = "throughput.png"
DETAILS_MAX_CHARS = 20_000
"""A checker's details JSON is cut after this many characters on the page."""
VALUE_MAX_CHARS = 200
"""A value in an operations table is cut after this many characters."""

CHECKER_DOCS = {
    "linearizable": "every key's operations can be ordered, each within its own call and "
    "return, so that the model (a register) gives every result seen",
    "lost-writes": "the final reads after heal see a value no acknowledged write had "
    "certainly overwritten (no lost acknowledged write)",
    "revisions": "the store's revisions describe one serial order consistent with real "
    "time, the values read and each transaction's branch",
    "bank": "every read of all accounts sees the same total and no negative balance",
    "set": "the final read holds every acknowledged add and nothing never attempted",
    "counter": "every read lies between the acknowledged and the attempted sum of adds",
    "availability": "after heal, operations succeed again within the recovery time, and "
    "every final read succeeds",
    "convergence": "every replica's state machine is identical after heal",
    "invariants": "the simulator saw no core invariant broken (one leader per term, one "
    "entry per index)",
}
"""What each checker checks, one line (a checker not listed shows none)."""


@attrs.frozen(slots=True)
class ReportFiles:
    """What :func:`write_report` wrote, and how long it took (seconds)."""

    html: Path
    latency: Path
    throughput: Path
    seconds: float


def _cut(text: str, limit: int = VALUE_MAX_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _value(value: Value) -> str:
    return _cut(show(value))


def _json(data: object, limit: int = VALUE_MAX_CHARS) -> str:
    return _cut(json.dumps(data, ensure_ascii=False, sort_keys=True, default=str), limit)


def _s(ns: int | None) -> str:
    return "" if ns is None else f"{ns / 1e9:.3f}"


def _fault_label(fault: Mapping[str, Any]) -> str:
    nodes = ",".join(str(n) for n in fault.get("nodes", ()))
    return f"{fault['kind']} {fault.get('shape', '')} {nodes}".strip()


def _active_faults(at_ns: int | None, faults: Sequence[Mapping[str, Any]]) -> str:
    if at_ns is None:
        return ""
    at = at_ns / 1e9
    found = [
        _fault_label(f)
        for f in faults
        if f["start_s"] <= at and (f.get("end_s") is None or at < f["end_s"])
    ]
    return "; ".join(found)


def _op_row(op: Operation, role: str, faults: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    latency = (
        f"{(op.return_time - op.call_time) / 1e6:.2f}"
        if op.return_time is not None and op.call_time is not None
        else ""
    )
    return {
        "gap": False,
        "role": role,
        "event": op.call,
        "line": op.line,
        "process": show(op.process),
        "f": op.f,
        "key": "" if op.key is None else _value(op.key),
        "input": _value(op.input),
        "output": _value(op.output),
        "status": op.status.value,
        "call_s": _s(op.call_time),
        "return_s": _s(op.return_time),
        "latency_ms": latency,
        "faults": _active_faults(op.call_time, faults),
    }


def _window_view(win: Window, faults: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    ref = win.reference
    rows: list[dict[str, Any]] = []
    for row in win.rows:
        if row.op is None:
            rows.append({"gap": True, "skipped": row.skipped})
        else:
            rows.append(_op_row(row.op, row.role, faults))
    key = f"key {_value(ref.key)}" if ref.has_key and ref.key is not None else "all keys"
    return {
        "title": f"{key}: {len(ref.focus)} anomalous, {len(ref.related)} related operations",
        "rows": rows,
        "shown": win.shown,
        "missing": list(win.missing),
    }


def _counterexample(details: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The fields of the first anomaly the details name, as (label, text) pairs."""
    item: Mapping[str, Any] | None = details.get("counterexample")
    if not isinstance(item, Mapping):
        item = None
        for value in details.values():
            if isinstance(value, list) and value and isinstance(value[0], Mapping):
                item = value[0]
                break
    if item is None:
        return [(k, _json(details[k], 600)) for k in SET_ANOMALY_KEYS if details.get(k)]
    pairs = []
    for key, value in item.items():
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            text = "\n".join(value)
        elif isinstance(value, str):
            text = value
        else:
            text = _json(value, 600)
        pairs.append((key, text))
    return pairs


def explain(name: str, details: Mapping[str, Any]) -> str:
    """A sentence for people on the first anomaly of checker ``name`` (empty when the
    checker is not one this page knows how to explain)."""
    cx = details.get("counterexample")
    if name == "linearizable" and isinstance(cx, Mapping):
        return (
            f"No order of the operations on key {cx.get('key')} respects both real time and the "
            f"model. The longest order the checker found linearizes {cx.get('linearized')} "
            f"operations (the last of them amber) and leaves the state {cx.get('state')}; "
            f"the operation it could not place after them is {cx.get('operation')} "
            f"(process {cx.get('process')}, red)."
        )
    lost = details.get("lost")
    if name == "lost-writes" and isinstance(lost, list) and lost and isinstance(lost[0], Mapping):
        first = lost[0]
        seen = _json(first.get("value"))
        allowed = ", ".join(_json(v) for v in first.get("allowed", ())[:5]) or "none"
        why = (
            f"{first['superseded_by']} (amber) had certainly overwritten it: an acknowledged "
            "write was lost"
            if first.get("superseded_by")
            else "no write wrote that value"
        )
        return (
            f"The final read (red) of key {_json(first.get('key'))} saw {seen}; {why}. The "
            f"values a final read could see: {allowed}."
        )
    return ""


def _checker_views(run: RunData) -> list[dict[str, Any]]:
    views = []
    for checker in run.results.get("checkers", ()):
        details = checker["details"]
        text = json.dumps(details, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        views.append(
            {
                "name": checker["name"],
                "validity": checker["validity"],
                "summary": checker["summary"],
                "doc": CHECKER_DOCS.get(checker["name"], ""),
                "details": _cut(text, DETAILS_MAX_CHARS),
                "open": checker["validity"] == "unknown",
            }
        )
    return views


def _anomaly_views(
    run: RunData, faults: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[Operation]]:
    views: list[dict[str, Any]] = []
    marked: list[Operation] = []
    by_call = {op.call: op for op in run.history.operations}
    for checker in run.results.get("checkers", ()):
        if checker["validity"] != "invalid":
            continue
        refs = references(checker["name"], checker["details"], run.history)
        windows = [window(ref, run.history) for ref in refs]
        for ref in refs:
            marked += [by_call[i] for i in ref.focus if i in by_call]
        views.append(
            {
                "name": checker["name"],
                "summary": checker["summary"],
                "explanation": explain(checker["name"], checker["details"]),
                "counterexample": _counterexample(checker["details"]),
                "windows": [_window_view(w, faults) for w in windows],
                "max_windows": MAX_ANOMALIES,
            }
        )
    return views, marked


def _fault_rows(faults: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for fault in faults:
        end = fault.get("end_s")
        blocked = " ".join(f"{a}→{b}" for a, b in fault.get("blocked", ()))
        rows.append(
            {
                "index": fault["index"],
                "kind": fault["kind"],
                "shape": fault.get("shape", ""),
                "nodes": ", ".join(str(n) for n in fault.get("nodes", ())),
                "start_s": f"{fault['start_s']:.3f}",
                "end_s": "" if end is None else f"{end:.3f}",
                "duration_s": "" if end is None else f"{end - fault['start_s']:.3f}",
                "params": ", ".join(f"{k}={_json(v)}" for k, v in fault.get("params", {}).items()),
                "blocked": blocked,
            }
        )
    return rows


def _header(run: RunData) -> list[tuple[str, str]]:
    spec, results = run.spec, run.results
    ops = results.get("ops", {})
    timings = results.get("timings", {})
    pairs = [
        ("seed", str(spec.seed)),
        ("protocol", spec.protocol),
        ("environment", spec.env),
        ("workload", spec.workload),
        ("nodes / clients", f"{spec.nodes} nodes, {spec.concurrency} clients"),
        (
            "load",
            "closed loop" if spec.rate is None else f"open loop, {spec.rate:g} operations/s",
        ),
        ("time limit", f"{spec.time_limit_s:g} s, recovery {spec.recovery_s:g} s"),
        ("nemesis", ", ".join(sorted(spec.nemesis)) or "none"),
    ]
    if results.get("fault_kinds") is not None:
        pairs.append(("fault kinds run", ", ".join(results["fault_kinds"]) or "none"))
    if spec.options:
        pairs.append(("options", _json(dict(spec.options), 400)))
    if ops:
        pairs.append(
            (
                "operations",
                f"{ops['invoke']} invoked: {ops['ok']} ok, {ops['fail']} fail, "
                f"{ops['info']} info, {ops['pending']} pending",
            )
        )
    if timings:
        pairs.append(
            (
                "time",
                f"{timings['env_s']:g} s in the environment, {timings['run_wall_s']:g} s real "
                f"({timings['speed']:g}x), checking {timings['check_wall_s']:g} s",
            )
        )
    pairs.append(("run folder", str(run.run_dir)))
    return pairs


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("jepsen_lite.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2")


def render(
    run: RunData,
    latency: Path,
    throughput: Path,
    anomalies: list[dict[str, Any]] | None = None,
) -> str:
    """The page for ``run``, embedding the two PNG files (``anomalies``: the views
    :func:`_anomaly_views` gives, computed here when not given)."""
    faults = list(run.results.get("faults", ()))
    if anomalies is None:
        anomalies, _ = _anomaly_views(run, faults)
    replay = run.results.get("replay")
    return _template().render(
        test=run.spec.test_name,
        run_dir=str(run.run_dir),
        verdict=run.results["verdict"],
        error=run.results.get("error"),
        header=_header(run),
        checkers=_checker_views(run),
        faults=_fault_rows(faults),
        phases=list(run.results.get("phases", ())),
        heal=list(run.results.get("heal", ())),
        anomalies=anomalies,
        latency=_data_uri(latency),
        throughput=_data_uri(throughput),
        replay=shlex.join(replay) if replay else "",
        warnings=list(run.history.warnings),
        history_problem=run.history_problem,
    )


def write_report(run_dir: str | Path) -> ReportFiles:
    """Write ``report.html``, ``latency.png`` and ``throughput.png`` into the run folder
    ``run_dir``; :class:`~jepsen_lite.report.load.ReportError` (one line) if it is not a
    readable run folder."""
    from . import plots  # matplotlib: imported only when a report is drawn

    start = time.monotonic()
    run = load_run(run_dir)
    faults = list(run.results.get("faults", ()))
    phases = list(run.results.get("phases", ()))
    title = f"{run.spec.test_name}, seed {run.spec.seed}"
    anomalies, marked = _anomaly_views(run, faults)
    latency = run.run_dir / LATENCY_FILE
    throughput = run.run_dir / THROUGHPUT_FILE
    plots.latency_plot(run.history, faults, phases, latency, title, marked)
    plots.throughput_plot(run.history, faults, phases, throughput, title)
    html = run.run_dir / REPORT_FILE
    html.write_text(render(run, latency, throughput, anomalies), encoding="utf-8")
    return ReportFiles(html, latency, throughput, round(time.monotonic() - start, 3))
