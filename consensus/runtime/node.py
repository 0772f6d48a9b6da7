"""One node process: storage, protocol core, TCP transport, driver and client port.

:class:`Node` puts the pieces together from a :class:`~.config.NodeConfig`. Start-up
problems (a bad protocol name, a port in use, a data directory of another cluster or
node) raise :class:`StartupError` with a message for the operator, before the node
serves anything. The state machine is passed in, so this layer does not depend on the
key-value store above it.
"""

from __future__ import annotations

import logging
import os
import random
from typing import Any

import attrs
import trio

from ..membership import Membership
from ..storage.base import CoreStorage, StorageError
from ..storage.lwt_memory import LwtMemoryStorage
from ..storage.memory import MemoryStorage
from ..storage.paxos_memory import PaxosMemoryStorage
from ..storage.wal.file_storage import FileStorage
from ..storage.wal.lwt_file_storage import LwtFileStorage
from ..storage.wal.paxos_file_storage import PaxosFileStorage
from ..transport.tcp import Address, TcpTransport, bind_listeners, open_tcp_transport
from ..types import EntryKind
from ..unsafe import is_unsafe
from .clock import NodeClock, run_clock_ticks
from .config import NodeConfig
from .driver_config import DriverConfig
from .log import ReplicatedLog, open_log
from .lwt_log import LwtLog
from .node_membership import supports_membership
from .protocols import CoreTiming, ProtocolUnavailable, make_core
from .server import ClientServer
from .statemachine import StateMachine

log = logging.getLogger("consensus.node")


class StartupError(Exception):
    """The node cannot start; the message says why."""


def open_storage(config: NodeConfig) -> tuple[CoreStorage[Any], bool]:
    """The node's storage and whether it is durable.

    With a data directory, Raft uses ``FileStorage``, Multi-Paxos ``PaxosFileStorage`` and
    paxos-lwt ``LwtFileStorage`` (the same write-ahead log), which refuse a directory
    written by another cluster, node or protocol (or held by another process). Without
    one the node keeps its state in memory and loses it when it stops.
    """
    raft = config.protocol == "raft" or is_unsafe(config.protocol)  # same log and hard state
    lwt = config.protocol == "paxos-lwt"
    if config.data_dir is None:
        memory: CoreStorage[Any] = (
            LwtMemoryStorage() if lwt else MemoryStorage() if raft else PaxosMemoryStorage()
        )
        return memory, False
    file_storage: Any = LwtFileStorage if lwt else FileStorage if raft else PaxosFileStorage
    try:
        storage: CoreStorage[Any] = file_storage.open(
            str(config.data_dir), cluster_id=config.cluster_id, node_id=config.node_id
        )
    except StorageError as exc:
        raise StartupError(str(exc)) from None
    except OSError as exc:
        raise StartupError(f"cannot open data dir {config.data_dir}: {exc}") from None
    return storage, True


def data_has_configuration(recovered: Any) -> bool:
    """Whether recovered state names a configuration of its own: a snapshot (its meta
    records one) or a CONFIG entry. Empty data (a new node) does not."""
    if getattr(recovered, "snapshot", None) is not None:
        return True
    entries = getattr(recovered, "entries", ())
    return any(getattr(e, "kind", None) == EntryKind.CONFIG for e in entries)


