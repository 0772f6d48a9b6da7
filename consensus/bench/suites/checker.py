"""The ``checker`` suite: the linearizability and list-append checkers of ``jepsen_lite``.

Runs the quick variants of the checker benchmarks of :mod:`consensus.bench.checker` in
this process and records one cell per history, every cell with params
``{"env": "local", "what": ...}``:

- ``what="linearizable"`` (``model`` cas-register, ``ops``, ``keys``, ``procs``): simulated
  histories as ``python -m consensus.bench.checker.bench_checker`` generates them;
- ``what="hard-kv"`` (``history`` k0-corrupt | k5-corrupt | k0-stale | k0-lost | twin,
  ``hot_share``, ``seed``, ``clients``, ``ops``): Porcupine-shaped kv histories, as
  ``bench_checker --hard``;
- ``what="txn"`` (``txns``, ``procs``, ``keys``): strict-serializable list-append histories
  checked by ``check_list_append``, as ``python -m consensus.bench.checker.bench_txn``.

Figures of a checked history: ``check_s`` (the checker's own time: preparation and search,
not generation), ``cpu_s`` (this process), ``ops_per_s`` (operations checked per second),
``us_per_op``; the linearizability cells also ``configs`` (configurations the search
cached) and ``decided`` (1.0, or 0.0 for an ``unknown`` verdict: the time limit was
reached, and ``ops_per_s`` is then no checking rate), the txn cells ``gen_s``. The verdict
is in the cell's notes (an ``unknown`` one with its reason: reported, not hidden).

``what="porcupine"``: with ``--checker-porcupine-bin PATH`` (the Go program of
docs/checker.md, "Side by side with Porcupine"), each hard kv history is written as EDN
and checked by Porcupine and by ours (one worker), back to back: ``check_s`` (ours),
``porcupine_s``, ``ratio`` (ours / Porcupine's), ``porcupine_configs``; the notes hold
both verdicts (``VERDICTS DIFFER`` when they disagree; an ``Unknown`` never does). Ours
checks the events the EDN file was written from (parsing EDN is slow and not the figure).
Without it, ``report.skip`` says how to build it.

``jepsen_lite`` is imported only inside :func:`run` (a tool-level dependency, see
:mod:`consensus.bench`). ``--quick``: one length (1,000 operations, 10 keys, 10
processes), the hard histories at one hot share with 20 clients and 1,000 operations
(50 and 2,000 otherwise, Porcupine's ``c50`` shape; 20 clients check in milliseconds, 50
may take seconds per history), 1,000 transactions.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from ..report import BenchReport, Params

DESCRIPTION = "the linearizability and transactional checkers, beside Porcupine"
SUITE = "checker"

BUILD_HINT = (
    "pass --checker-porcupine-bin PATH: a Go program built outside the project from "
    "Porcupine's sources (docs/checker.md, 'Side by side with Porcupine': "
    "GOFLAGS=-mod=mod GOPROXY=off go build -o bin/check ./cmd/check)"
)

HARD_NAMES = ("k0-corrupt", "k5-corrupt", "k0-stale", "k0-lost", "twin")


def configure(group: argparse._ArgumentGroup) -> None:
    """The ``--checker-...`` options."""
    group.add_argument(
        "--checker-time-limit", type=float, default=30.0, help="seconds per history (30)"
    )
    group.add_argument(
        "--checker-porcupine-bin",
        default=None,
        metavar="PATH",
        help="Porcupine's check program: adds the side-by-side cells",
    )


def run(args: argparse.Namespace, report: BenchReport) -> None:
    """Add the suite's cells to ``report`` (see the module docstring)."""
    from ..checker import bench_checker, bench_txn  # jepsen_lite: only when the suite runs

    quick = bool(getattr(args, "quick", False))
    runs = int(args.runs)
    limit = float(getattr(args, "checker_time_limit", 30.0) or 30.0)
    _linearizable(report, runs, limit, quick)
    hard = _hard(report, bench_checker, runs, limit, quick)
    _txn(report, bench_txn, runs, quick)
    binary = getattr(args, "checker_porcupine_bin", None)
    if binary is None:
        report.skip(SUITE, "porcupine side by side", BUILD_HINT)
    else:
        _porcupine(report, bench_checker, Path(binary), hard, runs, limit)


def _figures(result: Any, cpu_s: float, ops: int) -> dict[str, float]:
    check_s = max(float(result.time_s), 1e-9)
    return {
        "check_s": check_s,
        "cpu_s": cpu_s,
        "ops_per_s": ops / check_s,
        "us_per_op": check_s / max(ops, 1) * 1e6,
        "configs": float(sum(r.explored for r in result.results)),
        "decided": 0.0 if result.verdict.value == "unknown" else 1.0,
    }


def _note(cell: Any, result: Any) -> None:
    reason = ""
    if result.verdict.value == "unknown":
        reason = next((r.reason for r in result.results if r.reason), "")
    note = f"verdict {result.verdict.value}" + (f" ({reason})" if reason else "")
    if note not in cell.notes:
        cell.notes.append(note)


