"""``jepsen-lite report RUN_DIR`` and the ``--report`` policy of ``jepsen-lite run``.

``report`` writes ``report.html``, ``latency.png`` and ``throughput.png`` into each run
folder given and prints where; exit status 0 when every report was written, 3 (one line on
stderr each, never a traceback) for a folder that is not a run folder, a missing or
corrupt ``results.json``, ``test.json`` or ``history.jsonl``. The status is not the run's
verdict: that is in ``results.json`` (``exit_status``).

``jepsen-lite run --report WHEN`` (:data:`POLICIES`) writes a report at the end of a run:

- ``auto`` (the default): for a single run (``--seed N`` or no seed), always; for a
  campaign (``--seeds A-B``), for every seed that is not valid (invalid, unknown or an
  error), so that a thousand passing seeds cost no plotting;
- ``always``, ``not-valid`` (every run that is not valid), ``never``.

A report that cannot be written at the end of a run is a one-line warning; the run's exit
status stays its verdict's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

POLICIES = ("auto", "always", "not-valid", "never")
"""The choices of ``jepsen-lite run --report``."""
EXIT_BAD_INPUT = 3


def wants_report(policy: str, campaign: bool, verdict: str) -> bool:
    """Whether a run with ``verdict`` (``valid``, ``invalid``, ``unknown``, ``error``) gets a
    report under ``policy``; ``campaign``: the run is one seed of ``--seeds``."""
    if policy == "always" or (policy == "auto" and not campaign):
        return True
    if policy in ("auto", "not-valid"):
        return verdict != "valid"
    if policy == "never":
        return False
    raise ValueError(f"unknown report policy {policy!r} (choose {', '.join(POLICIES)})")


def make_report(run_dir: Path, err: TextIO, prog: str = "jepsen-lite run") -> Path | None:
    """Write the report of ``run_dir``; on failure print one warning line on ``err`` and
    return ``None``."""
    from .html import write_report
    from .load import ReportError

    try:
        return write_report(run_dir).html
    except ReportError as exc:
        print(f"{prog}: warning: no report: {exc}", file=err)
    except Exception as exc:  # a plotting failure must not cost the run its verdict
        text = " ".join(str(exc).split())
        print(f"{prog}: warning: no report: {type(exc).__name__}: {text}", file=err)
    return None


def add_report_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register the ``report`` subcommand."""
    parser = subparsers.add_parser(
        "report",
        help="write report.html and PNG plots for run folders",
        description="Write report.html (self-contained), latency.png and throughput.png "
        "into each RUN_DIR. Exit status: 0 written, 3 bad input (not a run folder, a "
        "missing or corrupt results.json, test.json or history.jsonl).",
    )
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    parser.set_defaults(handler=report_command)


def report_command(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """``jepsen-lite report RUN_DIR...``; returns the exit status."""
    from .html import write_report
    from .load import ReportError

    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    status = 0
    for run_dir in args.run_dirs:
        try:
            files = write_report(Path(run_dir))
        except ReportError as exc:
            print(f"jepsen-lite report: error: {exc}", file=err)
            status = EXIT_BAD_INPUT
            continue
        print(
            f"report: {files.html} (with {files.latency.name}, {files.throughput.name}; "
            f"{files.seconds:g} s)",
            file=out,
        )
    return status
