"""Suite ``local``: our protocols as real processes with fsync on, on this host.

Matrix: ``args.protocols`` x node counts (``--nodes``; default 3 and 5, ``--quick`` 3) x
three loops, each with the mix ``--local-mix`` on ``--local-keys`` keys and values of
``--local-value-size`` bytes:

- ``seq``: one client, closed loop (the latency of one operation at a time);
- ``closed c=C``: ``--local-clients`` sessions over ``--local-connections`` connections,
  closed loop (throughput at saturation);
- ``open r=R``: ``--local-rate`` operations/s offered, latency from each operation's
  scheduled start (see :mod:`consensus.bench.workload`).

One cluster (:func:`~consensus.bench.local_target.local_target`) per protocol and node
count serves every cell of it; each cell runs ``args.runs`` times on it (after a warm-up
of ``--local-warmup`` s per run), for ``args.seconds`` s each (default 3; ``--quick`` 1).
With ``--local-failover`` each run of the ``closed`` cell kills the leader halfway
(``unavailable_ms``; paxos-lwt: node 1) and restarts it after the run. A mix asking for
an operation the protocol lacks (``txn`` on paxos-lwt) is skipped with that reason.
Reads: ``get`` is linearizable (a read barrier); ``get-stale`` reads the answering node's
applied state; ``get-lease`` (Raft only) starts the cluster with ``lease_reads = true`` and
reads from the leader's lease (and, with leases on, a restarted node ignores votes for an
election timeout: failover figures of such a run are not comparable with the others').
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Sequence

import trio

from ..local_target import local_target
from ..registry import positive_float, positive_int
from ..report import BenchReport
from ..target import Target, TargetError
from ..workload import Workload, parse_mix, run_workload

DESCRIPTION = "protocols as real processes with fsync: throughput, latency, CPU, failover"
SUITE = "local"


def configure(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--local-clients", type=positive_int, default=64, help="sessions of the closed loop (64)"
    )
    group.add_argument(
        "--local-connections",
        type=positive_int,
        default=1,
        help="connections the closed loop's sessions share (1)",
    )
    group.add_argument(
        "--local-rate",
        type=positive_float,
        default=200.0,
        help="offered ops/s of the open loop (200)",
    )
    group.add_argument(
        "--local-mix",
        default="put",
        type=_mix,
        help='operation mix of put, get, get-lease, get-stale, cas, txn: "put", '
        '"put=50,get=50", ... (put)',
    )
    group.add_argument(
        "--local-keys", type=positive_int, default=1000, help="key space (1: contended; 1000)"
    )
    group.add_argument("--local-value-size", type=positive_int, default=16, help="value bytes (16)")
    group.add_argument(
        "--local-warmup",
        type=positive_float,
        default=None,
        help="warm-up s per run (1; --quick 0.3)",
    )
    group.add_argument(
        "--local-failover",
        action="store_true",
        help="kill the leader once per closed-loop run (unavailable_ms)",
    )


def _mix(text: str) -> str:
    """``--local-mix``, checked when the command line is read (kept as the text)."""
    try:
        parse_mix(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _loops(args: argparse.Namespace) -> list[tuple[str, int, float | None]]:
    """(cell label, clients, open-loop rate or None)."""
    clients = args.local_clients
    return [
        ("seq", 1, None),
        (f"closed c={clients}", clients, None),
        (f"open r={args.local_rate:g}", clients, args.local_rate),
    ]


def run(args: argparse.Namespace, report: BenchReport) -> None:
    mix = parse_mix(args.local_mix)
    node_counts = args.node_counts or ([3] if args.quick else [3, 5])
    targets = [
        (
            protocol,
            nodes,
            functools.partial(local_target, protocol, nodes, lease_reads="get-lease" in mix),
        )
        for protocol in args.protocols
        for nodes in node_counts
    ]
    trio.run(run_matrix, args, report, SUITE, mix, targets)


async def run_matrix(
    args: argparse.Namespace,
    report: BenchReport,
    suite: str,
    mix: dict[str, float],
    targets: Sequence[tuple[str, int, Callable[[], Target]]],
) -> None:
    """Every loop of :func:`_loops` on every target, ``args.runs`` runs a cell, one cluster
    a target (started here, stopped here by pid). The ``peers`` suite runs this same
    matrix, with the same ``--local-*`` options, on etcd: one harness for all."""
    seconds = args.seconds if args.seconds is not None else (1.0 if args.quick else 3.0)
    warmup = args.local_warmup if args.local_warmup is not None else (0.3 if args.quick else 1.0)
    for protocol, nodes, make in targets:
        target = make()
        missing = sorted(set(mix) - target.ops)
        if missing:
            report.skip(suite, f"{protocol} n={nodes}", f"{protocol} has no {missing[0]}")
            continue
        try:
            await target.start()
        except TargetError as exc:
            report.skip(suite, f"{protocol} n={nodes}", str(exc))
            await target.stop()
            continue
        try:
            for label, clients, rate in _loops(args):
                failover = args.local_failover and label.startswith("closed")
                cell = report.cell(
                    suite,
                    f"{protocol} n={nodes} {label} {args.local_mix}",
                    {
                        "protocol": protocol,
                        "nodes": nodes,
                        "loop": "open" if rate is not None else "closed",
                        "clients": clients,
                        "connections": min(clients, args.local_connections),
                        "rate": rate or 0.0,
                        "mix": args.local_mix,
                        "keys": args.local_keys,
                        "value_size": args.local_value_size,
                        "seconds": seconds,
                        "warmup_s": warmup,
                        "failover": failover,
                        "durable": True,
                    },
                )
                for run_no in range(args.runs):
                    workload = Workload(
                        mix=mix,
                        keys=args.local_keys,
                        value_size=args.local_value_size,
                        clients=clients,
                        connections=args.local_connections,
                        seconds=seconds,
                        warmup_s=warmup,
                        rate=rate,
                        failover=failover,
                        seed=run_no + 1,
                    )
                    try:
                        cell.add_run(await run_workload(target, workload))
                    except TargetError as exc:
                        cell.notes.append(f"run {run_no + 1}: {exc}")
        finally:
            await target.stop()
