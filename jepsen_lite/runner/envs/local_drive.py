"""Drive the local environment by hand (not a test; prints what it did):

    python -m jepsen_lite.runner.envs.local --smoke [--protocol raft] [--dir DIR]
    python -m jepsen_lite.runner.envs.local --soak SECONDS --seed N [--protocol raft]
        [--nodes 3] [--clients 6] [--faults kill,pause,partition,clock,packet] [--dir DIR]
    python -m jepsen_lite.runner.envs.local --bench N [--protocol raft]

``--smoke`` starts 3 nodes, writes and reads through a partition of the leader, a
kill and restart, a pause and a clock skew, checks that the replicas converge, and
stops. ``--soak`` runs ``--clients`` clients doing read / write / cas on a few
registers (fresh keys every 10 s, so each key's history stays small) while a seeded
nemesis applies one fault at a time; after the time it heals everything, checks
convergence and checks the history (``history.jsonl``, faults in ``faults.jsonl``) with
the linearizability checker (``cas-register``, per key). Exit status 0 when valid and
converged, 1 when not, 2 when the checker ran out of time. ``--bench`` measures start
and stop times of 3 and 5 nodes and compares ``N`` sequential put latencies of a
cluster whose node links go through the fault proxy with one whose nodes dial each
other directly (the two clusters run at the same time, batches alternating), with the
load average.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TextIO

import trio

from consensus.client import ClientError, KvError
from consensus.client.kv import KvSession
from jepsen_lite.checker import check
from jepsen_lite.checker.result import Verdict
from jepsen_lite.history import HistoryWriter, load_jsonl
from jepsen_lite.models import make_model

from ..api import Fault, NodeId, TestSpec, derive_rng
from .local import FAULTS, LocalCluster, open_local_cluster

Say = Callable[[str], None]


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


@contextlib.contextmanager
def run_dir(given: str | None, prefix: str, keep: bool) -> Iterator[Path]:
    """``given`` (created), else a temporary directory, removed at the end unless
    ``keep``."""
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        yield path
    elif keep:
        yield Path(tempfile.mkdtemp(prefix=prefix))
    else:
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            yield Path(tmp)


# -- smoke ----------------------------------------------------------------------------


async def smoke(protocol: str, directory: Path, say: Say) -> int:
    spec = TestSpec(env="local", nodes=3, protocol=protocol, seed=1)
    started = time.monotonic()
    async with open_local_cluster(spec, directory) as cluster:
        say(f"started 3 {protocol} nodes in {time.monotonic() - started:.2f} s ({directory})")
        async with cluster.session() as kv:
            await kv.put("a", b"1")
            say(f"put a=1, get a -> {await kv.get('a')!r}")
            leader = await cluster.leader()
            assert leader is not None
            others = [n for n in cluster.nodes if n != leader]
            await cluster.partition(
                frozenset({(leader, o) for o in others} | {(o, leader) for o in others})
            )
            say(f"partitioned leader {leader} from {others}")
            await kv.put("b", b"2")
            say(
                f"put b=2 during the partition, get b -> {await kv.get('b')!r}; "
                f"leader now {await cluster.leader()}"
            )
            await cluster.heal_network()
            say("healed the network")
            victim = others[0]
            await cluster.kill(victim)
            await kv.put("c", b"3")
            say(f"killed node {victim} (SIGKILL), put c=3")
            await cluster.restart(victim)
            say(f"restarted node {victim}, get c -> {await kv.get('c')!r}")
            paused = others[1]
            await cluster.pause(paused)
            await kv.put("d", b"4")
            say(f"paused node {paused} (SIGSTOP), put d=4")
            await cluster.resume(paused)
            await cluster.skew_clock(paused, 5000, 1.5)
            reading = await cluster.clock_reading(paused)
            say(
                f"resumed node {paused}; skewed its clock +5000 ms x1.5 -> offset {reading[1]:g} ms"
            )
            await cluster.reset_clock(paused)
            digests = await cluster.snapshots()
            same = len(set(digests.values())) == 1 and None not in digests.values()
            say(
                "snapshots: "
                + ", ".join(f"{n}:{d.hex()[:12] if d else None}" for n, d in digests.items())
                + (" (converged)" if same else " (DIFFER)")
            )
        stopping = time.monotonic()
    say(f"stopped every node in {time.monotonic() - stopping:.2f} s")
    return 0 if same else 1


# -- soak -----------------------------------------------------------------------------


class Soak:
    """Clients and a nemesis over one local cluster (see the module doc)."""

    def __init__(
        self, cluster: LocalCluster, seed: int, seconds: float, faults: list[str], out: Path
    ) -> None:
        self.cluster = cluster
        self.seconds = seconds
        self.faults = faults
        self.rng = derive_rng(seed, "soak-nemesis")
        self.seed = seed
        self.history = HistoryWriter.open(out / "history.jsonl")
        self.fault_log: TextIO = (out / "faults.jsonl").open("w")  # closed by close()
        self.processes = itertools.count(1)
        self.values = itertools.count(1)
        self.counts: dict[str, int] = {"ok": 0, "fail": 0, "info": 0}
        self.by_f: dict[str, int] = {}
        self.fault_counts: dict[str, int] = {}
        self.stop_at = 0.0

    def close(self) -> None:
        self.history.close()
        self.fault_log.close()

    def key(self, rng: random.Random) -> str:
        return f"r{int(self.cluster.now() // 10)}-{rng.randrange(4)}"

    async def client(self, index: int) -> None:
        rng = derive_rng(self.seed, f"soak-client-{index}")
        process = next(self.processes)
        seen: dict[str, int] = {}
        async with self.cluster.session() as kv:
            while self.cluster.now() < self.stop_at:
                key = self.key(rng)
                roll = rng.random()
                if roll < 0.4:
                    f, outcome = "read", await self.read(kv, process, key, seen)
                elif roll < 0.8:
                    value = next(self.values)
                    f, outcome = "write", await self.write(kv, process, key, value)
                    seen[key] = value
                else:  # expect the last value this client saw: a fair chance to apply
                    new = next(self.values)
                    f, outcome = "cas", await self.cas(kv, process, key, seen.get(key, 0), new)
                    if outcome == "ok":
                        seen[key] = new
                self.counts[outcome] += 1
                self.by_f[f"{f} {outcome}"] = self.by_f.get(f"{f} {outcome}", 0) + 1
                if outcome == "info":  # retired: a new process takes its place
                    process = next(self.processes)

    async def read(self, kv: KvSession, process: int, key: str, seen: dict[str, int]) -> str:
        self.history.invoke(process, "read", None, key=key)
        try:
            got = await kv.get(key)
        except ClientError:
            self.history.fail(process, "read", None, key=key)  # a read changes nothing
            return "fail"
        value = None if got is None else int(got)
        if value is not None:
            seen[key] = value
        self.history.ok(process, "read", value, key=key)
        return "ok"

    async def write(self, kv: KvSession, process: int, key: str, value: int) -> str:
        self.history.invoke(process, "write", value, key=key)
        try:
            await kv.put(key, str(value).encode())
        except KvError:
            self.history.fail(process, "write", value, key=key)
            return "fail"
        except ClientError:
            self.history.info(process, "write", value, key=key)
            return "info"
        self.history.ok(process, "write", value, key=key)
        return "ok"

    async def cas(self, kv: KvSession, process: int, key: str, expected: int, new: int) -> str:
        pair = (expected, new)
        self.history.invoke(process, "cas", pair, key=key)
        try:
            result = await kv.cas(key, str(new).encode(), expected_value=str(expected).encode())
        except KvError:
            self.history.fail(process, "cas", pair, key=key)
            return "fail"
        except ClientError:
            self.history.info(process, "cas", pair, key=key)
            return "info"
        if result.applied:
            self.history.ok(process, "cas", pair, key=key)
            return "ok"
        self.history.fail(process, "cas", pair, key=key)
        return "fail"

    def note(self, event: str, fault: str, detail: object) -> None:
        line = {"time_s": round(self.cluster.now(), 3), "event": event, "fault": fault}
        line["detail"] = detail
        self.fault_log.write(json.dumps(line) + "\n")
        self.fault_log.flush()

    async def nemesis(self) -> None:
        rng = self.rng
        cluster = self.cluster
        while cluster.now() < self.stop_at - 3.0:
            await trio.sleep(rng.uniform(1.0, 2.5))
            kind = rng.choice(self.faults)
            hold = rng.uniform(1.0, 3.0)
            node = rng.choice(cluster.nodes)
            if kind in ("kill", "pause", "partition") and rng.random() < 0.5:
                node = await cluster.leader() or node
            self.fault_counts[kind] = self.fault_counts.get(kind, 0) + 1
            if kind == "kill":
                self.note("start", kind, node)
                await cluster.kill(node)
                await trio.sleep(hold)
                await cluster.restart(node)
            elif kind == "pause":
                self.note("start", kind, node)
                await cluster.pause(node)
                await trio.sleep(hold)
                await cluster.resume(node)
            elif kind == "partition":
                blocked = self.partition_shape(rng, node)
                self.note("start", kind, sorted(blocked))
                await cluster.partition(blocked)
                await trio.sleep(hold)
                await cluster.heal_network()
            elif kind == "clock":
                offset, rate = rng.uniform(-5000, 5000), rng.choice([0.5, 0.8, 1.25, 2.0])
                self.note("start", kind, [node, round(offset), rate])
                await cluster.skew_clock(node, offset, rate)
                await trio.sleep(hold)
                await cluster.reset_clock(node)
            elif kind == "packet":
                shape = rng.choice(["loss", "duplicate", "delay", "reorder"])
                params = {"loss": {"p": 0.2}, "duplicate": {"p": 0.2}, "reorder": {"p": 0.3}}
                fault = Fault("packet", shape, params=params.get(shape, {"delay_ms": 30.0}))
                self.note("start", kind, shape)
                await cluster.packet(fault)
                await trio.sleep(hold)
                await cluster.packet(None)
            self.note("end", kind, node)

    def partition_shape(self, rng: random.Random, node: NodeId) -> frozenset[tuple[int, int]]:
        nodes = list(self.cluster.nodes)
        if rng.random() < 0.5:  # isolate one node
            side = [node]
        else:  # random halves (a minority side)
            rng.shuffle(nodes)
            side = nodes[: (len(nodes) - 1) // 2 or 1]
        rest = [n for n in self.cluster.nodes if n not in side]
        return frozenset(
            {(a, b) for a in side for b in rest} | {(b, a) for a in side for b in rest}
        )

    async def run(self, clients: int) -> None:
        self.stop_at = self.cluster.now() + self.seconds
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.nemesis)
            for index in range(clients):
                nursery.start_soon(self.client, index)


async def soak(args: argparse.Namespace, directory: Path, say: Say) -> int:
    spec = TestSpec(
        env="local", nodes=args.nodes, protocol=args.protocol, seed=args.seed, name="soak"
    )
    faults = [f for f in args.faults.split(",") if f]
    unknown = sorted(set(faults) - FAULTS)
    if unknown or not faults:
        say(f"error: --faults takes some of {', '.join(sorted(FAULTS))}, got {args.faults!r}")
        return 3
    say(
        f"soak: {args.nodes} {args.protocol} nodes, {args.clients} clients, "
        f"{args.soak:g} s, seed {args.seed}, faults {','.join(faults)}; load {loadavg()}"
    )
    async with open_local_cluster(spec, directory) as cluster:
        run = Soak(cluster, args.seed, args.soak, faults, directory)
        try:
            await run.run(args.clients)
            await cluster.heal_network()
            await cluster.packet(None)
            for node in cluster.nodes:
                await cluster.reset_clock(node)
            digests = await cluster.snapshots()
        finally:
            run.close()
    converged = len(set(digests.values())) == 1 and None not in digests.values()
    history = load_jsonl(directory / "history.jsonl")
    result = check(make_model("cas-register"), history, args.check_time_limit)
    ops = sum(run.counts.values())
    say(
        f"operations: {ops} ({', '.join(f'{k} {v}' for k, v in run.counts.items())}); "
        f"{ops / args.soak:.0f}/s"
    )
    say(f"  by function: {', '.join(f'{k} {v}' for k, v in sorted(run.by_f.items()))}")
    say(f"faults: {sum(run.fault_counts.values())} ({run.fault_counts})")
    say(f"convergence: {'identical snapshots' if converged else 'DIFFERENT snapshots'}")
    say(
        f"linearizability: {result.verdict.value} ({result.keys} keys, "
        f"{result.checked_operations} operations checked in {result.time_s:.1f} s)"
    )
    say(f"history: {directory / 'history.jsonl'}; load {loadavg()}")
    if result.verdict is Verdict.NOT_LINEARIZABLE or not converged:
        return 1
    return 2 if result.verdict is Verdict.UNKNOWN else 0


# -- bench ----------------------------------------------------------------------------


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def startup_times(protocol: str, nodes: int, rounds: int) -> tuple[list[float], list[float]]:
    starts, stops = [], []
    for i in range(rounds):
        with tempfile.TemporaryDirectory(prefix="jl-local-start-") as tmp:
            spec = TestSpec(env="local", nodes=nodes, protocol=protocol, seed=i)
            t0 = time.monotonic()
            async with open_local_cluster(spec, Path(tmp)):
                starts.append(time.monotonic() - t0)
                t1 = time.monotonic()
            stops.append(time.monotonic() - t1)
    return starts, stops


@contextlib.asynccontextmanager
async def _pair(protocol: str, base: Path) -> AsyncIterator[tuple[LocalCluster, LocalCluster]]:
    spec = TestSpec(env="local", nodes=3, protocol=protocol, seed=1)
    async with (
        open_local_cluster(spec, base / "proxy") as proxied,
        open_local_cluster(spec, base / "direct", use_proxy=False) as direct,
    ):
        yield proxied, direct


async def bench(protocol: str, writes: int, say: Say) -> int:
    say(f"load before: {loadavg()} ({os.cpu_count()} cpus)")
    for nodes in (3, 5):
        starts, stops = await startup_times(protocol, nodes, 3)
        say(
            f"{nodes} nodes: start to leader {statistics.median(starts):.2f} s "
            f"(runs {', '.join(f'{s:.2f}' for s in starts)}), stop "
            f"{statistics.median(stops):.2f} s (runs {', '.join(f'{s:.2f}' for s in stops)})"
        )
    latencies: dict[str, list[float]] = {"proxy": [], "direct": []}
    with tempfile.TemporaryDirectory(prefix="jl-local-bench-") as tmp:
        async with (
            _pair(protocol, Path(tmp)) as (proxied, direct),
            proxied.session() as via,
            direct.session() as straight,
        ):
            for kv in (via, straight):
                for i in range(50):
                    await kv.put(f"warm{i}", b"x")
            batch = 50
            for start in range(0, writes, batch):
                for name, kv in (("proxy", via), ("direct", straight)):
                    for i in range(start, min(writes, start + batch)):
                        t0 = time.perf_counter()
                        await kv.put(f"k{i % 100}", b"v" * 16)
                        latencies[name].append(time.perf_counter() - t0)
    p = {n: (percentile(s, 0.5) * 1000, percentile(s, 0.99) * 1000) for n, s in latencies.items()}
    say(
        f"put latency over {writes} sequential puts each, 3 nodes, fsync on: "
        f"through the proxy p50 {p['proxy'][0]:.2f} ms p99 {p['proxy'][1]:.2f} ms; "
        f"direct p50 {p['direct'][0]:.2f} ms p99 {p['direct'][1]:.2f} ms; "
        f"ratio p50 {p['proxy'][0] / p['direct'][0]:.2f}x p99 {p['proxy'][1] / p['direct'][1]:.2f}x"
    )
    say(f"load after: {loadavg()}")
    return 0


# -- command line ---------------------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jepsen_lite.runner.envs.local",
        description="smoke, soak and benchmark the local environment",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--smoke", action="store_true", help="a short tour of every fault")
    which.add_argument("--soak", type=float, metavar="SECONDS", help="clients + nemesis")
    which.add_argument("--bench", type=int, metavar="N", help="N puts, proxy vs direct")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--protocol", choices=["raft", "multipaxos"], default="raft")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--faults", default="kill,pause,partition,clock,packet")
    parser.add_argument("--check-time-limit", type=float, default=300.0)
    parser.add_argument("--dir", help="run directory (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.soak is not None and not args.soak > 0:
        parser.error(f"--soak takes a positive number of seconds, got {args.soak}")
    if args.bench is not None and args.bench < 1:
        parser.error(f"--bench takes a positive number of puts, got {args.bench}")
    if args.nodes < 1 or args.clients < 1:
        parser.error("--nodes and --clients must be at least 1")

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        if args.smoke:
            with run_dir(args.dir, "jl-local-smoke-", keep=False) as directory:
                return trio.run(smoke, args.protocol, directory, say)
        if args.soak is not None:
            with run_dir(args.dir, "jl-local-soak-", keep=True) as directory:
                return trio.run(soak, args, directory, say)
        return trio.run(bench, args.protocol, args.bench, say)
    except KeyboardInterrupt:
        print("interrupted; every node was stopped", file=sys.stderr)
        return 130
    except (ClientError, RuntimeError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
