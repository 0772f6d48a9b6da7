"""Time the checker and Porcupine side by side on the same kv or etcd files.

Usage: ``python -m consensus.bench.checker.bench_vs_porcupine DIR --porcupine-bin PATH
[--model kv|etcd] [--time-limit S] [--glob PATTERN]``.

``PATH`` is a program built outside this project (see docs/checker.md, "Side by side with
Porcupine") that loads one log with Porcupine's own parser, checks it with Porcupine's
model (``-model kv``: the kv model and EDN parser of Porcupine's tests, for logs in its
layout ``{:process N, :type :invoke, :f :append, :key "k0", :value "a1;"}``; ``-model
etcd``: its etcd cas-register model and Jepsen log parser) and prints one line ``verdict
Ok|Illegal|Unknown ops N check_s S configs C`` (``check_s`` excludes parsing). For every
file of ``DIR`` this script runs that program, then this project's checker with one worker
and with the default workers, back to back: ``--model kv`` (the default) reads the files
as EDN whatever their extension (Porcupine's own kv logs are ``*.txt``) and checks them
with the ``kv`` model, initial value ``""``; ``--model etcd`` reads Jepsen text logs and
checks them with ``cas-register``. One table row per file: operations, the verdicts, the
check times (ours: ``CheckResult.time_s``, loading excluded), the ratio ours /
Porcupine's, the configurations each search cached, CPU times (ours: this process during
the one-worker check; Porcupine's: its process, start-up and parsing included) and their
ratio, and the load average (1 minute) when the row was measured: the machine is shared,
ratios are the figure to read, and on a loaded machine the CPU ratio more than the wall
one.

Verdicts are compared: ``Ok`` must meet ``linearizable`` and ``Illegal``
``not-linearizable``; an ``Unknown`` (time limit) on either side is not a disagreement.
The kv files hold only ``ok`` completions (Porcupine's kv parser ignores ``:fail`` and
``:info`` lines, and gives an operation left open a return at the end of the history,
where this project leaves it open). On etcd logs the models differ on ``:fail`` cas (see
:mod:`consensus.bench.checker.bench_porcupine`); a disagreement is reported as such.
``--repeat N`` runs each side N times per file and keeps the fastest, for files checked in
milliseconds, where one run measures mostly noise. Exit status 1 when a verdict differs.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import attrs

from jepsen_lite.checker.check import check
from jepsen_lite.checker.result import CheckResult, Verdict
from jepsen_lite.history.load import Format, load_history
from jepsen_lite.history.ops import History
from jepsen_lite.models import Model, make_model

from .bench_checker import HARD_KV_INIT

_LINE = re.compile(r"verdict (\w+) ops (\d+) check_s ([0-9.]+) configs (\d+)")
_AGREES = {"Ok": Verdict.LINEARIZABLE, "Illegal": Verdict.NOT_LINEARIZABLE}


@attrs.frozen
class PorcupineRun:
    """What the Porcupine program printed for one file."""

    verdict: str
    seconds: float
    configs: int
    cpu_s: float = 0.0  # the process's user + system CPU time, parsing and start-up included


def run_porcupine(binary: Path, path: Path, time_limit: float, model: str = "kv") -> PorcupineRun:
    """Run the Porcupine program on ``path`` with its ``model`` (``kv`` or ``etcd``) and
    parse its line; ``ValueError`` naming the file when it printed something else."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [str(binary), "-model", model, "-timeout", f"{time_limit}s", str(path)],
        capture_output=True, text=True, timeout=time_limit + 60, check=False,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    match = _LINE.search(done.stdout)
    if match is None:
        problem = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ValueError(f"{binary} on {path.name}: {problem[0]}")
    return PorcupineRun(match.group(1), float(match.group(3)), int(match.group(4)), cpu)


def agree(porcupine: str, ours: Verdict) -> bool:
    """Whether two verdicts agree (an unknown on either side always does)."""
    if porcupine == "Unknown" or ours is Verdict.UNKNOWN:
        return True
    return _AGREES.get(porcupine) is ours


