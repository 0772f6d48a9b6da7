"""``consensus serve``: run one node of a cluster over TCP, serving the key-value store."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

import trio

from statemachines.kv_commands import KvConfig, kv_config_from_table

from ..runtime.config import ConfigError, NodeConfig, build_config
from ..runtime.logs import configure_logging
from ..runtime.node import Node, StartupError
from ..runtime.statemachine import StateMachine
from ..storage.base import StorageError
from ..unsafe import UNSAFE_PROTOCOLS, is_unsafe

HELP = "run one node of a cluster over TCP (key-value store on the client port)"

log = logging.getLogger("consensus.serve")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="cluster TOML file (see docs/runtime.md)")
    parser.add_argument("--id", type=int, dest="node_id", help="this node's id")
    parser.add_argument("--listen", help="HOST:PORT for peers (overrides the file)")
    parser.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="ID=HOST:PORT",
        help="another node (repeatable; replaces the file's list)",
    )
    parser.add_argument("--client-listen", help="HOST:PORT for clients")
    parser.add_argument("--cluster-id", help="cluster name every node must share")
    parser.add_argument(
        "--protocol",
        choices=["raft", "multipaxos", "paxos-lwt", *UNSAFE_PROTOCOLS],
        help="raft (default), multipaxos or paxos-lwt (the unsafe-* ones lose data: test "
        "targets only)",
    )
    parser.add_argument("--data-dir", type=Path, help="durable storage directory")
    parser.add_argument("--tls-ca", type=Path, help="cluster CA certificate (mutual TLS)")
    parser.add_argument("--tls-cert", type=Path, help="this node's certificate")
    parser.add_argument("--tls-key", type=Path, help="this node's private key")
    parser.add_argument("--tick-ms", type=float, help="tick length in ms (default 10)")
    parser.add_argument("--election-ticks", type=int, help="election timeout in ticks")
    parser.add_argument(
        "--allow-fault-injection",
        action="store_true",
        help="answer clock-skew and snapshot-digest requests (test clusters only)",
    )
    parser.add_argument(
        "--allow-unsafe-protocol",
        action="store_true",
        help="run an unsafe-* protocol: a replication design that LOSES DATA on purpose, "
        "kept as a target for jepsen-lite (never for real data)",
    )
    parser.add_argument(
        "--join",
        action="store_true",
        help="join a running cluster: start as a non-member (empty data dir) until "
        "`consensus member add` adds this node (docs/membership.md)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )


def config_from_args(args: argparse.Namespace) -> NodeConfig:
    return build_config(
        config_file=args.config,
        node_id=args.node_id,
        listen=args.listen,
        peers=args.peer,
        client_listen=args.client_listen,
        cluster_id=args.cluster_id,
        protocol=args.protocol,
        data_dir=args.data_dir,
        tls_ca=args.tls_ca,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tick_ms=args.tick_ms,
        election_ticks=args.election_ticks,
        join=getattr(args, "join", False) or None,
    )


def kv_config(config: NodeConfig) -> KvConfig:
    """The store's settings from the cluster file's ``[kv]`` table; ``ConfigError``
    naming the table and the setting at fault."""
    try:
        return kv_config_from_table(dict(config.state_machine))
    except ValueError as exc:
        raise ConfigError(f"[kv]: {exc}") from None


async def serve(config: NodeConfig, allow_fault_injection: bool = False) -> None:
    """Run the node until SIGTERM or SIGINT, then hand over leadership and stop."""
    from statemachines.kv import KvStateMachine
    from statemachines.kv_lwt import KvRegisters
    from statemachines.unsafe_kv import unsafe_state_machine

    machine: StateMachine
    if config.protocol == "paxos-lwt":  # one Paxos register per key, no log
        machine = KvRegisters(kv_config(config))
    elif is_unsafe(config.protocol):
        machine = unsafe_state_machine(config.protocol, kv_config(config))
    else:
        machine = KvStateMachine(kv_config(config))
    node = Node(config, machine)
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            node.allow_fault_injection = allow_fault_injection  # --allow-fault-injection
            await nursery.start(node.run)

            async def stop_on_signal() -> None:
                async for signum in signals:
                    log.info(
                        "signal received",
                        extra={
                            "fields": {
                                "node": config.node_id,
                                "signal": signal.Signals(signum).name,
                            }
                        },
                    )
                    await node.stop()
                    nursery.cancel_scope.cancel()
                    return

            nursery.start_soon(stop_on_signal)


def _unwrap(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    try:
        config = config_from_args(args)
        kv_config(config)  # refused before anything starts
        if is_unsafe(config.protocol) and not getattr(args, "allow_unsafe_protocol", False):
            raise ConfigError(
                f"protocol {config.protocol} loses acknowledged writes on purpose (a test "
                "target for jepsen-lite); refusing to serve it without --allow-unsafe-protocol"
            )
    except ConfigError as exc:
        print(f"consensus serve: error: {exc}", file=sys.stderr)
        return 2
    try:
        trio.run(serve, config, bool(getattr(args, "allow_fault_injection", False)))
    except BaseException as group:
        error = _unwrap(group)
        if isinstance(error, StartupError | StorageError):
            # said once, as the one line the docs promise (not again as a log record)
            print(f"consensus serve: error: {error}", file=sys.stderr)
            return 1
        if isinstance(error, KeyboardInterrupt):
            return 130
        raise
    log.info("node stopped", extra={"fields": {"node": config.node_id}})
    return 0