def _linearizable(report: BenchReport, runs: int, limit: float, quick: bool) -> None:
    from jepsen_lite.checker.check import check
    from jepsen_lite.history.pairing import pair_events
    from jepsen_lite.history.simulate import SimConfig, simulate
    from jepsen_lite.models import make_model

    model = make_model("cas-register")
    grid = [(1_000, 10, 10)] if quick else [(1_000, 1, 5), (1_000, 10, 10), (10_000, 10, 50)]
    for ops, keys, procs in grid:
        config = SimConfig(
            model="cas-register", operations=ops, processes=procs, keys=keys, values=5,
            info_rate=0.01, fail_rate=0.02,
        )  # fmt: skip
        history = pair_events(simulate(config, random.Random(1)))
        params: Params = {
            "env": "local", "what": "linearizable", "model": "cas-register",
            "ops": ops, "keys": keys, "procs": procs,
        }  # fmt: skip
        cell = report.cell(SUITE, f"cas-register {ops} ops {keys} keys {procs} procs", params)
        for _ in range(runs):
            cpu = time.process_time()
            result = check(model, history, limit, workers=1)
            cell.add_run(_figures(result, time.process_time() - cpu, ops))
            _note(cell, result)


def _hard(
    report: BenchReport, bc: Any, runs: int, limit: float, quick: bool
) -> list[tuple[str, list[Any]]]:
    """The hard kv cells; returns (label, events) of every history built."""
    import attrs

    from jepsen_lite.checker.check import check
    from jepsen_lite.history.pairing import pair_events
    from jepsen_lite.models import make_model

    model = make_model("kv", bc.HARD_KV_INIT)
    clients, operations = (20, 1000) if quick else (50, 2000)
    shares = (0.1,) if quick else (0.1, 0.2)
    built: list[tuple[str, list[Any]]] = []
    for share in shares:
        configs = {
            "k0-corrupt": bc.HardKvConfig(hot_share=share),
            "k5-corrupt": bc.HardKvConfig(hot_share=share, corrupt_key=5),
            "k0-stale": bc.HardKvConfig(hot_share=share, corruption="stale"),
            "k0-lost": bc.HardKvConfig(hot_share=share, corruption="lost"),
            "twin": bc.HardKvConfig(hot_share=share, corrupt=False),
        }
        for name in HARD_NAMES:
            config = attrs.evolve(configs[name], clients=clients, operations=operations)
            label = f"hot{share}-s1-{name}"
            try:
                events = bc.hard_kv_events(config, random.Random(1))
            except ValueError as error:
                report.skip(SUITE, f"hard kv {label}", f"not built: {error}")
                continue
            built.append((label, events))
            history = pair_events(events, label)
            ops = len(history.operations)
            params: Params = {
                "env": "local", "what": "hard-kv", "history": name, "hot_share": share,
                "seed": 1, "clients": clients, "ops": ops,
            }  # fmt: skip
            cell = report.cell(SUITE, f"hard kv {label}", params)
            for _ in range(runs):
                cpu = time.process_time()
                result = check(model, history, limit, workers=1)
                cell.add_run(_figures(result, time.process_time() - cpu, ops))
                _note(cell, result)
    return built


def _txn(report: BenchReport, bt: Any, runs: int, quick: bool) -> None:
    from jepsen_lite.txn import check_list_append

    for txns in (1_000,) if quick else (1_000, 10_000):
        t0 = time.perf_counter()
        history = bt.generate(txns, 10, 10, 100, 1)
        gen_s = time.perf_counter() - t0
        params: Params = {"env": "local", "what": "txn", "txns": txns, "procs": 10, "keys": 10}
        cell = report.cell(SUITE, f"list-append {txns} txns", params)
        for _ in range(runs):
            t1, c1 = time.perf_counter(), time.process_time()
            result = check_list_append(history)
            check_s = max(time.perf_counter() - t1, 1e-9)
            cell.add_run(
                {
                    "gen_s": gen_s,
                    "check_s": check_s,
                    "cpu_s": time.process_time() - c1,
                    "ops_per_s": txns / check_s,
                    "us_per_op": check_s / txns * 1e6,
                }
            )
            note = f"verdict {result.summary()}"
            if note not in cell.notes:
                cell.notes.append(note)


def _porcupine(
    report: BenchReport,
    bc: Any,
    binary: Path,
    hard: list[tuple[str, list[Any]]],
    runs: int,
    limit: float,
) -> None:
    import os
    import subprocess

    from jepsen_lite.checker.check import check
    from jepsen_lite.history.pairing import pair_events
    from jepsen_lite.models import make_model

    from ..checker.bench_vs_porcupine import agree, run_porcupine

    if not os.access(binary, os.X_OK):
        report.skip(SUITE, "porcupine side by side", f"{binary} is not an executable")
        return
    model = make_model("kv", bc.HARD_KV_INIT)
    with tempfile.TemporaryDirectory(prefix="bench-checker-") as folder:
        for label, events in hard:
            path = Path(folder) / f"{label}.edn"
            path.write_text("".join(bc.edn_line(e) + "\n" for e in events), encoding="utf-8")
            history = pair_events(events, label)
            params: Params = {
                "env": "local", "what": "porcupine", "history": label,
                "ops": len(history.operations),
            }  # fmt: skip
            cell = report.cell(SUITE, f"porcupine {label}", params)
            for _ in range(runs):
                try:
                    theirs = run_porcupine(binary, path, limit)
                except (ValueError, subprocess.TimeoutExpired) as error:
                    report.skip(SUITE, f"porcupine {label}", str(error))
                    break
                ours = check(model, history, limit, workers=1)
                theirs_s = max(theirs.seconds, 1e-9)
                cell.add_run(
                    {
                        "check_s": ours.time_s,
                        "porcupine_s": theirs.seconds,
                        "ratio": ours.time_s / theirs_s,
                        "porcupine_configs": float(theirs.configs),
                    }
                )
                note = f"ours {ours.verdict.value}, porcupine {theirs.verdict}"
                if not agree(theirs.verdict, ours.verdict):
                    note += ": VERDICTS DIFFER"
                if note not in cell.notes:
                    cell.notes.append(note)
