"""Benchmark the checker on Porcupine's etcd Jepsen logs.

Usage: ``python -m consensus.bench.checker.bench_porcupine DIR [--repeat N] [--compare-porcupine]``.

Porcupine (the Go linearizability checker etcd uses) ships 102 real Jepsen etcd logs as
test data (``test_data/jepsen/etcd_000.log`` ... ``etcd_102.log``; there is no 095). This
script does not contain or fetch them: get them from Porcupine's repository and point it
at the folder. It loads every ``*.log`` in ``DIR`` (Jepsen text logs, see
docs/history-format.md), checks each with the ``cas-register`` model in this process, and
prints one summary table: files, operations, load time, total / median / slowest check
time, verdict counts. ``--repeat N`` runs the whole set N times and reports the median of
each figure (per-file times are per-file medians). This is a script, not a test: timings
depend on the machine and its load, which is printed.

With ``--compare-porcupine`` the verdicts are compared with the expectations in
Porcupine's own test (``porcupine_test.go``: ``checkJepsen(t, N, true/false)``), by file
name. Note the one semantic difference: Porcupine's etcd model checks a ``:fail`` cas as
"compare failed" (it happened, and the value differed), while this importer follows
Jepsen/Knossos, where ``:fail`` means "did not happen" and the operation is dropped.
Dropping only removes constraints, so a ``not-linearizable`` here implies Porcupine's
``false``; the converse is the case that could differ.

A file with no operations is flagged: its ``linearizable`` is vacuous (for instance a log
whose lines the importer did not recognise).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from jepsen_lite.checker.check import check
from jepsen_lite.checker.result import Verdict
from jepsen_lite.history.load import load_history
from jepsen_lite.models import make_model

PORCUPINE_LINEARIZABLE = frozenset(
    (2, 5, 7, 18, 25, 31, 38, 45, 48, 49, 51, 53, 56, 67, 75, 76, 80, 87, 92, 98, 100, 101, 102)
)
"""``etcd_NNN.log`` files Porcupine's test expects to be linearizable; the others (000 to
102 but 095, which Porcupine does not ship) it expects not to be."""

_NUMBER = re.compile(r"etcd_(\d+)\.log$")


def main(argv: list[str] | None = None) -> int:
    """Check every ``*.log`` in the folder and print the summary. Exit status 1 when a
    compared verdict differs from Porcupine's or a file has no operations, else 0."""
    parser = argparse.ArgumentParser(prog="python -m consensus.bench.checker.bench_porcupine")
    parser.add_argument("folder", type=Path, help="folder of Jepsen text logs (*.log)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; medians are reported")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--compare-porcupine", action="store_true")
    parser.add_argument("--per-file", action="store_true", help="also print one row per file")
    args = parser.parse_args(argv)
    paths = sorted(args.folder.glob("*.log"))
    if not paths:
        print(f"no *.log files in {args.folder}", file=sys.stderr)
        return 2
    model = make_model("cas-register")

    started = time.perf_counter()
    histories = [load_history(path) for path in paths]
    load_s = time.perf_counter() - started

    rounds: list[list[float]] = []
    verdicts: list[Verdict] = []
    for _ in range(max(1, args.repeat)):
        times: list[float] = []
        verdicts = []
        for history in histories:
            t0 = time.perf_counter()
            result = check(model, history, workers=args.workers)
            times.append(time.perf_counter() - t0)
            verdicts.append(result.verdict)
        rounds.append(times)

    per_file = [statistics.median(column) for column in zip(*rounds, strict=True)]
    totals = [sum(times) for times in rounds]
    slowest = max(range(len(paths)), key=per_file.__getitem__)
    counts = Counter(v.value for v in verdicts)
    operations = [len(h.operations) for h in histories]

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    rounds_text = f"{len(rounds)} round(s), workers {args.workers}"
    print(f"# {args.folder}: {len(paths)} files, cas-register, {rounds_text}")
    python = f"{platform.python_implementation()} {platform.python_version()}"
    loads = " ".join(f"{x:.2f}" for x in load)
    print(f"# {python}, {os.cpu_count()} CPUs, load average {loads}")
    header = (
        "files", "ops", "load s", "check total s", "median ms", "slowest",
        "linearizable", "not-linearizable", "unknown",
    )  # fmt: skip
    spread = f" ({min(totals):.3f}-{max(totals):.3f})" if len(totals) > 1 else ""
    row = (
        str(len(paths)),
        str(sum(operations)),
        f"{load_s:.3f}",
        f"{statistics.median(totals):.3f}{spread}",
        f"{statistics.median(per_file) * 1000:.2f}",
        f"{paths[slowest].name} {per_file[slowest] * 1000:.1f} ms",
        str(counts.get(Verdict.LINEARIZABLE.value, 0)),
        str(counts.get(Verdict.NOT_LINEARIZABLE.value, 0)),
        str(counts.get(Verdict.UNKNOWN.value, 0)),
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" for _ in header) + "|")
    print("| " + " | ".join(row) + " |")
    ranked = sorted(range(len(paths)), key=per_file.__getitem__, reverse=True)[:5]
    print("# slowest: " + ", ".join(f"{paths[i].name} {per_file[i] * 1000:.1f} ms" for i in ranked))

    status = 0
    empty = [paths[i].name for i, n in enumerate(operations) if n == 0]
    if empty:
        print(f"# WARNING: no operations (vacuous verdict): {', '.join(empty)}")
        status = 1
    if args.compare_porcupine:
        differ = _compare(paths, verdicts)
        listed = ": " + ", ".join(differ) if differ else ""
        print(f"# versus Porcupine's expectations: {len(differ)} differ{listed}")
        status = status or (1 if differ else 0)
    if args.per_file:
        print("| file | ops | verdict | ms |")
        print("|---|---:|---|---:|")
        for i, path in enumerate(paths):
            ms = per_file[i] * 1000
            print(f"| {path.name} | {operations[i]} | {verdicts[i].value} | {ms:.2f} |")
    return status


def _compare(paths: list[Path], verdicts: list[Verdict]) -> list[str]:
    """Files whose verdict is not the one Porcupine's test expects (unnumbered files are
    skipped; ``unknown`` always differs)."""
    differ = []
    for path, verdict in zip(paths, verdicts, strict=True):
        match = _NUMBER.search(path.name)
        if match is None:
            continue
        expected = int(match.group(1)) in PORCUPINE_LINEARIZABLE
        if (verdict is Verdict.LINEARIZABLE) != expected or verdict is Verdict.UNKNOWN:
            differ.append(f"{path.name} ({verdict.value}, Porcupine {str(expected).lower()})")
    return differ


if __name__ == "__main__":
    sys.exit(main())