def check_membership(config: NodeConfig, membership: Membership, where: str) -> None:
    """Refuse to start (``StartupError``) when the configuration recovered from the data
    (``membership``, read from ``where``) contradicts the cluster file (docs/membership.md):

    - this node is not a member of it and does not ``join``: it was removed;
    - the data names other members, the file names other nodes, and not one node is
      in both: the data dir or the file is of another cluster (or the file predates
      the replacement of every other node: list the current members in it).

    Anything else (other addresses, some nodes added or removed since the file was
    written) is not a conflict: the data wins over the file.
    """
    me = config.node_id
    file_nodes = sorted({me, *config.peers})
    if not membership.is_member(me) and not config.join:
        raise StartupError(
            f"node {me} was removed from the cluster: its data ({where}) says "
            f"{membership.describe()}, while the cluster file lists it among nodes "
            f"{file_nodes}; to bring it back, move the data dir aside, start it with --join "
            f"and run `consensus member add {me} ADDR` (or drop it from the cluster file)"
        )
    data_others = set(membership.members) - {me}
    file_others = set(file_nodes) - {me}
    if data_others and file_others and not data_others & file_others:
        raise StartupError(
            f"node {me}'s data ({where}) does not belong to this cluster file: its "
            f"configuration {membership.describe()} shares no other node with the file's "
            f"nodes {file_nodes}; check --config and data_dir (wrong directory or wrong "
            f"file), or, if every other node was replaced, list the current members in the file"
        )


async def _bind(address: Address, what: str) -> list[trio.SocketListener]:
    try:
        return await bind_listeners(address)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise StartupError(f"cannot listen for {what} on {address}: {reason}") from None


