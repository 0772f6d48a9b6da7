"""The ``peers`` suite: etcd (3 members, fsync on) driven by the same closed loop as ours.

Cells: ``etcd n=3 sequential put`` (one client) and ``etcd n=3 closed c=64 put``
(``--peers-clients`` sessions over ``--peers-connections`` connections; etcd's client
here opens one HTTP connection per session whatever the count, which the cell's notes
say). One cluster serves every run of both cells; each run is preceded by a short warm-up
that is not recorded.

:func:`closed_loop` is this suite's own minimal driver (the shared one in
``consensus.bench.workload`` was written in parallel): every session issues its next
operation as soon as the last one completed, for ``seconds``. Figures: ``ops_per_s``,
``p50_ms``, ``p90_ms``, ``p99_ms``, ``p99.9_ms``, ``errors`` and ``cpu_us_per_op``
(utime + stime of every pid in ``target.pids()``, from ``/proc/PID/stat``, over the
successful operations).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from contextlib import AsyncExitStack

import trio

from ..latency import Latency
from ..report import BenchReport, Params
from ..target import BenchSession, Target

DESCRIPTION = "etcd driven by the same harness as our protocols, in the same run"
SUITE = "peers"
KEYS = 1000
VALUE = b"v" * 100
WARMUP_S = 0.5
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: dict[str, int]) -> float:
    """The CPU time (user + system, seconds) of every pid so far; a pid gone counts 0."""
    total = 0
    for pid in pids.values():
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / _TICK


async def _one(session: BenchSession, op: str, rng: random.Random) -> None:
    key = f"k{rng.randrange(KEYS)}"
    if op == "put":
        await session.put(key, VALUE)
    elif op == "get":
        await session.get(key)
    elif op == "cas":
        await session.cas(key, None, VALUE)
    else:
        raise ValueError(f"closed_loop: unknown operation {op!r}")


async def closed_loop(
    target: Target, clients: int, connections: int, seconds: float, op: str
) -> dict[str, float]:
    """Run ``clients`` sessions spread over ``connections`` connections of a started
    ``target``, each issuing ``op`` on a random key of :data:`KEYS` back to back for
    ``seconds``; return the figures named in the module docstring. Errors are counted,
    never recorded as latencies; ``ops_per_s`` counts successes only."""
    latency = Latency()
    errors = 0
    done = 0
    async with AsyncExitStack() as stack:
        conns = [
            await stack.enter_async_context(target.open_client())
            for _ in range(max(1, min(connections, clients)))
        ]
        sessions = [conns[i % len(conns)].session() for i in range(clients)]
        pids = target.pids()
        cpu0 = cpu_seconds(pids)
        start = time.perf_counter()
        deadline = trio.current_time() + seconds

        async def worker(session: BenchSession, seed: int) -> None:
            nonlocal errors, done
            rng = random.Random(seed)
            while trio.current_time() < deadline:
                t0 = time.perf_counter()
                try:
                    await _one(session, op, rng)
                except Exception:
                    errors += 1
                    continue
                latency.record(time.perf_counter() - t0)
                done += 1

        async with trio.open_nursery() as nursery:
            for i, session in enumerate(sessions):
                nursery.start_soon(worker, session, i)
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds(pids) - cpu0
    figures = {k: v for k, v in latency.figures().items() if k not in ("max_ms", "mean_ms")}
    figures["ops_per_s"] = done / elapsed if elapsed > 0 else 0.0
    figures["errors"] = float(errors)
    figures["cpu_us_per_op"] = cpu * 1e6 / done if done else 0.0
    return figures


def configure(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--peers-clients", type=int, default=64, help="sessions of the closed-loop cell [64]"
    )
    group.add_argument(
        "--peers-connections",
        type=int,
        default=64,
        help="connections those sessions share [64; etcd's client: one per session]",
    )


def _seconds(args: argparse.Namespace) -> float:
    if args.seconds is not None:
        return float(args.seconds)
    return 1.0 if args.quick else 3.0


def run(args: argparse.Namespace, report: BenchReport) -> None:
    """Both cells against one etcd cluster; :class:`TargetUnavailable` without etcd."""
    from ..etcd_target import EtcdTarget

    seconds = _seconds(args)
    clients = int(getattr(args, "peers_clients", 64))
    connections = int(getattr(args, "peers_connections", 64))
    base: Params = {"protocol": "etcd", "nodes": 3, "env": "local", "op": "put", "fsync": True}
    matrix: list[tuple[str, int, int]] = [
        ("etcd n=3 sequential put", 1, 1),
        (f"etcd n=3 closed c={clients} put", clients, connections),
    ]

    async def main() -> None:
        target = EtcdTarget(3)
        await target.start()
        try:
            for name, c, conns in matrix:
                cell = report.cell(
                    SUITE,
                    name,
                    {**base, "clients": c, "connections": conns, "seconds": seconds},
                )
                cell.notes.append("etcd's JSON gateway over HTTP/1.1, one connection a session")
                await closed_loop(target, c, conns, WARMUP_S, "put")
                for _ in range(args.runs):
                    cell.add_run(await closed_loop(target, c, conns, seconds, "put"))
        finally:
            await target.stop()

    trio.run(main)
    report.versions.setdefault("etcd", _etcd_version())


def _etcd_version() -> str | None:
    import subprocess

    from jepsen_lite.runner.envs.etcd import etcd_binary

    binary = etcd_binary()
    if binary is None:
        return None
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.stdout.splitlines():
        if line.startswith("etcd Version:"):
            return line.split(":", 1)[1].strip()
    return None
