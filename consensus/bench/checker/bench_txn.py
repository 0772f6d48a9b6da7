"""Benchmark the list-append checker: ``python -m consensus.bench.checker.bench_txn``.

Generates strict-serializable list-append histories of ``--txns`` transactions by
``--processes`` concurrent clients: each transaction takes effect atomically at one
moment between its invoke and its completion, on an in-memory list store; keys are
Jepsen's independent keys (``--keys`` live, each retired after ``--ops-per-key``
transactions, so lists stay short, as the runner's ``list-append`` workload does).
``--plant`` erases one acknowledged append from every read (a lost write), so the
history must come out invalid. Prints one row per history: transactions, events,
generation and check seconds, CPU seconds of the check, the verdict. A script, not a
test: timings depend on the machine, whose load is printed.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from typing import Any

import attrs

from jepsen_lite.history.ops import Event, EventType, History, freeze
from jepsen_lite.history.pairing import pair_events
from jepsen_lite.runner.api import TestSpec
from jepsen_lite.runner.workloads.list_append import ListAppendWorkload
from jepsen_lite.txn import check_list_append


def generate(txns: int, processes: int, keys: int, ops_per_key: int, seed: int) -> History:
    """A concurrent, strict-serializable list-append history (see the module doc)."""
    rng = random.Random(seed)
    generator = ListAppendWorkload().generator(rng, TestSpec(keys=keys, ops_per_key=ops_per_key))
    store: dict[Any, list[Any]] = {}
    events: list[Event] = []
    running: dict[int, tuple[Any, bool]] = {}  # process -> (ops, applied?)
    started = 0
    while started < txns or running:
        idle = [p for p in range(processes) if p not in running]
        if idle and started < txns and (not running or rng.random() < 0.5):
            process = rng.choice(idle)
            op = generator.next(process, 0.0)
            assert op is not None
            events.append(Event(process, EventType.INVOKE, "txn", op.value))
            running[process] = (op.value, False)
            started += 1
            continue
        process = rng.choice(list(running))
        ops, applied = running[process]
        if not applied:  # the moment it takes effect
            done = []
            for f, key, value in ops:
                if f == "append":
                    store.setdefault(key, []).append(value)
                    done.append((f, key, value))
                else:
                    done.append((f, key, tuple(store.get(key, ()))))
            running[process] = (tuple(done), True)
            continue
        events.append(Event(process, EventType.OK, "txn", freeze(ops)))
        del running[process]
    return pair_events(events)


def erase_append(history: History, key: Any, value: Any) -> History:
    """``history`` with ``value`` removed from every read of ``key``: the append of it
    acknowledged and then lost."""
    ops = []
    for op in history.operations:
        steps: Any = op.output
        out = tuple(
            (f, k, tuple(x for x in vs if x != value)) if f == "r" and k == key else (f, k, vs)
            for f, k, vs in steps
        )
        ops.append(attrs.evolve(op, output=out))
    return attrs.evolve(history, operations=tuple(ops))


def plant_lost_append(history: History, rng: random.Random) -> History:
    """Erase one append that some read saw from every read of its key."""
    outputs: list[Any] = [op.output for op in history.operations]
    seen = [(k, v) for out in outputs for f, k, vs in out if f == "r" for v in vs]
    key, value = rng.choice(seen)
    return erase_append(history, key, value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consensus.bench.checker.bench_txn")
    parser.add_argument("--txns", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--processes", type=int, default=10)
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--ops-per-key", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--plant", action="store_true", help="plant one lost append")
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f}; {args.processes} processes, "
          f"{args.keys} keys live, {args.ops_per_key} txns per key")  # fmt: skip
    print(f"{'txns':>8} {'events':>8} {'gen s':>7} {'check s':>8} {'cpu s':>7}  verdict")
    for n in args.txns:
        t0 = time.perf_counter()
        history = generate(n, args.processes, args.keys, args.ops_per_key, args.seed)
        if args.plant:
            history = plant_lost_append(history, random.Random(args.seed))
        t1, c1 = time.perf_counter(), time.process_time()
        result = check_list_append(history)
        t2, c2 = time.perf_counter(), time.process_time()
        print(f"{n:>8} {2 * len(history.operations):>8} {t1 - t0:>7.2f} {t2 - t1:>8.2f} "
              f"{c2 - c1:>7.2f}  {result.summary()}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