class Node:
    """Runs one node until :meth:`stop` (or cancellation)."""

    def __init__(
        self,
        config: NodeConfig,
        state_machine: StateMachine,
        *,
        driver_config: DriverConfig | None = None,
        seed: int | None = None,
        allow_fault_injection: bool = False,
    ) -> None:
        self.config = config
        self.allow_fault_injection = allow_fault_injection
        """Serve the client protocol's fault-injection requests (test clusters only)."""
        self.state_machine = state_machine
        self.driver_config = driver_config or DriverConfig(
            tick_s=config.tick_s,
            snapshot_entries=config.snapshot_entries,
            sync_in_thread=config.sync_in_thread,
            compact_in_thread=True,
        )
        self.seed = seed
        self.log: ReplicatedLog | None = None
        self.transport: TcpTransport | None = None
        self.server: ClientServer | None = None
        self.peer_address: Address | None = None
        self.client_address: Address | None = None
        self.durable = False
        self._file_peers: dict[int, Address] = {}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        storage, self.durable = open_storage(self.config)
        if not self.durable and self.driver_config.sync_in_thread:
            # in-memory storage: sync is a no-op, not worth a worker thread
            self.driver_config = attrs.evolve(self.driver_config, sync_in_thread=False)
        try:
            await self._run(storage, task_status)
        finally:
            close = getattr(storage, "close", None)
            if close is not None:
                close()

    async def _run(self, storage: CoreStorage[Any], task_status: trio.TaskStatus[None]) -> None:
        config = self.config
        recovered = storage.recover()
        if config.join and (config.protocol == "paxos-lwt" or is_unsafe(config.protocol)):
            raise StartupError(_join_unsupported(config))
        rng = random.Random(self.seed)
        clock = NodeClock()  # the driver's too: a clock fault skews what the core reads
        try:
            core = make_core(
                config.protocol,
                config.node_id,
                config.voters,
                rng,
                recovered,
                CoreTiming(
                    config.election_ticks,
                    config.heartbeat_ticks,
                    config.lease_reads,
                    config.lease_drift_max,
                ),
                clock_ms=clock.now_ms,
                change=getattr(self.state_machine, "change", None),
            )
        except ProtocolUnavailable as exc:
            raise StartupError(str(exc)) from None
        if config.join and not supports_membership(core):
            raise StartupError(_join_unsupported(config))
        if supports_membership(core) and data_has_configuration(recovered):
            where = str(config.data_dir) if config.data_dir is not None else "in memory"
            check_membership(config, core.membership(), where)  # type: ignore[attr-defined]
        try:
            server_tls = config.tls.server_context() if config.tls else None
        except ValueError as exc:
            raise StartupError(str(exc)) from None
        peer_listeners = await _bind(config.listen, "peers")
        client_listeners = (
            await _bind(config.client_listen, "clients") if config.client_listen else None
        )
        self.peer_address = _bound(config.listen, peer_listeners)
        if client_listeners is not None and config.client_listen is not None:
            self.client_address = _bound(config.client_listen, client_listeners)
        async with open_tcp_transport(
            config.node_id,
            config.cluster_id,
            config.listen,
            config.peers,
            tls=config.tls,
            seed=self.seed,
            listeners=peer_listeners,
        ) as transport:
            self.transport = transport
            self._file_peers = dict(config.peers)
            snapshot = getattr(recovered, "snapshot", None)
            async with open_log(
                core,
                storage,
                transport,
                self.state_machine,
                self.driver_config,
                snapshot=snapshot,
                protocol=config.protocol,
                clock=clock,
                log_class=LwtLog if config.protocol == "paxos-lwt" else None,
            ) as replicated:
                self.log = replicated
                if replicated.driver.reconfigurable:
                    replicated.driver.on_membership.append(self.sync_peers)
                    self.sync_peers()
                async with trio.open_nursery() as nursery:
                    if client_listeners is not None:
                        self.server = ClientServer(
                            replicated,
                            config.client_endpoints,
                            tls=server_tls,
                            allow_fault_injection=self.allow_fault_injection,
                        )
                        await nursery.start(self.server.serve, client_listeners)
                    clock_command = getattr(self.state_machine, "clock_command", None)
                    if clock_command is not None:  # the store takes its time from the leader
                        nursery.start_soon(
                            run_clock_ticks,
                            replicated.is_leader,
                            replicated.propose,
                            clock_command,
                            replicated.clock,
                        )
                    log.info(
                        "node started",
                        extra={
                            "fields": {
                                "node": config.node_id,
                                "cluster": config.cluster_id,
                                "protocol": config.protocol,
                                "peer_listen": str(self.peer_address),
                                "client_listen": str(self.client_address)
                                if self.client_address
                                else None,
                                "durable": self.durable,
                                "voters": list(config.voters),
                            }
                        },
                    )
                    task_status.started()
                    await trio.sleep_forever()

    def sync_peers(self) -> None:
        """Make the transport's address book the members of the node's configurations
        (the latest one, committed or not, and the applied one): dial new members, drop
        removed ones. Addresses come from the configuration (the data wins), else from
        the cluster file; a member with neither is logged and left out."""
        if self.log is None or self.transport is None:
            return
        driver = self.log.driver
        latest = driver.membership()
        applied = driver.applied_membership
        if latest is None:
            return
        known: dict[int, Address] = dict(self._file_peers)
        wanted = set(latest.members) | set(applied.members if applied is not None else ())
        for m in (applied, latest):
            if m is None:
                continue
            for n, text in m.addresses:
                try:
                    known[n] = Address.parse(text)
                except ValueError:
                    log.warning(
                        "bad member address",
                        extra={"fields": {"node": self.config.node_id, "peer": n, "address": text}},
                    )
        wanted.discard(self.config.node_id)
        transport = self.transport
        for n in sorted(wanted):
            address = known.get(n)
            if address is None:
                log.warning(
                    "no address for member",
                    extra={"fields": {"node": self.config.node_id, "peer": n}},
                )
                continue
            transport.add_peer(n, address)
        for n in transport.peer_addresses():
            if n not in wanted:
                transport.remove_peer(n)

    async def stop(self, *, transfer_timeout_s: float = 2.0) -> None:
        """Hand over leadership (if leader), then stop everything."""
        if self.log is not None:
            transferred = await self.log.shutdown(transfer_timeout_s=transfer_timeout_s)
            log.info(
                "node stopping",
                extra={
                    "fields": {"node": self.config.node_id, "transferred_leadership": transferred}
                },
            )


def _join_unsupported(config: NodeConfig) -> str:
    return (
        f"--join: membership changes are not supported by protocol {config.protocol} yet; "
        f"start node {config.node_id} as a member of the cluster file instead"
    )


def _bound(requested: Address, listeners: list[trio.SocketListener]) -> Address:
    port = listeners[0].socket.getsockname()[1]
    return Address(requested.host, port)
