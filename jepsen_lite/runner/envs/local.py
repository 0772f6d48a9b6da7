"""The ``local`` environment: real ``consensus serve`` processes on 127.0.0.1.

:func:`open_local_cluster` writes ``run_dir/cluster.toml`` (free ports; each node's
durable data dir ``run_dir/node-N``, fsync on), starts a :class:`FaultProxy` with one
listener per ordered node pair, then one node process per node (``consensus serve
--config ... --id N --allow-fault-injection --peer ...`` with every peer address
pointing at the proxy; output in ``run_dir/node-N.log``), and waits until every client
port accepts and a leader is known. Clients go straight to the nodes' client ports,
never through the proxy. On the way out -- normally, on an error, on Ctrl-C or on Trio
cancellation -- every process it started is stopped by pid (SIGTERM, then SIGKILL).

Faults (:class:`LocalCluster`):

- ``partition`` / ``packet``: through the proxy (:mod:`.fault_proxy` says which act per
  direction and which on both);
- ``kill`` / ``restart``: SIGKILL, then the same command again (the node recovers from
  its data dir); ``pause`` / ``resume``: SIGSTOP / SIGCONT (:mod:`.process_control`);
- ``clock``: a ``FaultControlRequest`` to the node, which skews its ``NodeClock`` (the
  driver's tick pace follows the clock's rate, so a fast clock fires election and
  heartbeat timers early). A skew asked for a killed or paused node is applied when it
  is back (a restarted process starts with an unskewed clock otherwise);
- ``disk``: not supported (simulation only): ``NotImplementedError``.

``python -m jepsen_lite.runner.envs.local --smoke | --soak SECONDS --seed N | --bench N``
exercises it (see :mod:`.local_drive`).
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import ClassVar, TypeVar

import trio

from consensus.client import ClientError, KvClient
from consensus.client.client import Client, RequestRejected
from consensus.client.kv import KvSession
from consensus.client.protocol import FaultControlReply
from consensus.runtime.config import build_config
from consensus.runtime.local import client_endpoints, write_cluster_file
from consensus.transport.tcp import Address
from consensus.unsafe import is_unsafe

from ..api import Cluster, Fault, NodeId, TestSpec, derive_rng
from .fault_proxy import FaultProxy, NetworkControl, PacketFaults
from .process_control import LocalProcesses, ProcessControl, failure_with_log_tail

T = TypeVar("T")

_MAIN = "import sys; from consensus.cli import main; sys.exit(main(sys.argv[1:]))"
FAULTS: frozenset[str] = frozenset({"partition", "kill", "pause", "clock", "packet"})


class LocalClusterError(RuntimeError):
    """The local cluster could not start or answer; the message says which node and why."""


def packet_faults(fault: Fault) -> PacketFaults:
    """The proxy settings for a ``packet`` fault, with the sim environment's meanings and
    defaults (in brackets): ``loss`` (``p`` [0.1]), ``duplicate`` (``p`` [0.1]),
    ``delay`` (``delay_ms`` [20] plus up to ``jitter_ms`` [5]), ``reorder`` (a share
    ``p`` [0.5] of frames gets up to ``jitter_ms`` [10; ``delay_ms`` when the jitter is
    0] of extra delay, so later frames overtake them); ``ValueError`` for another shape
    or a value out of range."""
    params = fault.params
    p = params.get("p")
    if fault.shape == "loss":
        return PacketFaults(loss=0.1 if p is None else p)
    if fault.shape == "duplicate":
        return PacketFaults(duplicate=0.1 if p is None else p)
    if fault.shape == "delay":
        return PacketFaults(
            delay_ms=params.get("delay_ms", 20.0), jitter_ms=params.get("jitter_ms", 5.0)
        )
    if fault.shape == "reorder":
        window = params.get("jitter_ms", 10.0) or params.get("delay_ms", 0.0) or 10.0
        return PacketFaults(reorder=0.5 if p is None else p, reorder_window_ms=window)
    raise ValueError(
        f"unknown packet fault shape {fault.shape!r}: choose loss, duplicate, delay or reorder"
    )


class LocalCluster:
    """A running local cluster (see the module doc); built by :func:`open_local_cluster`.

    ``spec.options`` may set ``client_timeout_s`` [3.0] and ``attempt_timeout_s`` [0.5]
    (each session's call and per-node try bounds), ``start_timeout_s`` [20] (a node's
    client port and the first leader), ``converge_timeout_s`` [30] (:meth:`snapshots`),
    ``control_timeout_s`` [10] (how long a clock request is retried on a silent node)."""

    def __init__(
        self,
        spec: TestSpec,
        run_dir: Path,
        cluster_file: Path,
        processes: ProcessControl,
        network: NetworkControl,
        control: Client,
    ) -> None:
        self.spec = spec
        self.run_dir = run_dir
        self.cluster_file = cluster_file
        self.processes = processes
        self.network = network
        self.control = control
        self.endpoints: dict[NodeId, str] = client_endpoints(cluster_file)
        self.nodes: tuple[NodeId, ...] = tuple(sorted(self.endpoints))
        options = spec.options
        self.client_timeout_s = float(options.get("client_timeout_s", 3.0))
        self.attempt_timeout_s = float(options.get("attempt_timeout_s", 0.5))
        self.start_timeout_s = float(options.get("start_timeout_s", 20.0))
        self.converge_timeout_s = float(options.get("converge_timeout_s", 30.0))
        self.control_timeout_s = float(options.get("control_timeout_s", 10.0))
        self.down: set[NodeId] = set()
        self.paused: set[NodeId] = set()
        self.skews: dict[NodeId, tuple[float, float]] = {}
        self._started_at = time.monotonic()

    # -- what the runner sees ---------------------------------------------------------

    def now(self) -> float:
        return time.monotonic() - self._started_at

    def mark_start(self) -> None:
        """:meth:`now` counts from this call (made once the cluster is up)."""
        self._started_at = time.monotonic()

    def log_path(self, node: NodeId) -> Path:
        return self.run_dir / f"node-{node}.log"

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[KvSession]:
        endpoints = [self.endpoints[n] for n in self.nodes]
        async with KvClient(
            endpoints, timeout_s=self.client_timeout_s, attempt_timeout_s=self.attempt_timeout_s
        ) as kv:
            yield kv.kv

    async def leader(self) -> NodeId | None:
        """The running node that says it leads, with the highest term if several do."""
        found: list[tuple[int, NodeId]] = []

        async def ask(node: NodeId) -> None:
            with contextlib.suppress(ClientError):
                status = await self.control.status(self.endpoints[node])
                if status.role == "leader":
                    found.append((status.term, node))

        async with trio.open_nursery() as nursery:
            for node in self.live():
                nursery.start_soon(ask, node)
        return max(found)[1] if found else None

    def live(self) -> list[NodeId]:
        """Nodes neither killed nor paused."""
        return [n for n in self.nodes if n not in self.down and n not in self.paused]

    # -- network faults ---------------------------------------------------------------

    async def partition(self, blocked: frozenset[tuple[NodeId, NodeId]]) -> None:
        await self.network.partition(blocked)

    async def heal_network(self) -> None:
        await self.network.heal()

    async def packet(self, fault: Fault | None) -> None:
        await self.network.packet(None if fault is None else packet_faults(fault))

    # -- process faults ---------------------------------------------------------------

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
        if node in self.skews:
            await self._apply_skew(node)

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
        if node in self.skews:
            await self._apply_skew(node)

    # -- clock faults -----------------------------------------------------------------

    async def skew_clock(self, node: NodeId, offset_ms: float, rate: float) -> None:
        self._check(node)
        if not rate > 0 or not math.isfinite(offset_ms):
            raise ValueError(
                f"clock skew needs a finite offset and rate > 0, got {offset_ms}, {rate}"
            )
        self.skews[node] = (float(offset_ms), float(rate))
        if node not in self.down and node not in self.paused:
            await self._apply_skew(node)

    async def reset_clock(self, node: NodeId) -> None:
        self._check(node)
        self.skews.pop(node, None)
        if node not in self.down and node not in self.paused:
            await self._fault_control(node, "reset")

    async def clock_reading(self, node: NodeId) -> tuple[float, float, float]:
        """``node``'s clock now: (reading in ms since the epoch, offset ms, rate)."""
        reply = await self._fault_control(node, "read")
        return reply.clock_ms, reply.offset_ms, reply.rate

    async def _apply_skew(self, node: NodeId) -> None:
        offset_ms, rate = self.skews[node]
        await self._fault_control(node, "skew", offset_ms, rate)

    async def _fault_control(
        self, node: NodeId, action: str, offset_ms: float = 0.0, rate: float = 1.0
    ) -> FaultControlReply:
        """One ``FaultControlRequest`` to ``node``, retried while it does not answer (a
        busy machine can stall a node for a moment) for ``control_timeout_s``; then
        ``LocalClusterError``. A refusal (``RequestRejected``) is raised at once."""
        endpoint = self.endpoints[node]
        deadline = trio.current_time() + self.control_timeout_s
        while True:
            try:
                return await self.control.fault_control(
                    endpoint, action, offset_ms=offset_ms, rate=rate
                )
            except RequestRejected:
                raise
            except ClientError as exc:
                if trio.current_time() >= deadline:
                    raise LocalClusterError(
                        f"node {node} did not answer a clock {action} request within "
                        f"{self.control_timeout_s:g} s: {exc}"
                    ) from None
                await trio.sleep(0.05)

    async def disk_fault(self, node: NodeId, fault: Fault) -> None:
        raise NotImplementedError("disk faults run only in the sim environment")

    # -- convergence ------------------------------------------------------------------

    async def snapshots(self) -> Mapping[NodeId, bytes | None]:
        """Each running node's state-machine digest (SHA-256 of its snapshot) once all
        of them report the same applied index, waiting at most ``converge_timeout_s``
        (then the last digests read, which then differ); ``None`` for a node that is
        down, paused or does not answer."""
        deadline = trio.current_time() + self.converge_timeout_s
        result: dict[NodeId, bytes | None] = dict.fromkeys(self.nodes)
        while True:
            applied: dict[NodeId, int] = {}
            async with trio.open_nursery() as nursery:
                for node in self.live():
                    nursery.start_soon(self._digest, node, result, applied)
            answered = [n for n in self.live() if n in applied]
            if (
                answered
                and len(answered) == len(self.live())
                and (
                    len({applied[n] for n in answered}) == 1
                    # the unsafe targets number their logs per node: equal stores suffice
                    or (is_unsafe(self.spec.protocol) and len({result[n] for n in answered}) == 1)
                )
            ):
                return result
            if trio.current_time() >= deadline:
                return result
            await trio.sleep(0.05)

    async def _digest(
        self, node: NodeId, result: dict[NodeId, bytes | None], applied: dict[NodeId, int]
    ) -> None:
        try:
            reply = await self.control.snapshot_digest(self.endpoints[node])
        except ClientError:
            result[node] = None
        else:
            result[node] = reply.digest
            applied[node] = reply.applied_index

    # -- lifecycle --------------------------------------------------------------------

    def command(self, node: NodeId, peer_args: list[str]) -> list[str]:
        return [
            sys.executable,
            "-c",
            _MAIN,
            "serve",
            "--config",
            str(self.cluster_file),
            "--id",
            str(node),
            "--allow-fault-injection",
            *(["--allow-unsafe-protocol"] if is_unsafe(self.spec.protocol) else []),
            "--log-level",
            str(self.spec.options.get("log_level", "info")),
            *peer_args,
        ]

    async def start_all(self, peer_args: Callable[[NodeId], list[str]]) -> None:
        for node in self.nodes:
            await self.processes.start(
                _name(node), self.command(node, peer_args(node)), self.log_path(node)
            )
        for node in self.nodes:
            await self.wait_ready(node)
        await self.wait_leader()

    async def wait_ready(self, node: NodeId) -> None:
        """Until ``node``'s client port accepts; ``LocalClusterError`` with its log tail
        if it exits or does not open it within ``start_timeout_s``."""
        address = Address.parse(self.endpoints[node])
        deadline = trio.current_time() + self.start_timeout_s
        while True:
            if _name(node) not in self.processes.pids():
                raise LocalClusterError(
                    self._failure(node, "exited before opening its client port")
                )
            try:
                stream = await trio.open_tcp_stream(address.host, address.port)
            except OSError:
                if trio.current_time() >= deadline:
                    raise LocalClusterError(
                        self._failure(
                            node, f"did not open its client port within {self.start_timeout_s:g} s"
                        )
                    ) from None
                await trio.sleep(0.02)
            else:
                await stream.aclose()
                return

    async def wait_leader(self) -> NodeId:
        deadline = trio.current_time() + self.start_timeout_s
        while True:
            leader = await self.leader()
            if leader is not None:
                return leader
            if trio.current_time() >= deadline:
                raise LocalClusterError(f"no leader within {self.start_timeout_s:g} s")
            await trio.sleep(0.02)

    def _failure(self, node: NodeId, what: str) -> str:
        return failure_with_log_tail(f"node {node}", what, self.log_path(node), 10)

    def _check(self, node: NodeId) -> None:
        if node not in self.endpoints:
            raise ValueError(
                f"no node {node} in this cluster (nodes {', '.join(map(str, self.nodes))})"
            )


