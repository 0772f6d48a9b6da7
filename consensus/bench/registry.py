"""The suites of ``consensus bench``, by name, in the order ``consensus bench`` runs them.

A suite is a module ``consensus.bench.suites.<name>`` that defines::

    DESCRIPTION: str                                        # one line for --list
    def configure(group: argparse._ArgumentGroup) -> None   # options, all named --<name>-...
    def run(args: argparse.Namespace, report: BenchReport) -> None

``run`` adds cells to the report (``report.cell(...)``, then ``cell.add_run(...)`` per
repetition) and records what it could not run with ``report.skip``; it raises
:class:`~consensus.bench.target.TargetUnavailable` only when nothing of it can run.
Common options every suite reads: ``args.runs`` (repetitions per cell), ``args.quick``
(the smallest matrix, for a smoke run), ``args.protocols``, ``args.node_counts``,
``args.peers`` and ``args.seconds``.
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

SUITES: dict[str, str] = {
    "sim": "protocols in the simulator: messages, bytes, round trips, fsyncs per operation",
    "local": "protocols as real processes with fsync: throughput, latency, CPU, failover",
    "embedded": "proposals from inside the leader's process, beside PySyncObj",
    "peers": "etcd driven by the same harness as our protocols, in the same run",
    "storage": "the write-ahead log and snapshot store: append, sync and recovery rates",
    "checker": "the linearizability and transactional checkers, beside Porcupine",
}

DEFAULT: tuple[str, ...] = ("sim", "local")


def load(name: str) -> ModuleType | None:
    """The suite's module, or None when it is not built."""
    module_name = f"{__package__}.suites.{name}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise


def positive_int(text: str) -> int:
    """An ``argparse`` type: an integer > 0, else a message naming what was given."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """An ``argparse`` type: a finite number > 0, else a message naming what was given."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value
