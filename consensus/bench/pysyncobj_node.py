"""One PySyncObj node for the ``embedded`` suite (run as a process, never imported by it).

::

    python -m consensus.bench.pysyncobj_node --self 127.0.0.1:P1 --partners A2,A3
        --window W --seconds S --out FILE [--unbatched]

Runs a :class:`pysyncobj.SyncObj` with one ``ReplDict`` (PySyncObj's defaults: in
memory, no journal, so nothing is fsynced; ``--unbatched`` sets
``appendEntriesUseBatch=False``). Once a leader is known, the node that leads proposes
``set(key, 100-byte value)`` from its own process, keeping ``W`` proposals in flight for
``S`` seconds (a semaphore taken before each ``set`` and given back in its callback), and
writes one JSON object to ``FILE``: ``ops_per_s``, ``p50_ms``, ``p90_ms``, ``p99_ms``,
``p99.9_ms``, ``errors``, ``cpu_us_per_op`` (this process's CPU time only). A follower
waits until it is stopped (by pid, by the suite). Exits 3 if no leader within 20 s.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

from pysyncobj import SyncObj, SyncObjConf
from pysyncobj.batteries import ReplDict

from .latency import Latency

VALUE = b"v" * 100
KEYS = 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pysyncobj_node")
    parser.add_argument("--self", dest="self_addr", required=True)
    parser.add_argument("--partners", required=True)
    parser.add_argument("--window", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--unbatched", action="store_true")
    args = parser.parse_args(argv)

    conf = SyncObjConf()
    if args.unbatched:
        conf.appendEntriesUseBatch = False
    store = ReplDict()
    node = SyncObj(args.self_addr, args.partners.split(","), conf=conf, consumers=[store])
    deadline = time.monotonic() + 20.0
    while node._getLeader() is None:
        if time.monotonic() > deadline:
            return 3
        time.sleep(0.01)
    if not node._isLeader():
        while True:
            time.sleep(1.0)

    latency = Latency()
    window = threading.Semaphore(args.window)
    lock = threading.Lock()
    counts = {"done": 0, "errors": 0}

    def propose(i: int, stop_at: float) -> None:
        started = time.perf_counter()

        def done(result: object, error: object) -> None:
            with lock:
                if error == 0:  # FAIL_REASON.SUCCESS
                    latency.record(time.perf_counter() - started)
                    counts["done"] += 1
                else:
                    counts["errors"] += 1
            window.release()

        store.set(f"k{i % KEYS}", VALUE, callback=done)

    cpu0 = time.process_time()
    args.out.with_suffix(".start").write_text(str(os.getpid()))  # the suite reads CPU now
    start = time.perf_counter()
    stop_at = start + args.seconds
    i = 0
    while time.perf_counter() < stop_at:
        window.acquire()
        propose(i, stop_at)
        i += 1
    for _ in range(args.window):  # drain: every proposal answered (or timed out)
        window.acquire(timeout=10.0)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    figures = {k: v for k, v in latency.figures().items() if k not in ("max_ms", "mean_ms")}
    figures["ops_per_s"] = counts["done"] / elapsed
    figures["errors"] = float(counts["errors"])
    figures["cpu_us_per_op"] = cpu * 1e6 / counts["done"] if counts["done"] else 0.0
    figures["ops"] = float(counts["done"])
    figures["pid"] = float(os.getpid())
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(figures))
    tmp.rename(args.out)
    node.destroy()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