def _unwrap(exc: BaseException) -> BaseException:
    """The one exception inside (nested) one-member exception groups, else ``exc``."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _as_cluster(cluster: LocalCluster) -> Cluster:
    return cluster  # mypy checks that LocalCluster implements the Cluster protocol


def _name(node: NodeId) -> str:
    return f"node-{node}"


@contextlib.asynccontextmanager
async def open_local_cluster(
    spec: TestSpec,
    run_dir: Path,
    *,
    processes: LocalProcesses | None = None,
    use_proxy: bool = True,
) -> AsyncIterator[LocalCluster]:
    """Start the cluster of ``spec`` in ``run_dir`` (see the module doc) and stop every
    process it started when the block ends, however it ends. ``use_proxy=False`` lets
    the nodes dial each other directly (no partition or packet faults then: for
    measuring what the proxy costs)."""
    if spec.nodes < 1:
        raise ValueError(f"a cluster needs at least one node, got {spec.nodes}")
    if spec.protocol == "paxos-lwt":
        raise ValueError(
            "the local environment does not run paxos-lwt (it waits for a leader and "
            "compares state-machine snapshots): use --env sim"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    lease = spec.options.get("read_consistency") == "lease"
    cluster_file = write_cluster_file(
        run_dir,
        spec.nodes,
        protocol=spec.protocol,
        cluster_id=f"jepsen-{spec.seed}",
        extra="lease_reads = true" if lease else "",
    )
    targets = {
        node: build_config(config_file=cluster_file, node_id=node).listen
        for node in range(1, spec.nodes + 1)
    }
    procs = processes if processes is not None else LocalProcesses()
    try:
        async with _running(spec, run_dir, cluster_file, targets, procs, use_proxy) as cluster:
            yield cluster
    except BaseExceptionGroup as group:
        raise _unwrap(group) from None  # the error itself, not Trio's nursery wrapping
    finally:
        procs.stop_all()


@contextlib.asynccontextmanager
async def _running(
    spec: TestSpec,
    run_dir: Path,
    cluster_file: Path,
    targets: Mapping[NodeId, Address],
    procs: LocalProcesses,
    use_proxy: bool,
) -> AsyncIterator[LocalCluster]:
    async with trio.open_nursery() as nursery:
        proxy: FaultProxy | None = None
        if spec.nodes > 1 and use_proxy:
            proxy = FaultProxy(targets, derive_rng(spec.seed, "proxy"))
            await nursery.start(proxy.serve)
        endpoints = list(client_endpoints(cluster_file).values())
        async with Client(endpoints, timeout_s=1.0, attempt_timeout_s=0.5) as control:
            cluster = LocalCluster(
                spec, run_dir, cluster_file, procs, proxy or _NoNetwork(), control
            )
            try:
                await cluster.start_all(proxy.peer_args if proxy else lambda _: [])
                cluster.mark_start()
                yield cluster
            finally:
                procs.stop_all()  # the nodes first, while the proxy still runs
        nursery.cancel_scope.cancel()


class _NoNetwork:
    """The network of a cluster without a proxy (one node, or ``use_proxy=False``): no
    faults can be applied to it."""

    def peer_address(self, src: NodeId, dst: NodeId) -> Address:
        raise NotImplementedError("this cluster runs without a fault proxy")

    async def partition(self, blocked: frozenset[tuple[NodeId, NodeId]]) -> None:
        if blocked:
            raise NotImplementedError("this cluster runs without a fault proxy: no partitions")
        await trio.lowlevel.checkpoint()

    async def heal(self) -> None:
        await trio.lowlevel.checkpoint()

    async def packet(self, faults: PacketFaults | None) -> None:
        if faults is not None:
            raise NotImplementedError("this cluster runs without a fault proxy: no packet faults")
        await trio.lowlevel.checkpoint()


class LocalEnvironment:
    """The ``local`` environment (:class:`jepsen_lite.runner.api.Environment`)."""

    name: ClassVar[str] = "local"
    faults: ClassVar[frozenset[str]] = FAULTS

    def run(self, spec: TestSpec, run_dir: str, main: Callable[[Cluster], Awaitable[T]]) -> T:
        async def go() -> T:
            async with open_local_cluster(spec, Path(run_dir)) as cluster:
                return await main(cluster)

        return trio.run(go)


if __name__ == "__main__":
    from .local_drive import main as _drive

    sys.exit(_drive(sys.argv[1:]))
