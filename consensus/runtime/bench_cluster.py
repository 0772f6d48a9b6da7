"""Benchmark a local 3-node cluster of real processes (not a test; prints figures).

    python -m consensus.runtime.bench_cluster [--protocol raft] [--seconds 5]
        [--writes 2000] [--clients 64] [--connections N ...] [--rounds 3]
        [--failovers 5] [--data-dir DIR] [--memory]
    python -m consensus.runtime.bench_cluster --kv-ops [--protocol raft ...] [--writes 500]
        [--clients 32] [--connections N] [--seconds 3]

Measures, with every node on its own durable data dir (fsync on when the storage is
durable; the report says which storage ran):

1. sequential writes from one client: latency p50/p99;
2. ``--clients`` concurrent clients (each its own session) for ``--seconds``, sharing
   ``--connections`` pipelined connections, once per value given (default: all over
   one connection, then one connection each):
   throughput, latency p50/p99, and the CPU time every process spent per write (node
   processes from ``/proc``, the client from ``time.process_time``), which a busy
   machine disturbs much less than throughput;
3. unavailability after SIGKILL of the leader: time from the kill to the first write
   that succeeds after it, ``--failovers`` times (the killed node is restarted and
   caught up in between); median and all samples.

With ``--kv-ops`` it runs instead, on the same cluster, per key-value operation (``put``;
``cas`` on the value just written, always succeeding; a 4-key ``txn`` comparing 4 values
whose success branch puts 4 keys; a linearizable ``get``; a ``get-lease``
(``consistency="lease"``; the cluster file sets ``lease_reads = true``) and a
``get-stale`` (answered by the first endpoint, whichever role it has)): ``--writes``
sequential operations by one client (latency p50/p99), then ``--clients`` sessions in a
closed loop for ``--seconds`` over ``--connections`` connections (default 1;
throughput, p50/p99). ``--protocol`` may be given more than once (``--kv-ops`` only):
each protocol gets its own fresh cluster, one after the other, in one run. It prints a
table per protocol, then the JSON report of each on one line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from statemachines.kv_commands import Put, compare

from ..client import Client, ClientError, KvClient, KvSession
from ..client.protocol import Consistency
from .local import LocalCluster, write_cluster_file


def fsync_probe(directory: Path, count: int = 200) -> float:
    """Median latency in ms of appending 100 bytes and fdatasync-ing, in ``directory``:
    the floor under any durable write on this machine right now."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    samples = []
    try:
        for _ in range(count):
            os.write(fd, b"x" * 100)
            start = time.perf_counter()
            getattr(os, "fdatasync", os.fsync)(fd)
            samples.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(samples) * 1e3


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def find_leader(endpoints: list[str], timeout_s: float = 10.0) -> int:
    deadline = trio.current_time() + timeout_s
    async with Client(endpoints, timeout_s=0.5, attempt_timeout_s=0.5) as client:
        while trio.current_time() < deadline:
            for endpoint in endpoints:
                try:
                    st = await client.status(endpoint)
                except ClientError:
                    continue
                if st.role == "leader":
                    return st.node_id
            await trio.sleep(0.02)
    raise RuntimeError("no leader")


