"""The ``etcd`` environment: a real etcd cluster (Debian's ``etcd-server``) on 127.0.0.1.

:func:`open_etcd_cluster` picks free ports, starts an :class:`~.etcd_proxy.EtcdPeerProxy`
(one listener per member, which that member advertises as its peer URL), then one
``etcd`` process per member::

    etcd --name nN --data-dir RUN_DIR/nN --listen-client-urls http://127.0.0.1:C
         --advertise-client-urls ... --listen-peer-urls http://127.0.0.1:P
         --initial-advertise-peer-urls http://127.0.0.1:<proxy for N>
         --initial-cluster n1=<proxy for 1>,... --initial-cluster-state new ...

with output in ``RUN_DIR/node-N.log``, and waits until every member answers
``/v3/maintenance/status`` and names a leader. Clients (:meth:`EtcdCluster.session`) are
:class:`~consensus.client.kv.KvSession` objects over an :class:`~.etcd_backend.
EtcdBackend`, so every runner workload runs unchanged; each session is pinned to one
member (round robin over the sessions) and moves only when it cannot connect (see
:mod:`.etcd_backend`). Clients dial the members' client ports directly: a partition cuts
members off from each other, never a client from its member.

Faults: ``partition`` (the peer proxy, per pair), ``kill`` / ``restart`` (SIGKILL, then the
same command: the member recovers from its data dir), ``pause`` / ``resume`` (SIGSTOP /
SIGCONT). Not supported (``NotImplementedError``; ``all`` leaves them out): ``clock``
(etcd reads the host's clock), ``packet`` (peer traffic is HTTP, see the proxy),
``disk``.

Reads are etcd's default, linearizable; ``spec.options["etcd_serializable"] = true`` makes
every read ``serializable`` (served from the answering member's state, which may be
stale), as does a ``stale`` read asked by the workload.

Everything started is stopped by pid when the block ends, however it ends (as in
:mod:`.local`: :class:`~.process_control.LocalProcesses`; SIGTERM, then SIGKILL after
:data:`STOP_TIMEOUT_S`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import trio

from consensus.client.client import ClientError
from consensus.client.kv import KvSession
from consensus.runtime.local import free_ports
from consensus.transport.tcp import Address

from ..api import Cluster, Fault, NodeId, TestSpec
from . import EnvironmentUnavailable
from .etcd_backend import ALL_KEYS, EtcdBackend, key_value
from .etcd_http import HttpConnection
from .etcd_proxy import EtcdPeerProxy
from .process_control import LocalProcesses, failure_with_log_tail

T = TypeVar("T")

FAULTS: frozenset[str] = frozenset({"partition", "kill", "pause"})
ETCD_MISSING = "etcd not installed: apt-get install etcd-server"
HOST = "127.0.0.1"
STOP_TIMEOUT_S = 1.0
"""How long a stopping member gets between SIGTERM and SIGKILL. A leader that gets
SIGTERM first tries to hand its leadership over, which cannot finish while every member
stops at once (it would wait for etcd's request timeout, over 5 s); nothing is lost by
the SIGKILL, since etcd synced every write it acknowledged."""


class EtcdClusterError(RuntimeError):
    """The etcd cluster could not start or answer; the message names the member and why."""


def etcd_binary(spec: TestSpec | None = None) -> str | None:
    """The etcd program to run (``spec.options["etcd_binary"]``, default ``etcd`` on the
    ``PATH``), or ``None`` if it is not installed."""
    name = "etcd" if spec is None else str(spec.options.get("etcd_binary", "etcd"))
    return shutil.which(name)


def _option(spec: TestSpec, name: str, default: float) -> float:
    value = spec.options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"option {name} must be a positive number, got {value!r}")
    return float(value)


class EtcdCluster:
    """A running etcd cluster (see the module doc); built by :func:`open_etcd_cluster`.

    ``spec.options``: ``client_timeout_s`` [3] (each client call), ``start_timeout_s``
    [30] (a member answering, the first leader), ``converge_timeout_s`` [30]
    (:meth:`snapshots`), ``etcd_serializable`` [false], ``heartbeat_ms`` [100] and
    ``election_ms`` [1000] (etcd's ``--heartbeat-interval`` / ``--election-timeout``),
    ``log_level`` [``info``], ``etcd_binary`` [``etcd``]."""

    def __init__(
        self,
        spec: TestSpec,
        run_dir: Path,
        binary: str,
        processes: LocalProcesses,
        proxy: EtcdPeerProxy | None,
        clients: Mapping[NodeId, Address],
        peers: Mapping[NodeId, Address],
    ) -> None:
        self.spec = spec
        self.run_dir = run_dir
        self.binary = binary
        self.processes = processes
        self.proxy = proxy
        self.nodes: tuple[NodeId, ...] = tuple(range(1, spec.nodes + 1))
        self.client_timeout_s = _option(spec, "client_timeout_s", 3.0)
        self.start_timeout_s = _option(spec, "start_timeout_s", 30.0)
        self.converge_timeout_s = _option(spec, "converge_timeout_s", 30.0)
        self.heartbeat_ms = int(_option(spec, "heartbeat_ms", 100))
        self.election_ms = int(_option(spec, "election_ms", 1000))
        serializable = spec.options.get("etcd_serializable", False)
        if not isinstance(serializable, bool):
            raise ValueError(
                f"option etcd_serializable must be true or false, got {serializable!r}"
            )
        self.serializable = serializable
        self.log_level = str(spec.options.get("log_level", "info"))
        self.clients = dict(clients)
        """Each member's client address (clients dial it directly)."""
        self.peers = dict(peers)
        """Each member's real peer address (behind the proxy)."""
        self.member_ids: dict[NodeId, str] = {}
        """Each member's etcd id (hex), learnt from its first status answer."""
        self.down: set[NodeId] = set()
        self.paused: set[NodeId] = set()
        self.failovers = 0
        self._next_home = 0
        self._started_at = time.monotonic()
        self._token = f"jepsen-{spec.seed}-{os.urandom(4).hex()}"

    # -- what the runner sees ---------------------------------------------------------

    def now(self) -> float:
        return time.monotonic() - self._started_at

    def mark_start(self) -> None:
        """:meth:`now` counts from this call (made once the cluster is up)."""
        self._started_at = time.monotonic()

    def log_path(self, node: NodeId) -> Path:
        return self.run_dir / f"node-{node}.log"

    def backend(self, home: NodeId | None = None) -> EtcdBackend:
        """A backend pinned to ``home`` (default: the next member, round robin)."""
        if home is None:
            home = self.nodes[self._next_home % len(self.nodes)]
            self._next_home += 1
        self._check(home)
        members = [(a.host, a.port) for a in (self.clients[n] for n in self.nodes)]
        return EtcdBackend(
            members,
            self.nodes.index(home),
            timeout_s=self.client_timeout_s,
            serializable_reads=self.serializable,
            on_failover=self._count_failover,
        )

    def _count_failover(self, old: int, new: int) -> None:
        self.failovers += 1

    @contextlib.asynccontextmanager
    async def session(self, home: NodeId | None = None) -> AsyncIterator[KvSession]:
        backend = self.backend(home)
        try:
            yield KvSession(backend)
        finally:
            with trio.CancelScope(shield=True):
                await backend.aclose()

    async def status(self, node: NodeId, timeout_s: float = 1.0) -> dict[str, Any]:
        """``node``'s ``/v3/maintenance/status`` answer (``ClientError`` if none)."""
        address = self.clients[node]
        conn = HttpConnection(address.host, address.port)
        try:
            return await conn.post("/v3/maintenance/status", {}, timeout_s)
        finally:
            await conn.aclose()

    async def leader(self) -> NodeId | None:
        """The leader named by the live member with the highest raft term."""
        found: list[tuple[int, str]] = []

        async def ask(node: NodeId) -> None:
            with contextlib.suppress(ClientError):
                status = await self.status(node)
                self._learn_id(node, status)
                found.append((int(status.get("raftTerm", 0)), str(status.get("leader", "0"))))

        async with trio.open_nursery() as nursery:
            for node in self.live():
                nursery.start_soon(ask, node)
        if not found:
            return None
        leader_id = format(int(max(found)[1]), "x")
        return next((n for n, i in self.member_ids.items() if i == leader_id), None)

    def _learn_id(self, node: NodeId, status: Mapping[str, Any]) -> None:
        member = status.get("header", {}).get("member_id")
        if member is not None and node not in self.member_ids:
            self.member_ids[node] = format(int(member), "x")
            if self.proxy is not None:
                self.proxy.member_ids[self.member_ids[node]] = node

    def live(self) -> list[NodeId]:
        """Members neither killed nor paused."""
        return [n for n in self.nodes if n not in self.down and n not in self.paused]

    # -- faults -------------------------------------------------------------------------

    async def partition(self, blocked: frozenset[tuple[NodeId, NodeId]]) -> None:
        if self.proxy is None:
            if blocked:
                raise NotImplementedError("a one-member etcd cluster cannot be partitioned")
            return
        await self.proxy.partition(blocked)

    async def heal_network(self) -> None:
        if self.proxy is not None:
            await self.proxy.heal()

    async def packet(self, fault: Fault | None) -> None:
        if fault is not None:
            raise NotImplementedError("packet faults are not supported by the etcd environment")

    async def kill(self, node: NodeId) -> None:
        self._check(node)
        await self.processes.kill(_name(node))
        self.down.add(node)
        self.paused.discard(node)

    async def restart(self, node: NodeId) -> None:
        self._check(node)
        await self.processes.restart(_name(node))
        self.down.discard(node)
        self.paused.discard(node)
        await self.wait_ready(node)

    async def pause(self, node: NodeId) -> None:
        self._check(node)
        if node in self.down:
            return  # nothing runs to freeze
        await self.processes.pause(_name(node))
        self.paused.add(node)

    async def resume(self, node: NodeId) -> None:
        self._check(node)
        if node not in self.paused:
            return
        await self.processes.resume(_name(node))
        self.paused.discard(node)

    async def skew_clock(self, node: NodeId, offset_ms: float, rate: float) -> None:
        raise NotImplementedError("clock faults are not supported by the etcd environment")

    async def reset_clock(self, node: NodeId) -> None:
        raise NotImplementedError("clock faults are not supported by the etcd environment")

    async def disk_fault(self, node: NodeId, fault: Fault) -> None:
        raise NotImplementedError("disk faults run only in the sim environment")

    # -- convergence --------------------------------------------------------------------

    async def snapshots(self) -> Mapping[NodeId, bytes | None]:
        """Each live member's keyspace at one revision: the highest revision any live
        member reports, once every live member has reached it (at most
        ``converge_timeout_s``; a member still behind then gets ``None``). The digest is
        SHA-256 of every key with its value, create and mod revision and version, read
        ``serializable`` at that revision from the member itself."""
        result: dict[NodeId, bytes | None] = dict.fromkeys(self.nodes)
        deadline = trio.current_time() + self.converge_timeout_s
        revisions: dict[NodeId, int] = {}
        while True:
            revisions.clear()

            async def ask(node: NodeId) -> None:
                with contextlib.suppress(ClientError):
                    status = await self.status(node, 2.0)
                    revisions[node] = int(status.get("header", {}).get("revision", 0))

            async with trio.open_nursery() as nursery:
                for node in self.live():
                    nursery.start_soon(ask, node)
            done = len(revisions) == len(self.live()) and len(set(revisions.values())) <= 1
            if done or trio.current_time() >= deadline:
                break
            await trio.sleep(0.1)
        if not revisions:
            return result
        target = max(revisions.values())
        for node, rev in revisions.items():
            if rev >= target:
                result[node] = await self._digest(node, target)
        return result

    async def _digest(self, node: NodeId, at: int) -> bytes | None:
        address = self.clients[node]
        conn = HttpConnection(address.host, address.port)
        body = {"key": ALL_KEYS, "range_end": ALL_KEYS, "serializable": True, "revision": str(at)}
        try:
            response = await conn.post("/v3/kv/range", body, 10.0)
        except ClientError:
            return None
        finally:
            await conn.aclose()
        rows = [
            [kv.key, kv.value.hex(), kv.create_revision, kv.mod_revision, kv.version]
            for kv in (key_value(item) for item in response.get("kvs") or [])
        ]
        return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).digest()

    # -- lifecycle ----------------------------------------------------------------------

    def peer_url(self, node: NodeId) -> str:
        """The peer URL ``node`` advertises: the proxy's listener, or its own port."""
        if self.proxy is not None:
            return self.proxy.peer_url(node)
        return f"http://{self.peers[node].host}:{self.peers[node].port}"

    def command(self, node: NodeId) -> list[str]:
        client = f"http://{self.clients[node].host}:{self.clients[node].port}"
        cluster = ",".join(f"n{n}={self.peer_url(n)}" for n in self.nodes)
        return [
            self.binary,
            "--name",
            f"n{node}",
            "--data-dir",
            str(self.run_dir / f"n{node}"),
            "--listen-client-urls",
            client,
            "--advertise-client-urls",
            client,
            "--listen-peer-urls",
            f"http://{self.peers[node].host}:{self.peers[node].port}",
            "--initial-advertise-peer-urls",
            self.peer_url(node),
            "--initial-cluster",
            cluster,
            "--initial-cluster-token",
            self._token,
            "--initial-cluster-state",
            "new",
            "--heartbeat-interval",
            str(self.heartbeat_ms),
            "--election-timeout",
            str(self.election_ms),
            "--logger",
            "zap",
            "--log-outputs",
            "stderr",
            "--log-level",
            self.log_level,
        ]

    async def start_all(self) -> None:
        for node in self.nodes:
            await self.processes.start(_name(node), self.command(node), self.log_path(node))
        for node in self.nodes:
            await self.wait_ready(node)
        await self.wait_leader()

    async def wait_ready(self, node: NodeId) -> None:
        """Until ``node`` answers a status request; ``EtcdClusterError`` with its log
        tail if it exits or does not answer within ``start_timeout_s``."""
        deadline = trio.current_time() + self.start_timeout_s
        while True:
            if _name(node) not in self.processes.pids():
                raise EtcdClusterError(self._failure(node, "exited"))
            try:
                self._learn_id(node, await self.status(node))
                return
            except ClientError:
                if trio.current_time() >= deadline:
                    raise EtcdClusterError(
                        self._failure(node, f"did not answer within {self.start_timeout_s:g} s")
                    ) from None
                await trio.sleep(0.05)

    async def wait_leader(self) -> NodeId:
        deadline = trio.current_time() + self.start_timeout_s
        while True:
            leader = await self.leader()
            if leader is not None:
                return leader
            if trio.current_time() >= deadline:
                raise EtcdClusterError(f"no etcd leader within {self.start_timeout_s:g} s")
            await trio.sleep(0.05)

    def _failure(self, node: NodeId, what: str) -> str:
        return failure_with_log_tail(f"etcd member {node}", what, self.log_path(node), 5)

    def _check(self, node: NodeId) -> None:
        if node not in self.clients:
            raise ValueError(
                f"no member {node} in this cluster (members {', '.join(map(str, self.nodes))})"
            )


def _as_cluster(cluster: EtcdCluster) -> Cluster:
    return cluster  # mypy checks that EtcdCluster implements the Cluster protocol


def _name(node: NodeId) -> str:
    return f"node-{node}"


def _unwrap(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


@contextlib.asynccontextmanager
async def open_etcd_cluster(
    spec: TestSpec,
    run_dir: Path,
    *,
    processes: LocalProcesses | None = None,
    peer_proxy: bool = True,
) -> AsyncIterator[EtcdCluster]:
    """Start the etcd cluster of ``spec`` in ``run_dir`` (see the module doc) and stop
    every process it started when the block ends, however it ends. ``peer_proxy=False``
    connects the members directly (no partitions then; benchmarks use it so that no
    Python proxy stands between etcd's members).
    :class:`~jepsen_lite.runner.envs.EnvironmentUnavailable` if etcd is not installed."""
    binary = etcd_binary(spec)
    if binary is None:
        raise EnvironmentUnavailable(ETCD_MISSING)
    if spec.nodes < 1:
        raise ValueError(f"an etcd cluster needs at least one member, got {spec.nodes}")
    run_dir.mkdir(parents=True, exist_ok=True)
    procs = processes if processes is not None else LocalProcesses(stop_timeout_s=STOP_TIMEOUT_S)
    ports = free_ports(2 * spec.nodes, HOST)
    clients = {n: Address(HOST, ports[2 * n - 2]) for n in range(1, spec.nodes + 1)}
    peers = {n: Address(HOST, ports[2 * n - 1]) for n in range(1, spec.nodes + 1)}
    try:
        async with trio.open_nursery() as nursery:
            proxy: EtcdPeerProxy | None = None
            if spec.nodes > 1 and peer_proxy:
                proxy = EtcdPeerProxy(peers)
                await nursery.start(proxy.serve)
            try:
                cluster = EtcdCluster(spec, run_dir, binary, procs, proxy, clients, peers)
                await cluster.start_all()
                cluster.mark_start()
                yield cluster
            finally:
                procs.stop_all()  # the members first, while the proxy still runs
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise _unwrap(group) from None
    finally:
        procs.stop_all()


class EtcdEnvironment:
    """The ``etcd`` environment (:class:`jepsen_lite.runner.api.Environment`);
    :class:`~jepsen_lite.runner.envs.EnvironmentUnavailable` when etcd is not installed."""

    name: ClassVar[str] = "etcd"
    faults: ClassVar[frozenset[str]] = FAULTS

    def __init__(self) -> None:
        if etcd_binary() is None:
            raise EnvironmentUnavailable(ETCD_MISSING)

    def run(self, spec: TestSpec, run_dir: str, main: Callable[[Cluster], Awaitable[T]]) -> T:
        if spec.protocol != "raft":
            raise ValueError(
                f"etcd runs its own Raft: protocol {spec.protocol!r} does not apply (use raft)"
            )

        async def go() -> T:
            async with open_etcd_cluster(spec, Path(run_dir)) as cluster:
                return await main(cluster)

        return trio.run(go)
