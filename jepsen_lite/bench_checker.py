"""Benchmark the linearizability checker: ``python -m jepsen_lite.bench_checker``.

Generates histories by simulating a concurrent run against a cas-register (or register)
per key, with some ``info`` (crashed) and ``fail`` operations, for every combination of
history length, key count and concurrency, checks each with a time limit, and prints a
table of check times. A combination that runs out of time is reported ``unknown``, not
hidden. This is a script, not a test: timings depend on the machine.

Columns: ``wall s`` is the checking time (``CheckResult.time_s``: preparation and search,
not simulation or process start-up), ``cpu s`` the CPU time of this process (``+``: worker
processes also ran, their CPU is not counted), ``configs`` the configurations the search
cached (its work), ``note`` why a verdict is unknown.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import random
import sys
import time

from .checker.check import check
from .history.pairing import pair_events
from .history.simulate import SimConfig, simulate
from .models import make_model

LENGTHS = (1_000, 10_000, 100_000)
KEYS = (1, 10, 100)
PROCESSES = (5, 10, 50)


def main(argv: list[str] | None = None) -> int:
    """Run the grid (or a subset) and print one table row per history."""
    parser = argparse.ArgumentParser(prog="python -m jepsen_lite.bench_checker")
    parser.add_argument("--model", choices=("cas-register", "register"), default="cas-register")
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--keys", type=int, nargs="+", default=list(KEYS))
    parser.add_argument("--processes", type=int, nargs="+", default=list(PROCESSES))
    parser.add_argument("--info-rate", type=float, default=0.01)
    parser.add_argument("--fail-rate", type=float, default=0.02)
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per history")
    parser.add_argument("--workers", type=int, default=None, help="default: auto")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    model = make_model(args.model)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# {args.model}, info rate {args.info_rate}, fail rate {args.fail_rate}, "
          f"time limit {args.time_limit} s, seed {args.seed}")  # fmt: skip
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# {platform.python_implementation()} {platform.python_version()}, "
          f"{cpus} CPUs, {platform.machine()}, load average {load:.1f}")  # fmt: skip
    header = (
        "ops", "keys", "procs", "checked", "verdict", "wall s", "cpu s", "us/op",
        "configs", "mode", "note",
    )  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" for _ in header) + "|")
    for length, keys, procs in itertools.product(args.lengths, args.keys, args.processes):
        config = SimConfig(
            model=args.model,
            operations=length,
            processes=procs,
            keys=keys,
            values=5,
            info_rate=args.info_rate,
            fail_rate=args.fail_rate,
        )
        history = pair_events(simulate(config, random.Random(args.seed)))
        cpu_started = time.process_time()
        result = check(model, history, args.time_limit, workers=args.workers)
        cpu = time.process_time() - cpu_started
        row = (
            str(length),
            str(keys),
            str(procs),
            str(result.checked_operations),
            result.verdict.value,
            f"{result.time_s:.3f}",
            f"{cpu:.3f}" + ("+" if result.parallel else ""),
            f"{result.time_s / length * 1e6:.1f}",
            str(sum(r.explored for r in result.results)),
            "parallel" if result.parallel else "sequential",
            next((r.reason for r in result.results if r.reason), ""),
        )
        print("| " + " | ".join(row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