async def sequential(endpoints: list[str], writes: int) -> dict[str, Any]:
    latencies: list[float] = []
    async with KvClient(endpoints) as kv:
        for i in range(50):  # warm up
            await kv.put(f"warm-{i}", b"x")
        for i in range(writes):
            start = time.perf_counter()
            await kv.put(f"seq-{i % 100}", b"v" * 16)
            latencies.append(time.perf_counter() - start)
    return {
        "writes": writes,
        "p50_ms": percentile(latencies, 0.5) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
    }


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (None off Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def concurrent(
    endpoints: list[str],
    clients: int,
    seconds: float,
    connections: int,
    nodes: dict[str, int] | None = None,
) -> dict[str, Any]:
    """``clients`` sessions writing in a closed loop over ``connections`` connections for
    ``seconds`` (after a warm-up); ``nodes`` maps a role name to a process id whose CPU
    time to count."""
    latencies: list[float] = []
    done = 0
    measuring = False
    stop_at = 0.0

    async def worker(kv: KvClient, n: int) -> None:
        nonlocal done
        session = kv.session()
        await session.put(f"c{n}", b"warm")
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            await session.put(f"c{n}-{done % 64}", b"v" * 16)
            if measuring:
                latencies.append(time.perf_counter() - start)
                done += 1

    async def connection(n: int) -> None:
        async with KvClient(endpoints) as kv, trio.open_nursery() as nursery:
            for c in range(n, clients, connections):
                nursery.start_soon(worker, kv, c)

    nodes = nodes or {}
    stop_at = time.perf_counter() + seconds + 1.0
    async with trio.open_nursery() as nursery:
        for n in range(min(connections, clients)):
            nursery.start_soon(connection, n)
        await trio.sleep(1.0)  # warm-up: connections, sessions, leader found
        measuring = True
        begin = time.perf_counter()
        cpu_before = {role: process_cpu_s(pid) for role, pid in nodes.items()}
        client_before = time.process_time()
    elapsed = time.perf_counter() - begin
    client_cpu = time.process_time() - client_before
    cpu_us: dict[str, float] = {}
    for role, pid in nodes.items():
        before, after = cpu_before[role], process_cpu_s(pid)
        if before is not None and after is not None and done:
            cpu_us[role] = (after - before) / done * 1e6
    if done:
        cpu_us["client"] = client_cpu / done * 1e6
        cpu_us["total"] = sum(cpu_us.values())
    return {
        "clients": clients,
        "connections": min(connections, clients),
        "seconds": round(elapsed, 2),
        "writes": done,
        "throughput_per_s": done / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
        "cpu_us_per_write": {k: round(v, 1) for k, v in cpu_us.items()},
    }


async def failover_once(cluster: LocalCluster, endpoints: list[str]) -> float:
    leader = await find_leader(endpoints)
    async with KvClient(
        endpoints, timeout_s=30, attempt_timeout_s=0.3, connect_timeout_s=0.3
    ) as kv:
        await kv.put("failover", b"before")
        killed_at = time.perf_counter()
        cluster.kill(leader)
        await kv.put("failover", b"after")
        unavailable = time.perf_counter() - killed_at
    cluster.start(leader)
    await trio.to_thread.run_sync(cluster.wait_ready, [leader])
    await trio.sleep(1.0)  # let it catch up before the next round
    return unavailable


KV_OPS = ("put", "cas", "txn", "get", "get-lease", "get-stale")
VALUE = b"v" * 16


class KvOp:
    """One kind of operation, on keys of its own: ``prepare`` once per session (outside
    timing), then ``run`` repeatedly; every ``run`` of ``cas`` and ``txn`` must succeed."""

    def __init__(self, op: str, session: KvSession, prefix: str) -> None:
        if op not in KV_OPS:
            raise ValueError(f"unknown op {op!r}; one of {KV_OPS}")
        self.op, self.session, self.prefix = op, session, prefix
        self.keys = [f"{prefix}-{i}" for i in range(4)]
        self.values = [VALUE] * 4
        self.n = 0

    async def prepare(self) -> None:
        for key in self.keys:
            await self.session.put(key, VALUE)
        if self.op == "get-stale":  # the first endpoint may be a follower: let it catch up
            while await self.session.get(self.keys[0], consistency="stale") != VALUE:
                await trio.sleep(0.01)

    async def run(self) -> None:
        self.n += 1
        new = b"%016d" % self.n
        if self.op == "put":
            await self.session.put(self.keys[0], new)
        elif self.op == "cas":
            result = await self.session.cas(self.keys[0], new, expected_value=self.values[0])
            if not result.applied:
                raise RuntimeError(f"cas did not apply: {result}")
            self.values[0] = new
        elif self.op == "txn":
            txn = await self.session.txn(
                [compare(k, "value", "=", v) for k, v in zip(self.keys, self.values, strict=True)],
                [Put(k, new) for k in self.keys],
            )
            if not txn.succeeded:
                raise RuntimeError(f"txn did not succeed: {txn}")
            self.values = [new] * 4
        else:  # a get: linearizable, lease or stale
            mode: Consistency = (
                "lease"
                if self.op == "get-lease"
                else "stale"
                if self.op == "get-stale"
                else "linearizable"
            )
            if await self.session.get(self.keys[0], consistency=mode) != VALUE:
                raise RuntimeError(f"{self.op} read an unexpected value")


async def kv_sequential(endpoints: list[str], op: str, count: int) -> dict[str, Any]:
    latencies: list[float] = []
    async with KvClient(endpoints) as kv:
        runner = KvOp(op, kv.session(), f"seq-{op}")
        await runner.prepare()
        for _ in range(min(20, count)):  # warm up
            await runner.run()
        for _ in range(count):
            start = time.perf_counter()
            await runner.run()
            latencies.append(time.perf_counter() - start)
    return {
        "ops": count,
        "p50_ms": percentile(latencies, 0.5) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
    }


async def kv_concurrent(
    endpoints: list[str], op: str, clients: int, seconds: float, connections: int
) -> dict[str, Any]:
    """``clients`` sessions running ``op`` in a closed loop for ``seconds`` (each on its
    own keys, after a warm-up), over ``connections`` connections."""
    latencies: list[float] = []
    measuring = False
    begin = 0.0
    stop_at = float("inf")
    warmup_s = min(1.0, seconds)

    async def worker(kv: KvClient, n: int) -> None:
        runner = KvOp(op, kv.session(), f"c-{op}-{n}")
        await runner.prepare()
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            await runner.run()
            if measuring:
                latencies.append(time.perf_counter() - start)

    async def connection(n: int) -> None:
        async with KvClient(endpoints) as kv, trio.open_nursery() as nursery:
            for c in range(n, clients, connections):
                nursery.start_soon(worker, kv, c)

    stop_at = time.perf_counter() + warmup_s + seconds + 10.0  # until set below
    async with trio.open_nursery() as nursery:
        for n in range(min(connections, clients)):
            nursery.start_soon(connection, n)
        await trio.sleep(warmup_s)  # warm-up: connections, sessions, keys written
        measuring = True
        begin = time.perf_counter()
        stop_at = begin + seconds
    elapsed = time.perf_counter() - begin
    done = len(latencies)
    return {
        "clients": clients,
        "connections": min(connections, clients),
        "seconds": round(elapsed, 2),
        "ops": done,
        "throughput_per_s": done / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1e3 if done else float("nan"),
        "p99_ms": percentile(latencies, 0.99) * 1e3 if done else float("nan"),
    }


async def kv_ops(args: argparse.Namespace, endpoints: list[str]) -> dict[str, Any]:
    connections = (args.connections or [1])[0]
    results: dict[str, Any] = {}
    for op in KV_OPS:
        seq = await kv_sequential(endpoints, op, args.writes)
        conc = await kv_concurrent(endpoints, op, args.clients, args.seconds, connections)
        results[op] = {
            "sequential": {k: round(v, 3) if isinstance(v, float) else v for k, v in seq.items()},
            "concurrent": {k: round(v, 3) if isinstance(v, float) else v for k, v in conc.items()},
        }
    return results


def kv_table(report: dict[str, Any]) -> str:
    first = next(iter(report["kv_ops"].values()))
    seq, conc = first["sequential"], first["concurrent"]
    lines = [
        f"{report['protocol']}, {report['storage']}; sequential: {seq['ops']} ops by one "
        f"client; concurrent: {conc['clients']} sessions over {conc['connections']} "
        f"connection(s), ~{conc['seconds']} s",
        "| op | seq p50 ms | seq p99 ms | conc ops/s | conc p50 ms | conc p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for op, r in report["kv_ops"].items():
        s, c = r["sequential"], r["concurrent"]
        lines.append(
            f"| {op} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {c['throughput_per_s']:.0f} "
            f"| {c['p50_ms']:.2f} | {c['p99_ms']:.2f} |"
        )
    return "\n".join(lines)


async def bench(args: argparse.Namespace, data_dir: Path, protocol: str) -> dict[str, Any]:
    data_dir.mkdir(parents=True, exist_ok=True)
    conditions = {
        "load_average_1m_before": os.getloadavg()[0],
        "fdatasync_p50_ms_before": fsync_probe(data_dir),
    }
    path = write_cluster_file(
        data_dir,
        3,
        protocol=protocol,
        cluster_id="bench",
        durable=not args.memory,
        extra="lease_reads = true" if args.kv_ops else "",
    )
    cluster = LocalCluster(path, log_level="info")
    cluster.start_all()
    endpoints = [cluster.endpoints[n] for n in sorted(cluster.endpoints)]
    try:
        await find_leader(endpoints)
        durable = "durable (FileStorage, fsync on)" if _durable(data_dir) else "memory (no fsync)"
        report: dict[str, Any] = {
            "protocol": protocol,
            "storage": durable,
            "conditions": conditions,
        }
        if args.kv_ops:
            report["kv_ops"] = await kv_ops(args, endpoints)
            conditions["load_average_1m_after"] = os.getloadavg()[0]
            conditions["fdatasync_p50_ms_after"] = fsync_probe(data_dir)
            return report
        seq = [await sequential(endpoints, args.writes) for _ in range(args.rounds)]
        report["sequential"] = _medians(seq)
        for connections in args.connections or [1, args.clients]:
            conc = []
            for _ in range(args.rounds):
                leader = await find_leader(endpoints)
                followers = sorted(n for n in cluster.processes if n != leader)
                nodes = {"leader": cluster.processes[leader].pid}
                for i, n in enumerate(followers, 1):
                    nodes[f"follower-{i}"] = cluster.processes[n].pid
                conc.append(
                    await concurrent(endpoints, args.clients, args.seconds, connections, nodes)
                )
            report[f"concurrent_{connections}_connections"] = _medians(conc)
        samples = [await failover_once(cluster, endpoints) for _ in range(args.failovers)]
        report["failover"] = {
            "median_ms": statistics.median(samples) * 1e3,
            "samples_ms": [round(s * 1e3, 1) for s in samples],
        }
        conditions["load_average_1m_after"] = os.getloadavg()[0]
        conditions["fdatasync_p50_ms_after"] = fsync_probe(data_dir)
        return report
    finally:
        cluster.stop_all()


def _medians(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over the rounds, and every round's figures."""
    keys = [k for k in rounds[0] if k.endswith(("_ms", "_per_s"))]
    summary: dict[str, Any] = {
        f"median_{k}": round(statistics.median(r[k] for r in rounds), 3) for k in keys
    }
    if "cpu_us_per_write" in rounds[0]:
        summary["median_cpu_us_per_write"] = {
            role: round(statistics.median(r["cpu_us_per_write"].get(role, 0.0) for r in rounds), 1)
            for role in rounds[0]["cpu_us_per_write"]
        }
    summary["rounds"] = [
        {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in rounds
    ]
    return summary


def _durable(data_dir: Path) -> bool:
    for log in data_dir.glob("node-*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if '"node started"' in line:
                return '"durable": true' in line
    return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--protocol",
        action="append",
        choices=["raft", "multipaxos"],
        help="the protocol (default raft); repeatable with --kv-ops: one cluster each",
    )
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument(
        "--connections",
        type=int,
        action="append",
        help="connections the clients share (repeatable; default: 1, then one per client)",
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--failovers", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="repeat phases 1-2; medians")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument(
        "--memory",
        action="store_true",
        help="in-memory storage (no fsync): separates CPU from disk costs",
    )
    parser.add_argument(
        "--kv-ops",
        action="store_true",
        help="instead: latency and throughput of put, cas, 4-key txn and a get "
        "(linearizable, lease, stale)",
    )
    args = parser.parse_args(argv)
    protocols: list[str] = args.protocol or ["raft"]
    if len(protocols) > 1 and not args.kv_ops:
        parser.error("--protocol more than once needs --kv-ops")
    reports = []
    for protocol in protocols:
        if args.data_dir is not None:
            reports.append(trio.run(bench, args, args.data_dir / protocol, protocol))
        else:
            with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
                reports.append(trio.run(bench, args, Path(tmp), protocol))
    for report in reports:
        if args.kv_ops:
            print(kv_table(report))
            print(json.dumps(report))
        else:
            print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
