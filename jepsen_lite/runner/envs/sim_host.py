"""One node of the sim environment: its storage, clock, core, driver and state machine,
and what a crash, restart, pause or clock fault does to them.

A :class:`SimHost` outlives the node's incarnations: the disk (:mod:`.sim_disk`) and
the :class:`~consensus.runtime.clock.NodeClock` (a clock fault is the machine's) stay;
each start builds a fresh core from what storage recovered (seeded from the test's seed,
the node and the incarnation), a fresh ``KvStateMachine`` restored from the recovered
snapshot, and a real driver through ``open_log``. Every event is one line of the node's
log file ``node-N.log`` in the run folder.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

import trio

from consensus.errors import ConsensusError, InvariantViolation
from consensus.runtime import ReplicatedLog, open_log
from consensus.runtime import clock as _clock_module
from consensus.runtime.clock import NodeClock
from consensus.runtime.protocols import make_core
from consensus.runtime.statemachine import StateMachine
from consensus.storage.base import StorageError
from consensus.types import NodeId

from ..api import Fault, derive_rng
from . import sim_lwt
from .sim_disk import FileDisk, MemoryDisk
from .sim_invariants import WatchedCore

if TYPE_CHECKING:
    from .sim import SimCluster


class SimHost:
    """See the module docstring. ``log`` is the running node's ``ReplicatedLog`` (None
    while it is down)."""

    def __init__(self, cluster: SimCluster, node: NodeId, log_path: str) -> None:
        self.cluster = cluster
        self.node = node
        self.clock = NodeClock(cluster.clock_base)
        self.disk: MemoryDisk | FileDisk
        if cluster.storage_kind == "disk":
            self.disk = FileDisk(
                cluster.spec.protocol, node, derive_rng(cluster.spec.seed, f"disk-{node}")
            )
        else:
            self.disk = MemoryDisk(cluster.spec.protocol)
        self.log: ReplicatedLog | None = None
        self.core: WatchedCore | None = None
        self.machine: Any = None  # KvStateMachine (KvRegisters for paxos-lwt)
        self.incarnation = 0
        self.paused = False
        self.refused: str | None = None
        self.unclean = False
        """The node stopped on an error: its disk crashes before the next start."""
        self._scope: trio.CancelScope | None = None
        self._done: trio.Event | None = None
        self._log_file: IO[str] | None = open(log_path, "a", encoding="utf-8")  # noqa: SIM115

    # -- the node log ---------------------------------------------------------------
    def note(self, text: str) -> None:
        if self._log_file is not None:
            self._log_file.write(f"{self.cluster.now():10.3f} node {self.node}: {text}\n")

    def close_log_file(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Recover from storage and run the node (returns once it runs). If recovery
        refuses the storage, the node stays down and the refusal is recorded."""
        cluster = self.cluster
        spec = cluster.spec
        rng = derive_rng(spec.seed, f"core-{self.node}-{self.incarnation + 1}")
        try:
            storage = self.disk.open()
            recovered = storage.recover()
            inner = make_core(
                spec.protocol,
                self.node,
                cluster.nodes,
                rng,
                recovered,
                cluster.settings.timing,
                clock_ms=self.clock.now_ms,
                change=sim_lwt.change(spec.protocol),
            )
        except (StorageError, ConsensusError, InvariantViolation, ValueError) as exc:
            # damaged or inconsistent durable state: the store or the core refuses it
            self.refused = f"{type(exc).__name__}: {exc}"
            cluster.refusals.append((self.node, self.refused))
            self.note(f"recovery refused its storage, staying down: {self.refused}")
            return
        self.refused = None
        self.incarnation += 1
        core = WatchedCore(inner, self.node, cluster.invariants)
        await cluster.nursery.start(self._run, storage, recovered, core)

    async def _run(
        self, storage: Any, recovered: Any, core: WatchedCore, task_status: trio.TaskStatus[None]
    ) -> None:
        cluster = self.cluster
        spec = cluster.spec
        machine: Any = (
            sim_lwt.machine() if spec.protocol == "paxos-lwt" else cluster.new_machine()
        )
        transport = cluster.network.endpoint(self.node)
        done = self._done = trio.Event()
        snap = recovered.snapshot
        self.note(
            f"started (incarnation {self.incarnation}, {self.disk.kind} storage; recovered "
            f"{_hard_state_text(recovered.hard_state)}, snapshot at "
            f"{snap.meta.index if snap else 0}, {len(recovered.entries)} entries)"
        )
        started = False
        try:
            with trio.CancelScope() as scope:
                self._scope = scope
                async with open_log(
                    core,
                    storage,
                    transport,
                    machine,
                    cluster.driver_config,
                    snapshot=snap,
                    protocol=spec.protocol,
                    clock=self.clock,
                    log_class=sim_lwt.log_class(spec.protocol),
                ) as log:
                    self.core, self.machine, self.log = core, machine, log
                    ticking = cluster.ticker.add(log.driver, self.clock)
                    try:
                        async with trio.open_nursery() as nursery:
                            self._start_clock_ticks(nursery, log, machine)
                            task_status.started()
                            started = True
                            await trio.sleep_forever()
                    finally:
                        cluster.ticker.remove(ticking)
        except Exception as exc:  # a storage failure or a core bug stops this node only
            self._failed(exc)
            self.unclean = True
            if not started:
                task_status.started()
        finally:
            self.log = self.core = self.machine = None
            self.paused = False
            self._scope = None
            await transport.aclose()
            done.set()

    def _start_clock_ticks(
        self, nursery: trio.Nursery, log: ReplicatedLog, machine: StateMachine
    ) -> None:
        """Run the leader's clock ticks as a node process does, where this version of
        the runtime has them (``consensus.runtime.clock.run_clock_ticks`` and the
        store's ``clock_command``: the store's time comes from its leader's clock, so a
        skewed clock rate moves session and lease expiry)."""
        run_clock_ticks = getattr(_clock_module, "run_clock_ticks", None)
        clock_command = getattr(machine, "clock_command", None)
        if run_clock_ticks is None or clock_command is None:
            return
        nursery.start_soon(
            run_clock_ticks, log.driver.is_leader, log.propose, clock_command, self.clock
        )

    def _failed(self, exc: BaseException) -> None:
        leaves = _leaves(exc)
        for leaf in leaves:
            if isinstance(leaf, InvariantViolation):
                self.cluster.invariants.violations.append(
                    f"at {self.cluster.now():.3f}s: node {self.node} core: {leaf}"
                )
        text = "; ".join(f"{type(e).__name__}: {e}" for e in leaves)
        self.note(f"stopped by an error: {text}")

    async def kill(self) -> None:
        """Crash the node now (no-op if it is down)."""
        if self._scope is None:
            self.note("kill: already down")
            await trio.lowlevel.checkpoint()
            return
        self.log = None
        await self.cluster.network._endpoints[self.node].aclose()
        self._scope.cancel()
        if self._done is not None:
            await self._done.wait()
        what = self.disk.crash()
        self.note(f"killed: {what}")

    async def restart(self) -> None:
        """Start the node again from what its storage recovers (no-op if it runs)."""
        if self._scope is not None:
            self.note("restart: already running")
            await trio.lowlevel.checkpoint()
            return
        if self.unclean:
            self.unclean = False
            self.note(f"restarting after an error: {self.disk.crash()}")
        else:
            self.note("restarting")
        await self.start()

    def pause(self) -> None:
        if self.core is None:
            self.note("pause: down")
            return
        self.paused = self.core.paused = True
        self.note("paused")

    def resume(self) -> None:
        if self.core is None or not self.paused:
            self.note("resume: not paused")
            return
        queued = len(self.core.queued)
        self.paused = False
        self.core.unpause()
        if self.log is not None:
            self.log.driver.wake()
        self.note(f"resumed ({queued} queued messages delivered)")

    def skew_clock(self, offset_ms: float, rate: float) -> None:
        self.clock.skew(offset_ms, rate)
        self.note(f"clock skewed: offset {offset_ms:+g} ms, rate {rate:g}")

    def reset_clock(self) -> None:
        self.clock.reset()
        self.note("clock reset")

    def disk_fault(self, fault: Fault) -> None:
        if not isinstance(self.disk, FileDisk):
            raise NotImplementedError(
                "disk faults need disk-backed storage: put 'disk' in the nemesis "
                "(or options storage='disk')"
            )
        self.disk.arm(fault)
        self.note(f"disk fault armed for the next crash: {fault.shape}")

    def machine_snapshot(self) -> bytes | None:
        return None if self.machine is None else self.machine.snapshot()


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for inner in exc.exceptions:
            out.extend(_leaves(inner))
        return out
    return [exc]


def _hard_state_text(hs: Any) -> str:
    if hs is None:
        return "no hard state"
    if hasattr(hs, "records"):  # paxos-lwt
        return f"{len(hs.records)} key records, floor {hs.floor}, reserved {hs.reserved}"
    if hasattr(hs, "accepted"):
        return f"promised {hs.promised}, commit {hs.commit}, {len(hs.accepted)} accepted"
    return f"term {hs.term}, vote {hs.vote}, commit {hs.commit}"
