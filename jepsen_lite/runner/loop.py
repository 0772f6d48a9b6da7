"""The client side of a run, inside the environment's Trio loop: the phases, the worker
processes, and the history they record.

**Phases** (boundaries in environment seconds since the test started, as ``RunFacts.phases``):

1. ``main``: workers invoke the workload's operations until ``spec.time_limit_s`` while the
   nemesis executor applies the fault schedule; then (as Jepsen's generator phases do) the
   phase lasts until every operation in flight has completed (each is bounded by the
   operation timeout).
2. ``heal``: the executor undoes every fault still in effect (network, packet faults,
   paused and killed nodes, clocks).
3. ``recovery``: workers invoke again. It lasts ``spec.recovery_s``, or until
   :data:`RECOVERY_TAIL_S` after the first ``ok`` of an operation invoked in it (no need to
   wait longer once the cluster is shown live), then until the operations in flight
   complete.
4. ``final``: the workload's final invocations, one after another, each by a fresh
   process with a fresh session, retried (by yet another fresh process) until it completes
   ``ok`` or ``spec.recovery_s`` has passed since the phase began.

**Workers.** ``spec.concurrency`` workers; worker ``i`` starts as process ``i`` with its
own ``cluster.session()``. At most one operation is in flight per worker. Open loop
(``spec.rate`` ops/s over all workers): each worker has its own seeded schedule of
invocation times with exponential gaps (mean ``concurrency / rate`` s), independent of
completions, so a slow cluster does not slow the offered load (no coordinated omission).
A worker still busy when its next scheduled times pass invokes once as soon as it is free
and *skips* the other missed times (counted in ``skipped``). Closed loop (``rate`` None):
a worker invokes as soon as its previous operation completed. When the generator answers
``None`` the worker asks again ``pending_s`` later; ``StopIteration`` ends invoking.

**Completions** (Jepsen's meanings): the workload's ``invoke`` returns a ``Completion``.
If it raises (a client timeout, a lost connection, no leader found...), or does not return
within the operation timeout (``spec.options["op_timeout_s"]``, default
:data:`DEFAULT_OP_TIMEOUT_S`), the completion is ``fail`` for an ``f`` in the workload's
``read_only_fs`` (a read has no effect) and ``info`` otherwise (the write may or may not
have happened). Exceptions that mean a bug (``TypeError``, ``AttributeError``,
``NameError``, ``AssertionError``) are not swallowed: they end the run with an error. A
process that got ``info`` is retired: its session is closed and the worker continues as
a new process (the next unused integer) with a fresh session. ``info`` completions carry
the invocation's value; ``ok`` and ``fail`` carry the completion's.

**History.** Every event is written at once to ``history.jsonl`` (and kept in memory) in
the order it happened, stamped with nanoseconds of environment time since the test
started (``Cluster.now()`` minus its value when the test began); nemesis events go to the
same file with process ``"nemesis"``.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ..history.jsonl import HistoryWriter
from ..history.ops import Event, EventType, Process, show
from .api import (
    Cluster,
    Completion,
    FaultWindow,
    Generator,
    Invocation,
    NodeId,
    TestSpec,
    Workload,
    derive_rng,
)
from .nemesis import AppliedFault, NemesisExecutor, describe

if TYPE_CHECKING:
    from consensus.client.kv import KvSession

DEFAULT_OP_TIMEOUT_S = 10.0
"""Environment seconds an operation may take before the runner gives up on it."""
RECOVERY_TAIL_S = 1.0
"""How long the recovery phase goes on after its first ``ok``."""
FINAL_RETRY_S = 0.1
"""Pause between attempts of a final invocation."""
BUG_EXCEPTIONS: tuple[type[BaseException], ...] = (
    TypeError,
    AttributeError,
    NameError,
    AssertionError,
)
"""Exceptions from a workload's ``invoke`` that end the run instead of becoming ``info``."""

PHASES = ("main", "heal", "recovery", "final")


@attrs.frozen(slots=True)
class Progress:
    """A snapshot of a run for progress displays."""

    phase: str
    elapsed_s: float
    wall_s: float
    time_limit_s: float
    counts: Mapping[str, int]
    active_faults: tuple[str, ...]
    faults_started: int


