"""``consensus cluster``: start a local cluster of node processes on 127.0.0.1."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from ..runtime.config import ConfigError
from ..runtime.local import (
    CLUSTER_FILE,
    ClusterDirBusy,
    LocalCluster,
    describe_exits,
    lock_cluster_dir,
    write_cluster_file,
)

HELP = "start a local cluster of node processes on 127.0.0.1 and print client endpoints"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=3, help="number of nodes (default 3)")
    parser.add_argument("--protocol", choices=["raft", "multipaxos", "paxos-lwt"], default="raft")
    parser.add_argument(
        "--data-dir",
        type=Path,
        required=True,
        help="directory for cluster.toml, node data and logs; an existing "
        "cluster.toml there is reused (restart)",
    )
    parser.add_argument("--cluster-id", default="local")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )


def run(args: argparse.Namespace) -> int:
    """Start the cluster and supervise it. Exit status: 2 for bad arguments, 1 when the
    directory is held by another running cluster, a node did not start, or every node
    exited on its own (a line says which node exited with which status); 0 after
    Ctrl-C/SIGTERM stopped the nodes."""
    if args.nodes < 1:
        print("consensus cluster: error: --nodes must be >= 1", file=sys.stderr)
        return 2
    try:
        dir_lock = lock_cluster_dir(args.data_dir)
    except ClusterDirBusy as exc:
        print(f"consensus cluster: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"consensus cluster: error: cannot use {args.data_dir}: {exc}", file=sys.stderr)
        return 1
    try:
        return _run_locked(args)
    finally:
        dir_lock.release()


def _run_locked(args: argparse.Namespace) -> int:
    path = args.data_dir / CLUSTER_FILE
    if not path.exists():
        write_cluster_file(
            args.data_dir, args.nodes, protocol=args.protocol, cluster_id=args.cluster_id
        )
    try:
        cluster = LocalCluster(path, log_level=args.log_level)
    except ConfigError as exc:
        print(f"consensus cluster: error: {exc}", file=sys.stderr)
        return 2
    if len(cluster.endpoints) != args.nodes:
        print(
            f"consensus cluster: error: {path} describes {plural(len(cluster.endpoints), 'node')}, "
            f"not {args.nodes}",
            file=sys.stderr,
        )
        return 2
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        cluster.start_all()
    except RuntimeError as exc:
        cluster.stop_all()
        print(f"consensus cluster: error: {exc}", file=sys.stderr)
        return 1
    running = [n for n, p in cluster.processes.items() if p.poll() is None]
    if len(running) < len(cluster.processes):
        codes = cluster.stop_all()
        print(
            f"consensus cluster: error: nodes exited while starting: {describe_exits(codes)}",
            file=sys.stderr,
        )
        return 1
    print(",".join(cluster.endpoints[n] for n in sorted(cluster.endpoints)), flush=True)
    print(
        f"# {plural(len(running), 'node')} up; logs in {args.data_dir}/node-*.log; "
        "Ctrl-C stops them",
        file=sys.stderr,
        flush=True,
    )
    reported: set[int] = set()
    while not stopping:
        time.sleep(0.2)
        for node, proc in cluster.processes.items():
            if proc.poll() is not None and node not in reported:
                reported.add(node)
                print(
                    f"# {describe_exits({node: proc.returncode})}",
                    file=sys.stderr,
                    flush=True,
                )
        if len(reported) == len(cluster.processes):
            codes = cluster.stop_all()
            print(
                f"consensus cluster: error: every node exited: {describe_exits(codes)}",
                file=sys.stderr,
            )
            return 1
    codes = cluster.stop_all()
    print(f"# stopped: {describe_exits(codes)}", file=sys.stderr)
    return 0


def plural(count: int, noun: str) -> str:
    """``1 node``, ``3 nodes``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
