"""``jepsen-lite check``: check history files for linearizability and report.

Each argument is a history file or a directory (every ``*.jsonl``, ``*.edn`` and ``*.log`` file
directly in it, in name order). Per file it prints the verdict and a one-line summary,
or with ``--json`` one JSON object per line::

    {"file": "h.jsonl", "verdict": "linearizable", "operations": 1000, "time_s": 0.012,
     "warnings": []}

``time_s`` is the checking time (after loading; no process start-up). Warnings (event
times going backwards; an empty history, whose ``linearizable`` is vacuous) go to stderr,
and into ``warnings`` with ``--json``; they do not change the verdict. Exit status:
0 all linearizable, 1 any not linearizable, 2 any unknown and none not linearizable,
3 bad input (a malformed history, an unreadable file or a bad command line), which wins
over the others; the other files are still checked. Bad-input messages go to stderr as
``FILE:LINE: reason``.

``--html OUT`` writes a report page: OUT is the page itself when one file is checked, and
a directory (created if needed) holding ``<file name>.html`` per history when several
files, or a directory argument, are given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from .checker.check import check
from .checker.report_html import write_html
from .checker.result import CheckResult, Verdict
from .history.errors import HistoryError
from .history.load import FORMATS, load_history
from .history.ops import show
from .models import MODEL_NAMES, Model, make_model

EXIT_LINEARIZABLE = 0
EXIT_NOT_LINEARIZABLE = 1
EXIT_UNKNOWN = 2
EXIT_BAD_INPUT = 3
HISTORY_SUFFIXES = (".jsonl", ".edn", ".log")


class BadInput(Exception):
    """Input this command cannot use; the message says which file and why."""


def add_history_arguments(parser: argparse.ArgumentParser) -> None:
    """The history files (or directories) to check and ``--format``: the input of every
    checking subcommand (``check``, ``check-txn``)."""
    parser.add_argument("histories", nargs="+", metavar="HISTORY", help="file or directory")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="default: edn for *.edn, jepsen-log for *.log, else jsonl",
    )


def add_check_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register the ``check`` subcommand."""
    parser = subparsers.add_parser(
        "check",
        help="check histories for linearizability",
        description="Check each history file (or every *.jsonl/*.edn/*.log file in a directory) "
        "for linearizability. Exit status: 0 all linearizable, 1 any not linearizable, "
        "2 any unknown (budget spent; never success), 3 bad input.",
    )
    add_history_arguments(parser)
    parser.add_argument("--model", choices=MODEL_NAMES, default="cas-register")
    parser.add_argument(
        "--init", metavar="JSON", default=None,
        help="initial value; a JSON object maps keys to initial values",
    )  # fmt: skip
    parser.add_argument(
        "--time-limit", type=float, default=None, metavar="S",
        help="seconds per history; past it the verdict is unknown",
    )  # fmt: skip
    parser.add_argument(
        "--html", metavar="OUT", default=None,
        help="write a report page (a directory of pages when several files are checked)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="one JSON object per file per line")
    parser.set_defaults(handler=run_check)


def run_check(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run ``check`` with parsed arguments; returns the exit status. Output goes to
    ``out`` and ``err`` (default: the current ``sys.stdout`` and ``sys.stderr``)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        model = _model(args.model, args.init)
        files, several = expand(args.histories)
        if args.time_limit is not None and args.time_limit <= 0:
            raise BadInput("--time-limit must be positive")
    except BadInput as exc:
        print(f"jepsen-lite check: {exc}", file=err)
        return EXIT_BAD_INPUT
    html_dir = Path(args.html) if args.html is not None and several else None
    if html_dir is not None:
        html_dir.mkdir(parents=True, exist_ok=True)
    verdicts: list[Verdict] = []
    bad = False
    used_names: set[str] = set()
    for path in files:
        try:
            history = load_history(path, args.format)
            result = check(model, history, args.time_limit)
        except HistoryError as exc:
            print(str(exc), file=err)
            bad = True
            continue
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{path}: cannot read: {exc}", file=err)
            bad = True
            continue
        verdicts.append(result.verdict)
        for warning in result.warnings:
            print(warning, file=err)
        _report(path, result, model, args.json, out)
        if args.html is not None:
            page = _page_path(path, html_dir, used_names) if html_dir else Path(args.html)
            write_html(page, result, model, history)
    if bad:
        return EXIT_BAD_INPUT
    if Verdict.NOT_LINEARIZABLE in verdicts:
        return EXIT_NOT_LINEARIZABLE
    if Verdict.UNKNOWN in verdicts:
        return EXIT_UNKNOWN
    return EXIT_LINEARIZABLE


def expand(arguments: list[str]) -> tuple[list[Path], bool]:
    """The history files named by the arguments, and whether there are "several" (more
    than one file, or any directory). ``BadInput`` for a missing path or empty directory."""
    files: list[Path] = []
    several = len(arguments) > 1
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            several = True
            found = sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix.lower() in HISTORY_SUFFIXES
            )
            if not found:
                raise BadInput(
                    f"{path}: no history files (*.jsonl, *.edn, *.log) in this directory"
                )
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise BadInput(f"{path}: no such file or directory")
    return files, several


def _model(name: str, init: str | None) -> Model:
    try:
        data = json.loads(init) if init is not None else None
        return make_model(name, data)
    except json.JSONDecodeError as exc:
        raise BadInput(f"--init is not valid JSON: {exc.msg}") from None
    except ValueError as exc:
        raise BadInput(f"--init: {exc}") from None


def _report(path: Path, result: CheckResult, model: Model, as_json: bool, out: TextIO) -> None:
    if as_json:
        record = {
            "file": str(path),
            "verdict": result.verdict.value,
            "operations": result.operations,
            "time_s": round(result.time_s, 6),
            "warnings": list(result.warnings),
        }
        print(json.dumps(record), file=out)
        return
    keys = f"{result.keys} key" + ("" if result.keys == 1 else "s")
    print(
        f"{path}: {result.verdict.value} ({result.operations} operations, {keys}, "
        f"{result.time_s:.3f} s)",
        file=out,
    )
    cx = result.counterexample
    if cx is not None:
        op = cx.failing_op
        key = "" if cx.key is None else f"key {show(cx.key)}: "
        where = f"line {op.line}" if op.line else f"event {op.call}"
        why = (
            f": {cx.note}"
            if cx.note
            else f" after {len(cx.linearization)} operations; model state {cx.state_text}"
        )
        print(
            f"  {key}cannot linearize {model.describe_op(op)} (process {show(op.process)}, "
            f"{where}){why}",
            file=out,
        )
    elif result.verdict is Verdict.UNKNOWN:
        reasons = sorted({r.reason for r in result.results if r.reason})
        print(f"  unknown, NOT a success: {'; '.join(reasons)}", file=out)


def _page_path(path: Path, directory: Path, used: set[str]) -> Path:
    name = path.stem
    candidate = name
    counter = 2
    while candidate in used:
        candidate = f"{name}-{counter}"
        counter += 1
    used.add(candidate)
    return directory / f"{candidate}.html"