def main(argv: list[str] | None = None) -> int:
    """Print the side-by-side table; exit status 1 when a verdict differs."""
    parser = argparse.ArgumentParser(prog="python -m consensus.bench.checker.bench_vs_porcupine")
    parser.add_argument("folder", type=Path, help="folder of kv (EDN) or etcd (Jepsen) logs")
    parser.add_argument("--porcupine-bin", type=Path, required=True, help="the Go program")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per check")
    parser.add_argument("--model", choices=("kv", "etcd"), default="kv", help="default kv")
    parser.add_argument("--glob", help="which files (default *.edn for kv, *.log for etcd)")
    parser.add_argument("--no-parallel", action="store_true", help="skip the default-workers run")
    parser.add_argument(
        "--repeat", type=int, default=1,
        help="run each side N times and keep the fastest (for files checked in milliseconds)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    pattern = args.glob or ("*.edn" if args.model == "kv" else "*.log")
    paths = sorted(args.folder.glob(pattern))
    if not paths:
        print(f"error: no {pattern} files in {args.folder}", file=sys.stderr)
        return 2
    if not os.access(args.porcupine_bin, os.X_OK):
        print(f"error: --porcupine-bin {args.porcupine_bin} is not an executable", file=sys.stderr)
        return 2
    model = make_model("kv", HARD_KV_INIT) if args.model == "kv" else make_model("cas-register")
    file_format: Format = "edn" if args.model == "kv" else "jepsen-log"
    print(
        f"# {args.folder}: {len(paths)} files, model {args.model}, time limit {args.time_limit} s"
    )
    print(f"# load average before: {_load()}")
    header = (
        "file", "ops", "ours", "porcupine", "ours 1w s", "ours s", "porcupine s",
        "ratio 1w", "ratio", "our configs", "porcupine configs",
        "ours 1w cpu s", "porcupine cpu s", "cpu ratio 1w", "load",
    )  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|---|" + "|".join("---:" for _ in header[1:]) + "|")
    differ: list[str] = []
    for path in paths:
        try:
            runs = [
                run_porcupine(args.porcupine_bin, path, args.time_limit, args.model)
                for _ in range(max(1, args.repeat))
            ]
            theirs = min(runs, key=lambda run: run.seconds)
        except (ValueError, subprocess.TimeoutExpired) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        history = load_history(path, file_format)
        one, one_cpu = _fastest(args.repeat, model, history, args.time_limit, 1)
        auto = (
            one if args.no_parallel else _fastest(args.repeat, model, history, args.time_limit)[0]
        )
        for result in (one, auto):
            if not agree(theirs.verdict, result.verdict):
                differ.append(f"{path.name} ({result.verdict.value}, Porcupine {theirs.verdict})")
        row = (
            path.name,
            str(len(history.operations)),
            _verdicts(one.verdict, auto.verdict),
            theirs.verdict,
            f"{one.time_s:.3f}",
            f"{auto.time_s:.3f}",
            f"{theirs.seconds:.3f}",
            _ratio(one.time_s, theirs.seconds),
            _ratio(auto.time_s, theirs.seconds),
            str(sum(r.explored for r in one.results)),
            str(theirs.configs),
            f"{one_cpu:.3f}",
            f"{theirs.cpu_s:.3f}",
            _ratio(one_cpu, theirs.cpu_s),
            _load().split()[0],
        )
        print("| " + " | ".join(row) + " |", flush=True)
    print(f"# load average after: {_load()}")
    listed = ": " + ", ".join(differ) if differ else ""
    print(f"# verdicts that differ: {len(differ)}{listed}")
    return 1 if differ else 0


def _fastest(
    repeat: int, model: Model, history: History, time_limit: float, workers: int | None = None
) -> tuple[CheckResult, float]:
    """The fastest of ``repeat`` checks (at least one; ``workers`` ``None``: the default)
    and the CPU time of this process during it (without the workers' CPU)."""
    runs = []
    for _ in range(max(1, repeat)):
        started = time.process_time()
        result = check(model, history, time_limit, workers=workers)
        runs.append((result, time.process_time() - started))
    return min(runs, key=lambda run: run[0].time_s)


def _verdicts(one: Verdict, auto: Verdict) -> str:
    return one.value if one is auto else f"{one.value}/{auto.value}"


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}" if theirs > 0 else "-"


def _load() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return " ".join(f"{x:.2f}" for x in load)


if __name__ == "__main__":
    sys.exit(main())
