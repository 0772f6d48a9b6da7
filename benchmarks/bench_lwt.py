"""Raft, Multi-Paxos and paxos-lwt side by side on 3 local node processes, fsync on: the
latency and throughput of a conditional write, on 1 key (every client on the same key:
contended for paxos-lwt) and on 10,000 keys (uncontended). Not a test; prints figures.

Per protocol, one durable cluster (``consensus serve`` processes, each on its own data
dir: ``FileStorage``, ``PaxosFileStorage``, ``LwtFileStorage``) runs, in this order:

1. ``sequential``: one client, ``--ops`` operations one at a time: p50/p99 latency;
2. ``concurrent``: ``--clients`` sessions in a closed loop for ``--seconds`` (after a
   1 s warm-up), spread over the three nodes' client ports (a leader-based protocol
   redirects them to its leader): throughput, p50/p99 latency, and the operations that
   failed (``ClientError``: timed out; for paxos-lwt, rounds that kept losing to other
   coordinators until the client gave up).

Each of both is run on ``1 key`` and on ``10,000 keys`` (a key drawn per operation).
The operation is a ``put`` whose round reads and writes the key (for paxos-lwt it is one
per-key Paxos round of two round trips; for Raft and Multi-Paxos one log entry); with
``--op cas`` a read then a ``cas`` expecting what was read (a failed condition counts as
done).

Run: ``python benchmarks/bench_lwt.py [--seconds 4] [--clients 32] [--ops 300]``. The
machine is shared: read the figures as ratios between protocols run minutes apart, with
the load average printed next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from consensus.client import ClientError, KvClient, KvSession
from consensus.runtime.bench_cluster import find_leader, fsync_probe, percentile
from consensus.runtime.local import LocalCluster, write_cluster_file

PROTOCOLS = ("raft", "multipaxos", "paxos-lwt")
KEY_COUNTS = (1, 10_000)


async def _one(session: KvSession, op: str, key: str, value: bytes) -> None:
    if op == "put":
        await session.put(key, value)
        return
    kv = await session.get_kv(key)
    if kv is None:
        await session.put_if_absent(key, value)
    else:
        await session.cas(key, value, expected_value=kv.value)


async def wait_ready(protocol: str, endpoints: list[str]) -> None:
    if protocol != "paxos-lwt":
        await find_leader(endpoints)
    async with KvClient(endpoints, timeout_s=15) as kv:
        await kv.put("ready", b"1")


async def sequential(endpoints: list[str], op: str, keys: int, ops: int) -> dict[str, Any]:
    rng = random.Random(1)
    latencies = []
    async with KvClient(endpoints) as kv:
        session = kv.session()
        for _ in range(20):
            await _one(session, op, f"k{rng.randrange(keys)}", b"warm")
        for i in range(ops):
            start = time.perf_counter()
            await _one(session, op, f"k{rng.randrange(keys)}", b"v%d" % i)
            latencies.append(time.perf_counter() - start)
    return {
        "ops": ops,
        "p50_ms": round(percentile(latencies, 0.5) * 1e3, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1e3, 2),
    }


async def concurrent(
    endpoints: list[str], op: str, keys: int, clients: int, seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    failed = 0
    done = 0
    measuring = False
    stop_at = time.perf_counter() + seconds + 1.0

    async def worker(n: int) -> None:
        nonlocal done, failed
        rng = random.Random(n)
        mine = endpoints[n % len(endpoints) :] + endpoints[: n % len(endpoints)]
        async with KvClient(mine, timeout_s=5) as kv:
            session = kv.session()
            while time.perf_counter() < stop_at:
                start = time.perf_counter()
                try:
                    await _one(session, op, f"k{rng.randrange(keys)}", b"c%d" % n)
                except ClientError:
                    if measuring:
                        failed += 1
                    continue
                if measuring:
                    latencies.append(time.perf_counter() - start)
                    done += 1

    async with trio.open_nursery() as nursery:
        for n in range(clients):
            nursery.start_soon(worker, n)
        await trio.sleep(1.0)
        measuring = True
        begin = time.perf_counter()
    elapsed = time.perf_counter() - begin
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "ops": done,
        "failed": failed,
        "throughput_per_s": round(done / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.5) * 1e3, 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99) * 1e3, 2) if latencies else None,
    }


async def bench_protocol(protocol: str, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    data_dir = root / protocol
    path = write_cluster_file(data_dir, 3, protocol=protocol, cluster_id="bench-lwt")
    cluster = LocalCluster(path, log_level="warning")
    cluster.start_all()
    endpoints = [cluster.endpoints[n] for n in sorted(cluster.endpoints)]
    report: dict[str, Any] = {"load_average_1m_before": os.getloadavg()[0]}
    try:
        await wait_ready(protocol, endpoints)
        for keys in KEY_COUNTS:
            report[f"{keys}_keys"] = {
                "sequential": await sequential(endpoints, args.op, keys, args.ops),
                "concurrent": await concurrent(
                    endpoints, args.op, keys, args.clients, args.seconds
                ),
            }
    finally:
        cluster.stop_all()
    report["load_average_1m_after"] = os.getloadavg()[0]
    return report


def table(report: dict[str, Any]) -> str:
    lines = [
        f"3 node processes, fsync on (fdatasync p50 {report['fdatasync_p50_ms']:.2f} ms); "
        f"op {report['op']}; {report['clients']} clients for {report['seconds']} s",
        f"{'protocol':<11} {'keys':>6} | {'seq p50':>8} {'seq p99':>8} | {'ops/s':>8} "
        f"{'p50':>8} {'p99':>8} {'failed':>6} | load",
    ]
    for protocol in PROTOCOLS:
        r = report["protocols"].get(protocol)
        if r is None:
            continue
        for keys in KEY_COUNTS:
            s, c = r[f"{keys}_keys"]["sequential"], r[f"{keys}_keys"]["concurrent"]
            lines.append(
                f"{protocol:<11} {keys:>6} | {s['p50_ms']:>8} {s['p99_ms']:>8} | "
                f"{c['throughput_per_s']:>8} {c['p50_ms']!s:>8} {c['p99_ms']!s:>8} "
                f"{c['failed']:>6} | {r['load_average_1m_before']:.1f}-"
                f"{r['load_average_1m_after']:.1f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocols", default=",".join(PROTOCOLS))
    parser.add_argument("--op", choices=["put", "cas"], default="put")
    parser.add_argument("--ops", type=int, default=300, help="sequential operations")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args(argv)
    chosen = [p.strip() for p in args.protocols.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PROTOCOLS]
    if unknown:
        print(f"bench_lwt: error: unknown protocol {unknown[0]!r}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-lwt-") as tmp:
        root = Path(tmp)
        report: dict[str, Any] = {
            "fdatasync_p50_ms": fsync_probe(root),
            "op": args.op,
            "clients": args.clients,
            "seconds": args.seconds,
            "protocols": {},
        }
        for protocol in chosen:
            report["protocols"][protocol] = trio.run(bench_protocol, protocol, args, root)
    print(table(report))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
