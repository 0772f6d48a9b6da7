"""The ``embedded`` suite: proposals from inside the leader's process, beside PySyncObj.

Both sides run 3 processes on 127.0.0.1; the process that leads proposes 100-byte writes
from inside itself, keeping ``W`` proposals in flight for ``seconds`` (``W`` in 1000 and
10000; ``--quick``: 1000), and writes its figures to a file the suite reads; then the
suite stops every process by pid (SIGKILL: nothing is read from them after).

- ``raft embedded n=3 w=W``: our :class:`~consensus.runtime.node.Node` (the
  :class:`~consensus.runtime.log.ReplicatedLog` facade over ``FileStorage``, fsync on,
  ``consensus serve``'s defaults), one task keeping ``W`` proposals in flight with
  ``log.propose_nowait`` (the callback form: a resolver per proposal records its latency
  and frees its slot, as PySyncObj's callbacks do) on a trivial state machine; run as
  ``python -m consensus.bench.suites.embedded node ...``. (A Trio task per proposal,
  ``await log.propose``, costs far more CPU per write at these windows.)
- ``pysyncobj n=3 w=W`` (its default config) and ``pysyncobj n=3 w=W unbatched``
  (``appendEntriesUseBatch=False``; not with ``--quick``): :mod:`consensus.bench.pysyncobj_node`, a
  ``ReplDict``. PySyncObj keeps its log in memory and never fsyncs (the cells say so).
  Not installed: ``report.skip`` with how to install it.

Figures: ``ops_per_s`` (writes/s), ``p50_ms`` ... ``p99.9_ms``, ``errors``,
``cpu_us_per_op_leader`` (the leader's process, its own clock),
``cpu_us_per_op_followers`` (the other two, from ``/proc`` by pid over the leader's
window) and ``cpu_us_per_op``, their sum (the leader's alone if a follower's CPU could
not be read); ours also ``refused``: proposals the node did not take (``NotLeader``,
``ProposalDropped`` with ``Backpressure``: the Raft core holds at most
``max_uncommitted_entries`` uncommitted, fewer than ``W = 10000``), which the proposer
retries. Our nodes' election timeout is ``--embedded-election-ms`` (1000 ms, etcd's
default; PySyncObj's default is 400-1400 ms; ``consensus serve``'s 100 ms lets a leader
busy with 10000 proposals on 2 loaded cores lose its leadership).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..report import BenchReport, Params, package_version
from ..workload import process_cpu_s

DESCRIPTION = "proposals from inside the leader's process, beside PySyncObj"
SUITE = "embedded"
PYSYNCOBJ_MISSING = (
    "pysyncobj not installed: pip install pysyncobj==0.3.17 (or the bench extra: '.[bench]')"
)
NO_FSYNC = "PySyncObj keeps its log in memory and does not fsync; ours fsyncs every batch"
START_TIMEOUT_S = 30.0


def configure(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--embedded-windows",
        default=None,
        help="proposals in flight, comma-separated [1000,10000; --quick: 1000]",
    )
    group.add_argument(
        "--embedded-election-ms",
        type=int,
        default=1000,
        help="our nodes' election timeout [1000, etcd's default; PySyncObj's is 400-1400]",
    )


def _free_ports(count: int) -> list[int]:
    from consensus.runtime.local import free_ports

    return free_ports(count, "127.0.0.1")


def _run_processes(commands: list[list[str]], out: Path, timeout_s: float) -> dict[str, float]:
    """Start ``commands``, wait for ``out`` (the leader's figures), stop all by pid.

    The leader writes ``out`` with suffix ``.start`` when its measured window begins; the
    CPU time of every other process is read then and again when ``out`` appears, so the
    figures get ``cpu_us_per_op_followers`` (their sum per write) beside the leader's own
    (``cpu_us_per_op_leader``), and ``cpu_us_per_op`` becomes the two added."""
    procs: list[subprocess.Popen[bytes]] = []
    logs = [out.with_name(f"node-{i + 1}.log") for i in range(len(commands))]

    def tails() -> str:
        lines = []
        for path in logs:
            text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
            lines.append(f"{path.name}: {text[-1] if text else '(empty)'}")
        return "; ".join(lines)

    try:
        for cmd, path in zip(commands, logs, strict=True):
            with path.open("wb") as log_file:
                procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log_file))
        deadline = time.monotonic() + timeout_s
        started = out.with_suffix(".start")
        cpu_start: dict[int, float | None] | None = None
        while not out.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"no figures within {timeout_s:g} s ({tails()})")
            if all(p.poll() is not None for p in procs):
                raise RuntimeError(f"every node exited without figures ({tails()})")
            if cpu_start is None and started.exists():
                cpu_start = {p.pid: process_cpu_s(p.pid) for p in procs}
            time.sleep(0.005 if cpu_start is None else 0.05)
        cpu_end = {p.pid: process_cpu_s(p.pid) for p in procs}
        figures: dict[str, float] = json.loads(out.read_text())
        leader = int(figures.pop("pid", 0))
        done = figures.get("ops", 0.0)
        if cpu_start is not None and done:
            deltas = [
                end - begin
                for pid, end in cpu_end.items()
                if pid != leader and end is not None and (begin := cpu_start.get(pid)) is not None
            ]
            if len(deltas) == len(procs) - 1:  # every follower read both times
                followers = sum(deltas) * 1e6 / done
                figures["cpu_us_per_op_leader"] = figures["cpu_us_per_op"]
                figures["cpu_us_per_op_followers"] = followers
                figures["cpu_us_per_op"] += followers
        return figures
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
        for p in procs:
            p.wait()


def run_pysyncobj(window: int, seconds: float, unbatched: bool) -> dict[str, float]:
    """One run of 3 PySyncObj processes; the leader's figures."""
    ports = _free_ports(3)
    addrs = [f"127.0.0.1:{p}" for p in ports]
    with tempfile.TemporaryDirectory(prefix="bench-pso-") as tmp:
        out = Path(tmp) / "figures.json"
        commands = [
            [
                sys.executable,
                "-m",
                "consensus.bench.pysyncobj_node",
                "--self",
                addr,
                "--partners",
                ",".join(a for a in addrs if a != addr),
                "--window",
                str(window),
                "--seconds",
                str(seconds),
                "--out",
                str(out),
                *(["--unbatched"] if unbatched else []),
            ]
            for addr in addrs
        ]
        return _run_processes(commands, out, START_TIMEOUT_S + seconds)


def run_raft(window: int, seconds: float, election_ms: int = 1000) -> dict[str, float]:
    """One run of 3 of our Raft nodes (FileStorage, fsync on); the leader's figures."""
    ports = _free_ports(3)
    with tempfile.TemporaryDirectory(prefix="bench-emb-") as tmp:
        out = Path(tmp) / "figures.json"
        peers = ",".join(f"{i + 1}=127.0.0.1:{p}" for i, p in enumerate(ports))
        commands = [
            [
                sys.executable,
                "-m",
                "consensus.bench.suites.embedded",
                "node",
                str(i + 1),
                peers,
                str(Path(tmp) / f"n{i + 1}"),
                str(window),
                str(seconds),
                str(out),
                str(max(3, election_ms // 10)),  # ticks of 10 ms
            ]
            for i in range(3)
        ]
        return _run_processes(commands, out, START_TIMEOUT_S + seconds)


def run(args: argparse.Namespace, report: BenchReport) -> None:
    if args.embedded_windows:
        windows = [int(w) for w in str(args.embedded_windows).split(",") if w]
    else:
        windows = [1000] if args.quick else [1000, 10000]
    seconds = float(args.seconds) if args.seconds is not None else (1.0 if args.quick else 3.0)
    base: Params = {"nodes": 3, "env": "local", "op": "put", "seconds": seconds}
    election_ms = int(getattr(args, "embedded_election_ms", 1000))
    have_pso = importlib.util.find_spec("pysyncobj") is not None
    if not have_pso:
        report.skip(SUITE, "pysyncobj", PYSYNCOBJ_MISSING)
    else:
        report.versions.setdefault("pysyncobj", package_version("pysyncobj"))
    for w in windows:
        if have_pso:
            for unbatched in (False,) if args.quick else (False, True):
                name = f"pysyncobj n=3 w={w}" + (" unbatched" if unbatched else "")
                cell = report.cell(
                    SUITE,
                    name,
                    {
                        **base,
                        "protocol": "pysyncobj",
                        "window": w,
                        "fsync": False,
                        "batched": not unbatched,
                    },
                )
                cell.notes.append(NO_FSYNC)
                for _ in range(args.runs):
                    try:
                        cell.add_run(run_pysyncobj(w, seconds, unbatched))
                    except RuntimeError as exc:
                        cell.notes.append(f"a run failed: {exc}")
        cell = report.cell(
            SUITE,
            f"raft embedded n=3 w={w}",
            {
                **base,
                "protocol": "raft",
                "window": w,
                "fsync": True,
                "batched": True,
                "election_ms": election_ms,
            },
        )
        cell.notes.append(
            "ReplicatedLog.propose_nowait in the leader's process, FileStorage fsync on; "
            "refused = proposals not taken (ProposalDropped: the core holds at most "
            "max_uncommitted_entries uncommitted), retried"
        )
        for _ in range(args.runs):
            try:
                cell.add_run(run_raft(w, seconds, election_ms))
            except RuntimeError as exc:  # no node produced figures: say so, go on
                cell.notes.append(f"a run failed: {exc}")


# -- one of our nodes, as a process ---------------------------------------------------


class _Sink:
    """A state machine that applies nothing: the cost measured is the log's."""

    def apply(self, entry: object) -> bytes:
        return b""

    def query(self, request: bytes) -> bytes:
        return b""

    def snapshot(self) -> bytes:
        return b""

    def restore(self, data: bytes) -> None:
        pass


def node_main(argv: list[str]) -> int:
    """``node ID PEERS DATA_DIR WINDOW SECONDS OUT ELECTION_TICKS``: run node ``ID``; if it
    leads, keep ``WINDOW`` proposals in flight for ``SECONDS`` and write the figures to
    ``OUT`` (a follower that becomes leader does the same: the suite takes the first file
    written). ``ELECTION_TICKS`` of 10 ms."""
    import trio

    from consensus.runtime.config import NodeConfig, parse_peer
    from consensus.runtime.errors import ProposalDropped
    from consensus.runtime.node import Node

    from ..latency import Latency

    node_id, peer_text, data_dir, window, seconds, out, election_ticks = argv
    me = int(node_id)
    table = dict(parse_peer(p) for p in peer_text.split(","))
    config = NodeConfig(
        node_id=me,
        cluster_id="bench-embedded",
        listen=table[me],
        peers={n: a for n, a in table.items() if n != me},
        data_dir=Path(data_dir),
        election_ticks=int(election_ticks),
    ).validate()
    node = Node(config, _Sink())

    async def drive() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(node.run)
            log = node.log
            assert log is not None
            while not log.is_leader():  # a follower waits (stopped by pid), in case
                await trio.sleep(0.01)  # leadership moves to it
            await trio.sleep(0.2)  # the new leader's no-op commits
            latency = Latency()
            counts = {"done": 0, "errors": 0, "refused": 0}
            value = b"v" * 100
            cpu0 = time.process_time()
            Path(out).with_suffix(".start").write_text(str(os.getpid()))  # suite reads CPU
            start = time.perf_counter()
            stop_at = trio.current_time() + float(seconds)

            in_flight = 0
            freed = trio.Event()

            class Reply:
                """One proposal's resolver: records its latency, frees its window slot."""

                __slots__ = ("t0",)

                def __init__(self) -> None:
                    self.t0 = time.perf_counter()

                def set(self, value: bytes) -> None:
                    latency.record(time.perf_counter() - self.t0)
                    counts["done"] += 1
                    self._free()

                def fail(self, error: BaseException) -> None:
                    counts["refused" if isinstance(error, ProposalDropped) else "errors"] += 1
                    self._free()

                def _free(self) -> None:
                    nonlocal in_flight
                    in_flight -= 1
                    freed.set()

            while trio.current_time() < stop_at:
                while in_flight < int(window):
                    try:
                        log.propose_nowait(value, Reply())
                    except Exception:  # NotLeader, Backpressure, NodeStopped: not taken
                        counts["refused"] += 1
                        await trio.sleep(0.001)
                        break
                    in_flight += 1
                if in_flight > 0:  # else a refusal: try again at once (after its sleep)
                    with trio.move_on_at(stop_at):
                        await freed.wait()
                    freed = trio.Event()
            with trio.move_on_after(10.0):  # drain: every proposal answered
                while in_flight > 0:
                    await freed.wait()
                    freed = trio.Event()
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu0
            figures = {k: v for k, v in latency.figures().items() if k not in ("max_ms", "mean_ms")}
            figures["ops_per_s"] = counts["done"] / elapsed
            figures["errors"] = float(counts["errors"])
            figures["refused"] = float(counts["refused"])
            figures["cpu_us_per_op"] = cpu * 1e6 / counts["done"] if counts["done"] else 0.0
            figures["ops"] = float(counts["done"])
            figures["pid"] = float(os.getpid())
            tmp = Path(out).with_suffix(".tmp")
            tmp.write_text(json.dumps(figures))
            tmp.rename(Path(out))
            await trio.sleep_forever()

    trio.run(drive)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "node":
        raise SystemExit(node_main(sys.argv[2:]))
    raise SystemExit(
        "usage: python -m consensus.bench.suites.embedded node ID PEERS DIR W S OUT TICKS"
    )