@attrs.frozen(slots=True)
class Outcome:
    """What the client side of a run produced (``main(cluster)``'s result)."""

    events: tuple[Event, ...]
    phases: Mapping[str, tuple[float, float]]
    faults: tuple[AppliedFault, ...]
    heal_actions: tuple[str, ...]
    snapshots: Mapping[NodeId, bytes | None]
    snapshot_error: str | None
    invariant_violations: tuple[str, ...] | None
    final_expected: int
    final_missing: tuple[str, ...]
    skipped: int
    processes: int
    elapsed_s: float
    session_close_errors: int = 0
    refused: Mapping[NodeId, str] = attrs.field(factory=dict)


@attrs.define
class _Slot:
    """One worker's state: its current process and its open-loop schedule."""

    index: int
    process: int
    rng: random.Random
    next_at: float = 0.0


def op_timeout(spec: TestSpec) -> float:
    """The operation timeout of ``spec`` (see the module doc)."""
    value = spec.options.get("op_timeout_s", DEFAULT_OP_TIMEOUT_S)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"option op_timeout_s must be a positive number, got {value!r}")
    return float(value)


class ClientRun:
    """One run's client side: call :meth:`main` as the environment's ``main(cluster)``."""

    def __init__(
        self,
        spec: TestSpec,
        workload: Workload,
        windows: Sequence[FaultWindow],
        kinds: frozenset[str],
        writer: HistoryWriter,
        progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.spec = spec
        self.workload = workload
        self.windows = tuple(windows)
        self.kinds = kinds
        self.writer = writer
        self.progress = progress
        self.op_timeout = op_timeout(spec)
        self.read_only = frozenset(workload.read_only_fs)
        self.events: list[Event] = []
        self.counts = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
        self.skipped = 0
        self.session_close_errors = 0
        self.next_process = spec.concurrency
        self.phase = "main"
        self.phases: dict[str, tuple[float, float]] = {}
        self.exhausted = False
        self.in_flight = 0
        self.wall_start = time.monotonic()
        self._quiet = trio.Event()
        self._recovery_open = trio.Event()
        self._workers_done = trio.Event()
        self._deadline_changed = trio.Event()
        self.recovery_deadline = 0.0
        self.first_recovery_ok: float | None = None
        self._generator: Generator | None = None
        self._executor: NemesisExecutor | None = None
        self._cluster: Cluster | None = None
        self._t0 = 0.0

    # -- clock and recording ----------------------------------------------------------

    def elapsed(self) -> float:
        """Environment seconds since the test started."""
        assert self._cluster is not None
        return self._cluster.now() - self._t0

    def _now_ns(self) -> int:
        return max(0, round(self.elapsed() * 1e9))

    def _record(self, event: Event) -> None:
        self.writer.write(event)
        self.events.append(event)
        self.counts[event.type.value] += 1
        self._report()

    def _record_nemesis(self, f: str, value: Mapping[str, Any]) -> None:
        self.writer.nemesis(f, value, self._now_ns())
        self._report()

    def _report(self) -> None:
        if self.progress is None:
            return
        active = self._executor.active if self._executor is not None else ()
        started = len(self._executor.applied) if self._executor is not None else 0
        self.progress(
            Progress(
                self.phase,
                self.elapsed(),
                time.monotonic() - self.wall_start,
                self.spec.time_limit_s,
                dict(self.counts),
                tuple(describe(a.window) for a in active),
                started,
            )
        )

    # -- the run ----------------------------------------------------------------------

    async def main(self, cluster: Cluster) -> Outcome:
        """Run every phase on ``cluster`` and return what happened."""
        self._cluster = cluster
        self._t0 = cluster.now()
        spec = self.spec
        self._generator = self.workload.generator(derive_rng(spec.seed, "generator"), spec)
        executor = NemesisExecutor(
            cluster,
            self.elapsed,
            self._record_nemesis,
            derive_rng(spec.seed, "nemesis-targets"),
            self.kinds,
        )
        self._executor = executor
        slots = [_Slot(i, i, derive_rng(spec.seed, f"worker-{i}")) for i in range(spec.concurrency)]
        for slot in slots:
            slot.next_at = self._gap(slot)
        heal_actions: list[str] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(executor.run, self.windows)
            for slot in slots:
                nursery.start_soon(self._worker, slot)
            heal_actions = await self._coordinate(executor)
        final_expected, final_missing = await self._final()
        snapshots, snapshot_error = await self._snapshots(cluster)
        violations = _violations(cluster)
        refused_nodes = getattr(cluster, "refused_nodes", None)
        refused = dict(refused_nodes()) if refused_nodes is not None else {}
        self.writer.flush()
        return Outcome(
            events=tuple(self.events),
            phases=dict(self.phases),
            faults=executor.history(),
            heal_actions=tuple(heal_actions),
            snapshots=snapshots,
            snapshot_error=snapshot_error,
            invariant_violations=violations,
            refused=refused,
            final_expected=final_expected,
            final_missing=tuple(final_missing),
            skipped=self.skipped,
            processes=self.next_process,
            elapsed_s=self.elapsed(),
            session_close_errors=self.session_close_errors,
        )

    async def _coordinate(self, executor: NemesisExecutor) -> list[str]:
        """Drive the phase changes main -> heal -> recovery; returns the heal actions."""
        spec = self.spec
        remaining = spec.time_limit_s - self.elapsed()
        if remaining > 0:
            await trio.sleep(remaining)
        await executor.finished.wait()
        await self._wait_quiet()
        main_end = self.elapsed()
        self.phases["main"] = (0.0, main_end)
        self.phase = "heal"
        self.writer.flush()
        actions = await executor.heal()
        heal_end = self.elapsed()
        self.phases["heal"] = (main_end, heal_end)
        self.phase = "recovery"
        # an exhausted generator has nothing to invoke: liveness rests on the final phase
        self.recovery_deadline = heal_end + (0.0 if self.exhausted else spec.recovery_s)
        self._recovery_open.set()
        while (left := self.recovery_deadline - self.elapsed()) > 0:
            self._deadline_changed = trio.Event()
            with trio.move_on_after(left):
                await self._deadline_changed.wait()
        self.phase = "after"
        await self._wait_quiet()
        self.phases["recovery"] = (heal_end, self.elapsed())
        self._workers_done.set()
        return actions

    async def _wait_quiet(self) -> None:
        while self.in_flight:
            self._quiet = trio.Event()
            await self._quiet.wait()

    def _gap(self, slot: _Slot) -> float:
        if self.spec.rate is None:
            return 0.0
        return slot.rng.expovariate(self.spec.rate / self.spec.concurrency)

    async def _worker(self, slot: _Slot) -> None:
        """One worker: a process with a session until it is retired, then the next. Each
        process runs in a task of its own that enters and exits its session, so that the
        worker goes on as the next process while the retired one's session closes."""
        async with trio.open_nursery() as nursery:
            while True:
                done = trio.Event()
                outcome: list[bool] = []
                nursery.start_soon(self._process, slot, done, outcome)
                await done.wait()
                if not outcome or not outcome[0]:
                    return
                slot.process = self._new_process()

    async def _process(self, slot: _Slot, done: trio.Event, outcome: list[bool]) -> None:
        """Run ``slot``'s current process until it is retired (``outcome`` ``[True]``) or
        invoking is over (``[False]``); ``done`` is set before its session closes."""
        try:
            async with self._session() as kv:
                outcome.append(await self._work(slot, kv))
                done.set()
        finally:
            done.set()

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[KvSession]:
        """A fresh session; a failure (or hang) while closing it is counted in
        ``session_close_errors``, not raised: a retired process's session may well be
        unreachable."""
        assert self._cluster is not None
        manager = self._cluster.session()
        kv = await manager.__aenter__()
        try:
            yield kv
        except BaseException as exc:
            if not await manager.__aexit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            with trio.move_on_after(self.op_timeout) as scope:
                try:
                    await manager.__aexit__(None, None, None)
                except Exception:
                    self.session_close_errors += 1
            if scope.cancelled_caught:
                self.session_close_errors += 1

    def _new_process(self) -> int:
        process = self.next_process
        self.next_process += 1
        return process

    async def _work(self, slot: _Slot, kv: KvSession) -> bool:
        """Invoke until the phases are over (False) or the process is retired (True)."""
        while True:
            op = await self._next(slot)
            if op is None:
                return False
            completion = await self._perform(kv, slot.process, op)
            if completion.type is EventType.INFO:
                return True

    async def _next(self, slot: _Slot) -> Invocation | None:
        """The worker's next invocation at its time, or ``None`` when invoking is over."""
        assert self._generator is not None
        while True:
            if self.phase == "heal":
                await self._recovery_open.wait()
                continue
            if self.phase not in ("main", "recovery"):
                await self._workers_done.wait()
                return None
            end = self.spec.time_limit_s if self.phase == "main" else self.recovery_deadline
            now = self.elapsed()
            if now >= end or self.exhausted:
                if self.phase == "main":
                    await self._recovery_open.wait()
                else:
                    await self._workers_done.wait()
                continue
            if slot.next_at > now:
                await trio.sleep(min(slot.next_at, end) - now)
                continue
            try:
                op = self._generator.next(slot.process, now)
            except StopIteration:
                self.exhausted = True
                continue
            if op is None:
                await trio.sleep(max(self._generator.pending_s, 0.001))
                continue
            if self.spec.rate is not None:
                missed = -1
                while slot.next_at <= now:
                    slot.next_at += self._gap(slot)
                    missed += 1
                self.skipped += missed
            return op

    async def _perform(self, kv: KvSession, process: Process, op: Invocation) -> Completion:
        """Invoke ``op`` as ``process``, record its invoke and completion, return it."""
        phase = self.phase
        self._record(Event(process, EventType.INVOKE, op.f, op.value, op.key, self._now_ns()))
        self.in_flight += 1
        completion: Completion | None = None
        try:
            with trio.move_on_after(self.op_timeout):
                try:
                    completion = await self.workload.invoke(kv, op)
                except BUG_EXCEPTIONS:
                    raise
                except Exception as exc:
                    completion = self._unknown(op, f"{type(exc).__name__}: {exc}")
            if completion is None:
                completion = self._unknown(op, f"timeout: no completion in {self.op_timeout:g} s")
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self._quiet.set()
        if completion.type is EventType.INVOKE:
            raise ValueError(f"workload {self.workload.name!r} completed {op.f!r} with 'invoke'")
        value = op.value if completion.type is EventType.INFO else completion.value
        self._record(Event(process, completion.type, op.f, value, op.key, self._now_ns()))
        if (
            phase == "recovery"
            and completion.type is EventType.OK
            and self.first_recovery_ok is None
        ):
            self.first_recovery_ok = self.elapsed()
            tail = self.first_recovery_ok + RECOVERY_TAIL_S
            if tail < self.recovery_deadline:
                self.recovery_deadline = tail
                self._deadline_changed.set()
        return completion

    def _unknown(self, op: Invocation, error: str) -> Completion:
        kind = EventType.FAIL if op.f in self.read_only else EventType.INFO
        return Completion(kind, op.value, error)

    async def _final(self) -> tuple[int, list[str]]:
        """The final phase: each final invocation until ok or the deadline (each is
        tried at least once), ``spec.concurrency`` of them at a time, taken in order."""
        start = self.elapsed()
        self.phase = "final"
        finals = list(self.workload.final_invocations(self.spec))
        queue = list(enumerate(finals))
        missing: dict[int, str] = {}
        deadline = start + self.spec.recovery_s

        async def worker() -> None:
            while queue:
                n, op = queue.pop(0)
                while True:
                    async with self._session() as kv:
                        completion = await self._perform(kv, self._new_process(), op)
                    if completion.type is EventType.OK:
                        break
                    if self.elapsed() >= deadline:
                        why = completion.error or completion.type.value
                        missing[n] = f"{op.f} {show(op.key)}: {why}"
                        break
                    await trio.sleep(FINAL_RETRY_S)

        async with trio.open_nursery() as nursery:
            for _ in range(min(max(1, self.spec.concurrency), len(finals))):
                nursery.start_soon(worker)
        self.phases["final"] = (start, self.elapsed())
        return len(finals), [missing[n] for n in sorted(missing)]

    async def _snapshots(self, cluster: Cluster) -> tuple[dict[NodeId, bytes | None], str | None]:
        try:
            found = await cluster.snapshots()
        except Exception as exc:
            return {node: None for node in cluster.nodes}, f"{type(exc).__name__}: {exc}"
        return {node: found.get(node) for node in cluster.nodes}, None


def _violations(cluster: Cluster) -> tuple[str, ...] | None:
    """The cluster's invariant violations, or ``None`` if it does not watch any."""
    method = getattr(cluster, "invariant_violations", None)
    if method is None:
        return None
    return tuple(str(v) for v in method())
