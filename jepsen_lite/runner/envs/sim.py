"""The ``sim`` environment: a whole cluster in one process, on virtual time.

:class:`SimEnvironment` runs ``main(cluster)`` under ``trio.run`` on virtual time
(:class:`JumpingClock`, which behaves as ``trio.testing.MockClock(autojump_threshold=0)``
in fewer scheduler passes): whenever every task waits, the clock jumps to the next
deadline, so a minute of cluster time takes as long as the work in it. The drivers'
ticks (:mod:`.sim_ticker`), node-to-node messages (:class:`_Network`) and the client's
wire delays run on the clock's own timers, not on Trio tasks and cancel scopes, which
saves most of the scheduler passes (see ``docs/jepsen-run.md``, Speed). What runs is the
real code: the protocol cores (``make_core``), the Trio driver (``open_log`` with
``sync_in_thread=False``), the key-value state machine (``KvStateMachine``), and the
client session logic (``KvSession``) over an in-process backend (:mod:`.sim_client`).
Nodes talk over a :class:`~consensus.transport.SimNetwork`; their storage is in memory,
or the real file WAL on a simulated disk when the test's nemesis has ``disk`` (or
``options["storage"] == "disk"``), see :mod:`.sim_disk`.

Faults (every kind of :data:`~jepsen_lite.runner.api.FAULT_KINDS`):

- ``partition(blocked)``: the network drops messages on the blocked directed links
  (checked when sent and again when due). Client->node traffic is *not* partitioned: a
  client reaches every live node, as in Jepsen, where clients run beside the nodes.
- ``packet(fault)``: a routing hook on every node-to-node message: ``loss`` (drop with
  probability ``p``, default 0.1), ``duplicate`` (a second copy with probability ``p``,
  default 0.1), ``delay`` (``delay_ms`` plus up to ``jitter_ms``, defaults 20 and 5),
  ``reorder`` (with probability ``p``, default 0.5, up to ``jitter_ms``, default 10, of
  extra delay, so later messages overtake). ``packet(None)``: back to the base latency
  (``options["link_delay_ms"]``, default 0.2: a LAN hop; equal for all, so links are
  FIFO. Never make it 0 for a broken core: two nodes that answer each other at once
  would then spin at one virtual instant for ever).
- ``kill`` / ``restart``: the node's tasks are cancelled and its storage crashes (memory:
  unsynced writes lost; disk: see :mod:`.sim_disk`); restart rebuilds core, driver and
  state machine from what storage recovers. Recovery refusing damaged data leaves the
  node down; the refusal is written to the node's log and kept in
  :attr:`SimCluster.refusals`.
- ``pause`` / ``resume``: the node keeps its state but does nothing: its ticks stop,
  messages sent to it queue in its inbox (delivered in order on resume), clients get no
  answer from it (see :class:`~.sim_invariants.WatchedCore`).
- ``skew_clock(node, offset_ms, rate)`` / ``reset_clock``: the node's
  :class:`~consensus.runtime.clock.NodeClock` (base: a fixed epoch plus Trio time), kept
  across restarts; the driver's tick pace follows its rate.
- ``disk_fault(node, fault)``: armed for the node's next crash (disk storage only).

Determinism: all randomness comes from streams derived from the test's seed (network,
cores, clients, disks), and Trio's own scheduler randomness (the module-level
``random.Random`` of ``trio._core._run``) is seeded from ``derive_seed(seed, "trio")``
for the run, with ``_ALLOW_DETERMINISTIC_SCHEDULING`` on, so each batch of runnable
tasks is first sorted by task creation order (not by timer-heap order, which ties on
``id()`` of cancel scopes) and then shuffled by that seeded stream. Both are restored
afterwards. Nothing iterates a set of strings.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar, cast

import attrs
import trio

from consensus.client.client import ClientError
from consensus.client.kv import KvSession
from consensus.core import Role
from consensus.messages import Message
from consensus.runtime import DriverConfig
from consensus.runtime.protocols import CoreTiming
from consensus.runtime.statemachine import StateMachine
from consensus.transport import SimNetwork
from consensus.transport.sim import Packet
from consensus.types import NodeId
from consensus.unsafe import UNSAFE_PROTOCOLS, is_unsafe
from statemachines.kv import KvStateMachine

from ..api import FAULT_KINDS, Cluster, Fault, TestSpec, derive_rng, derive_seed
from ..broken import broken
from . import sim_lwt
from .sim_client import SimBackend
from .sim_host import SimHost
from .sim_invariants import Invariants
from .sim_ticker import SharedTicker
from .sim_trio import JumpingClock, deterministic_trio

T = TypeVar("T")

EPOCH_S = 1_700_000_000.0
"""The wall-clock reading of virtual time 0 (node clocks and client ``now_ms``)."""
PACKET_SHAPES: tuple[str, ...] = ("loss", "duplicate", "delay", "reorder")


def _float_option(options: Mapping[str, Any], name: str, default: float) -> float:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"option {name} must be a number >= 0, got {value!r}")
    return float(value)


@attrs.frozen(slots=True)
class SimSettings:
    """The knobs of a sim run, from ``TestSpec.options`` (all optional):
    ``client_attempt_s`` (1.0) and ``client_timeout_s`` (5.0) of virtual time per client
    call, ``snapshot_wait_s`` (10.0) for :meth:`SimCluster.snapshots`, ``link_delay_ms``
    (0.2) between nodes, ``messages_per_node_s_max`` (20,000: more, times the nodes,
    in one virtual second is a message storm: see :class:`_Network`), ``storage``
    (``memory``, or ``disk`` when the nemesis has ``disk``), ``tick_s`` (0.01) and
    ``snapshot_entries`` (2000) of the driver. With ``read_consistency`` ``lease`` (the
    workloads' read mode) the Raft cores run with ``lease_reads`` and the drift bound
    ``lease_drift_max`` (0.1); otherwise without (the cores of other runs unchanged)."""

    attempt_s: float
    total_s: float
    snapshot_wait_s: float
    link_delay_s: float
    messages_per_s_max: int
    storage: str
    driver: DriverConfig
    timing: CoreTiming

    @classmethod
    def of(cls, spec: TestSpec) -> SimSettings:
        """Read and check ``spec.options``: ``ValueError`` naming a bad one."""
        options = spec.options
        storage = options.get("storage", "disk" if "disk" in spec.nemesis else "memory")
        if storage not in ("memory", "disk"):
            raise ValueError(f"option storage must be 'memory' or 'disk', got {storage!r}")
        drift = _float_option(options, "lease_drift_max", 0.1)
        if drift >= 1:
            raise ValueError(f"option lease_drift_max must be < 1, got {drift}")
        tick_s = _float_option(options, "tick_s", 0.01)
        if tick_s <= 0:
            raise ValueError(f"option tick_s must be > 0, got {tick_s}")
        return cls(
            attempt_s=_float_option(options, "client_attempt_s", 1.0),
            total_s=_float_option(options, "client_timeout_s", 5.0),
            snapshot_wait_s=_float_option(options, "snapshot_wait_s", 10.0),
            link_delay_s=_float_option(options, "link_delay_ms", 0.2) / 1000,
            messages_per_s_max=int(
                _float_option(options, "messages_per_node_s_max", 20_000) * spec.nodes
            ),
            storage=storage,
            timing=CoreTiming(
                election_ticks=int(_float_option(options, "election_ticks", 10)),
                heartbeat_ticks=int(_float_option(options, "heartbeat_ticks", 2)),
                lease_reads=options.get("read_consistency") == "lease",
                lease_drift_max=drift,
            ),
            driver=DriverConfig(
                tick_s=tick_s,
                sync_in_thread=False,
                external_ticks=True,
                yield_before_sync=False,
                snapshot_entries=int(_float_option(options, "snapshot_entries", 2000)),
            ),
        )


class _Network(SimNetwork):
    """``SimNetwork`` whose messages travel on the clock's timers
    (:meth:`JumpingClock.call_at`) instead of through a delivery task: one timer per
    virtual instant at which messages are due hands them all to their receivers, in
    send order (with equal delays every link is FIFO), and then tells each receiver
    once, so its driver steps them in one go; no task switch. A message with zero
    delay when nothing else is in flight goes straight to its receiver in the sender's
    task. Blocked links are checked when a message is sent
    and when it is due; at most ``pending_packets_max`` copies are in flight (more are
    dropped and counted), as in ``SimNetwork``; :meth:`run` is not used.

    It also bounds the traffic: more than ``budget`` node-to-node messages in one
    second of virtual time is a message storm (a thrashing core: a healthy cluster sends
    a few thousand). The first time, ``on_storm`` is told, and from then on every
    message is dropped, so that the run still ends (and fails its liveness check)
    instead of spending the machine's time on the storm."""

    budget = 100_000
    on_storm: Callable[[str], None] = staticmethod(lambda text: None)
    storm: str | None = None
    _window_start = -1.0
    _window_count = 0

    def __init__(
        self,
        seed: int,
        route: Callable[[Packet, random.Random], Sequence[float]],
        clock: JumpingClock,
    ) -> None:
        super().__init__(seed, route)
        self.clock = clock
        self.in_flight = 0
        self._due: dict[float, list[Message]] = {}

    def _submit(self, message: Message) -> None:
        if self.storm is not None:
            return
        now = self.clock.current_time()
        if now - self._window_start >= 1.0:
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        if self._window_count > self.budget:
            self.storm = (
                f"no progress: over {self.budget} messages between nodes within one "
                f"second of virtual time (from {self._window_start:.3f}s): the cluster is "
                "thrashing; node-to-node traffic is cut from here on"
            )
            self.on_storm(self.storm)
            return
        if (message.src, message.dst) in self.blocked:
            self.dropped_partitioned += 1
            return
        delays = self.route(Packet(message, now), self.rng)
        if len(delays) == 1 and delays[0] == 0 and not self.in_flight:
            self._deliver(message)
            return
        due = self._due
        for delay in delays:
            if self.in_flight >= self.pending_packets_max:
                self.dropped_overflow += 1
                continue
            self.in_flight += 1
            at = now + delay
            batch = due.get(at)
            if batch is None:
                batch = due[at] = []
                self.clock.call_at(at, self._arrive, at)
            batch.append(message)

    def _arrive(self, at: float) -> None:
        """Hand over every message due at ``at``, in send order, then tell each
        receiver once (its driver steps what arrived in one go)."""
        batch = self._due.pop(at)
        self.in_flight -= len(batch)
        endpoints = self._endpoints
        blocked = self.blocked
        notify: dict[NodeId, Callable[[], None]] = {}
        for message in batch:
            target = endpoints.get(message.dst)
            if target is None or target.closed:
                continue
            if (message.src, message.dst) in blocked:
                self.dropped_partitioned += 1
                continue
            writer = target._writer
            callback = writer.notify
            writer.notify = None
            try:
                writer.deliver(message)
            finally:
                writer.notify = callback
            if callback is not None:
                notify[message.dst] = callback
        for callback in notify.values():
            callback()


class SimCluster:
    """A running simulated cluster (implements :class:`~jepsen_lite.runner.api.Cluster`;
    see the module docstring for what each fault does)."""

    def __init__(
        self,
        spec: TestSpec,
        run_dir: str,
        nursery: trio.Nursery,
        settings: SimSettings,
        clock: JumpingClock,
    ) -> None:
        self.spec = spec
        self.clock = clock
        self.ticker = SharedTicker(clock, settings.driver.tick_s)
        self.nodes: tuple[NodeId, ...] = tuple(range(1, spec.nodes + 1))
        self.nursery = nursery
        self.started_at = trio.current_time()
        self.settings = settings
        self.attempt_s = settings.attempt_s
        self.total_s = settings.total_s
        self.snapshot_wait_s = settings.snapshot_wait_s
        self.link_delay_s = settings.link_delay_s
        self.storage_kind: str = settings.storage
        self.driver_config = settings.driver
        self.network = _Network(derive_seed(spec.seed, "network"), self._base_route, clock)
        self.invariants = Invariants(with_terms=spec.protocol == "raft")
        self.invariants.now = self.now
        self.network.budget = settings.messages_per_s_max
        self.network.on_storm = lambda text: self.invariants.violate_once("storm", text)
        self.refusals: list[tuple[NodeId, str]] = []
        """(node, reason) each time recovery refused a node's damaged storage."""
        self.hosts: dict[NodeId, SimHost] = {
            node: SimHost(self, node, os.path.join(run_dir, f"node-{node}.log"))
            for node in self.nodes
        }
        self._clients = 0

    # -- plumbing -------------------------------------------------------------------
    def new_machine(self) -> StateMachine:
        """A fresh state machine for a node's start (the unsafe targets have their own)."""
        return KvStateMachine()

    def host(self, node: NodeId) -> SimHost:
        try:
            return self.hosts[node]
        except KeyError:
            nodes = f"{self.nodes[0]}..{self.nodes[-1]}"
            raise ValueError(f"no node {node!r}: nodes are {nodes}") from None

    def clock_base(self) -> float:
        return EPOCH_S + trio.current_time()

    def _base_route(self, packet: Packet, rng: random.Random) -> Sequence[float]:
        return (self.link_delay_s,)

    async def start(self) -> None:
        for node in self.nodes:
            await self.hosts[node].start()

    def close(self) -> None:
        for host in self.hosts.values():
            host.close_log_file()

    # -- Cluster --------------------------------------------------------------------
    def now(self) -> float:
        """Virtual seconds since the cluster started."""
        return trio.current_time() - self.started_at

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[KvSession]:
        """A client session over a new :class:`SimBackend` with its own seeded stream;
        on a normal exit the session is closed in the store (best effort)."""
        self._clients += 1
        backend = SimBackend(
            self,
            derive_rng(self.spec.seed, f"client-{self._clients}"),
            attempt_s=self.attempt_s,
            total_s=self.total_s,
            delay_s=(0.0002, 0.001),
        )
        kv = KvSession(backend, now_ms=lambda: int(self.clock_base() * 1000))
        yield kv
        with contextlib.suppress(ClientError):
            await kv.close()

    async def leader(self) -> NodeId | None:
        """The live node that says it leads in the highest term."""
        await trio.lowlevel.checkpoint()
        best: tuple[int, NodeId] | None = None
        for node in self.nodes:
            log = self.hosts[node].log
            if log is None:
                continue
            status = log.status()
            if status.role == Role.LEADER.value and (best is None or status.term > best[0]):
                best = (status.term, node)
        return None if best is None else best[1]

    async def partition(self, blocked: frozenset[tuple[NodeId, NodeId]]) -> None:
        """Block the directed node-to-node links in ``blocked`` (``ValueError`` for an
        unknown node); clients still reach every node."""
        for link in blocked:
            for node in link:
                self.host(node)
        self.network.blocked = set(blocked)
        await trio.lowlevel.checkpoint()

    async def heal_network(self) -> None:
        self.network.heal()
        await trio.lowlevel.checkpoint()

    async def packet(self, fault: Fault | None) -> None:
        self.network.route = self._base_route if fault is None else self._packet_route(fault)
        await trio.lowlevel.checkpoint()

    def _packet_route(self, fault: Fault) -> Callable[[Packet, random.Random], Sequence[float]]:
        base = self.link_delay_s
        params = fault.params
        shape = fault.shape
        if shape not in PACKET_SHAPES:
            raise ValueError(
                f"unknown packet fault shape {shape!r}: choose one of {', '.join(PACKET_SHAPES)}"
            )
        p = _float_option(params, "p", {"loss": 0.1, "duplicate": 0.1}.get(shape, 0.5))
        if p > 1:
            raise ValueError(f"packet fault p must be a probability in [0, 1], got {p}")
        delay = _float_option(params, "delay_ms", 20.0) / 1000
        jitter = _float_option(params, "jitter_ms", 5.0 if shape == "delay" else 10.0) / 1000

        def route(packet: Packet, rng: random.Random) -> Sequence[float]:
            if shape == "loss":
                return () if rng.random() < p else (base,)
            if shape == "duplicate":
                return (base, base + rng.uniform(0, jitter)) if rng.random() < p else (base,)
            if shape == "delay":
                return (base + delay + rng.uniform(0, jitter),)
            return (base + rng.uniform(0, jitter),) if rng.random() < p else (base,)

        return route

    async def kill(self, node: NodeId) -> None:
        await self.host(node).kill()

    async def restart(self, node: NodeId) -> None:
        await self.host(node).restart()

    async def pause(self, node: NodeId) -> None:
        self.host(node).pause()
        await trio.lowlevel.checkpoint()

    async def resume(self, node: NodeId) -> None:
        self.host(node).resume()
        await trio.lowlevel.checkpoint()

    async def skew_clock(self, node: NodeId, offset_ms: float, rate: float) -> None:
        self.host(node).skew_clock(offset_ms, rate)
        await trio.lowlevel.checkpoint()

    async def reset_clock(self, node: NodeId) -> None:
        self.host(node).reset_clock()
        await trio.lowlevel.checkpoint()

    async def disk_fault(self, node: NodeId, fault: Fault) -> None:
        self.host(node).disk_fault(fault)
        await trio.lowlevel.checkpoint()

    async def snapshots(self) -> Mapping[NodeId, bytes | None]:
        """Wait (at most ``snapshot_wait_s`` of virtual time) until every live node has
        applied exactly the leader's commit index, then each node's state-machine
        snapshot: ``None`` for a node that is down, paused or did not catch up."""
        if self.spec.protocol == "paxos-lwt":  # no log to catch up: see sim_lwt
            return await sim_lwt.lwt_snapshots(self)
        with trio.move_on_after(self.snapshot_wait_s):
            while not self._caught_up():
                await trio.sleep(self.driver_config.tick_s)
        target = self._leader_commit()
        result: dict[NodeId, bytes | None] = {}
        for node in self.nodes:
            host = self.hosts[node]
            log = host.log
            if log is None or host.paused or log.status().applied_index != target:
                result[node] = None
            else:
                result[node] = host.machine_snapshot()
        return result

    def _leader_commit(self) -> int | None:
        best: tuple[int, int] | None = None
        for node in self.nodes:
            log = self.hosts[node].log
            if log is None or self.hosts[node].paused:
                continue
            status = log.status()
            if status.role == Role.LEADER.value and (best is None or status.term > best[0]):
                best = (status.term, status.commit_index)
        return None if best is None else best[1]

    def _caught_up(self) -> bool:
        target = self._leader_commit()
        if target is None:
            return False
        for node in self.nodes:
            host = self.hosts[node]
            log = host.log
            if log is not None and not host.paused and log.status().applied_index != target:
                return False
        return True

    def refused_nodes(self) -> dict[NodeId, str]:
        """The nodes down now because recovery refused their damaged storage."""
        return {n: host.refused for n, host in self.hosts.items() if host.refused is not None}

    def invariant_violations(self) -> tuple[str, ...]:
        """The simulator's verdict so far: state-machine and election safety breaches."""
        return tuple(self.invariants.violations)


def _cluster_class(protocol: str) -> type[SimCluster]:
    if is_unsafe(protocol):
        from .sim_unsafe import UnsafeSimCluster

        return UnsafeSimCluster
    return SimCluster


class SimEnvironment:
    """``--env sim`` (see the module docstring)."""

    name: ClassVar[str] = "sim"
    faults: ClassVar[frozenset[str]] = frozenset(FAULT_KINDS)

    def clock(self) -> JumpingClock:
        """The virtual clock of a run (see :class:`JumpingClock`)."""
        return JumpingClock()

    def check_spec(self, spec: TestSpec) -> None:
        """``ValueError`` naming a bad option of ``spec``, before any run folder exists."""
        SimSettings.of(spec)
        broken(spec.options.get("broken"))

    def run(self, spec: TestSpec, run_dir: str, main: Callable[[Cluster], Awaitable[T]]) -> T:
        """Build the cluster of ``spec``, run ``main(cluster)`` on virtual time and return
        its result; ``ValueError`` for a spec it cannot run."""
        known = spec.protocol in ("raft", "multipaxos", "paxos-lwt")
        if not known and not is_unsafe(spec.protocol):
            raise ValueError(
                f"unknown protocol {spec.protocol!r}: choose one of raft, multipaxos, paxos-lwt "
                f"(test targets that lose data: {', '.join(UNSAFE_PROTOCOLS)})"
            )
        if spec.nodes < 1:
            raise ValueError(f"a cluster needs at least 1 node, got {spec.nodes}")
        if not os.path.isdir(run_dir):
            raise ValueError(f"run folder {run_dir!r} does not exist")
        settings = SimSettings.of(spec)
        switch = broken(spec.options.get("broken"))
        clock = self.clock()

        async def body() -> T:
            # main's own exception is raised as it is, not wrapped in the nursery's
            # exception group (node tasks catch their own errors, see sim_host).
            error: Exception | None = None
            result: T | None = None
            async with trio.open_nursery() as nursery:
                clock.on_failure = lambda exc: nursery.cancel_scope.cancel()
                cluster = _cluster_class(spec.protocol)(spec, run_dir, nursery, settings, clock)
                try:
                    await cluster.start()
                    result = await main(cluster)
                except Exception as exc:
                    error = exc
                finally:
                    nursery.cancel_scope.cancel()
                    cluster.close()
            if clock.failure is not None:
                raise clock.failure
            if error is not None:
                raise error
            return cast(T, result)

        with switch, deterministic_trio(derive_seed(spec.seed, "trio")):
            return trio.run(body, clock=clock)
