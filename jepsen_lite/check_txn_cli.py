"""``jepsen-lite check-txn``: check list-append histories for transactional anomalies.

Arguments are history files or directories, as for ``check``. Per file it prints the
verdict for ``--consistency-model`` (default ``strict-serializable``), the anomalies found
with the cycle that explains each (the first :data:`SHOWN` of each kind), and the models
they rule out; ``--json`` prints one JSON object per file instead::

    {"file": "h.edn", "validity": "invalid", "model": "serializable", "txns": 300,
     "anomalies": {"G2": [{"txns": [3, 5], "explanation": ["T3 < T5 (rw): ...", ...]}]},
     "violates": ["serializable", "strict-serializable"], "reason": "", "time_s": 0.01}

Exit status: 0 all valid, 1 any invalid, 2 any unknown and none invalid, 3 bad input
(which wins; the other files are still checked).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from .check_cli import EXIT_BAD_INPUT, BadInput, add_history_arguments, expand
from .history.errors import HistoryError
from .history.load import load_history
from .txn import MODELS, TxnCheckResult, check_list_append

EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN = 0, 1, 2
SHOWN = 3
"""Instances of each anomaly printed in the text report (``--json`` has them all)."""


def add_check_txn_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register the ``check-txn`` subcommand."""
    parser = subparsers.add_parser(
        "check-txn",
        help="check list-append transaction histories for anomalies (Elle's approach)",
        description="Check each list-append history (txn operations of [append k v] and "
        "[r k list] micro-ops) for G0, G1a, G1b, G1c, G-single, G2 and real-time anomalies. "
        "Exit status: 0 all valid, 1 any invalid, 2 any unknown, 3 bad input.",
    )
    add_history_arguments(parser)
    parser.add_argument(
        "--consistency-model",
        choices=tuple(MODELS),
        default="strict-serializable",
        help="the model to judge by (default: strict-serializable)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per file per line")
    parser.set_defaults(handler=run_check_txn)


def run_check_txn(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run ``check-txn`` with parsed arguments; returns the exit status."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        files, _ = expand(args.histories)
    except BadInput as exc:
        print(f"jepsen-lite check-txn: {exc}", file=err)
        return EXIT_BAD_INPUT
    validities: list[str] = []
    bad = False
    for path in files:
        started = time.perf_counter()
        try:
            history = load_history(path, args.format)
            result = check_list_append(history, args.consistency_model)
        except (HistoryError, ValueError) as exc:
            print(str(exc) if isinstance(exc, HistoryError) else f"{path}: {exc}", file=err)
            bad = True
            continue
        except OSError as exc:
            print(f"{path}: cannot read: {exc}", file=err)
            bad = True
            continue
        elapsed = time.perf_counter() - started
        for warning in history.warnings:
            print(warning, file=err)
        if not history.operations:
            print(f"{path}: warning: the history is empty: nothing was checked", file=err)
        validities.append(result.validity)
        _report(path, result, elapsed, args.json, out)
    if bad:
        return EXIT_BAD_INPUT
    if "invalid" in validities:
        return EXIT_INVALID
    if "unknown" in validities:
        return EXIT_UNKNOWN
    return EXIT_VALID


def _report(path: Path, result: TxnCheckResult, elapsed: float, as_json: bool, out: TextIO) -> None:
    if as_json:
        data = result.as_json()
        record = {
            "file": str(path),
            **{
                k: data[k] for k in ("validity", "model", "txns", "anomalies", "violates", "reason")
            },
            "time_s": round(elapsed, 6),
        }
        print(json.dumps(record), file=out)
        return
    print(f"{path}: {result.summary()} ({elapsed:.3f} s)", file=out)
    for name, found in result.anomalies.items():
        for anomaly in found[:SHOWN]:
            first, *rest = anomaly.explanation
            print(f"  {name}: {first}", file=out)
            pad = " " * (len(name) + 4)
            for line in rest:
                print(f"{pad}{line}", file=out)
        if len(found) > SHOWN:
            print(f"  {name}: and {len(found) - SHOWN} more (--json lists them all)", file=out)
    if result.violates:
        print(f"  rules out: {', '.join(result.violates)}", file=out)
