"""A small stand-in for the run loop, for workload tests: ``concurrency`` Trio tasks
take operations from a workload's generator and run them over real sessions of one
in-process store (:mod:`tests.runner.fakes`), recording Jepsen events with the
meanings of :mod:`jepsen_lite.runner.api` (an exception is ``fail`` for a read-only
``f`` and ``info`` otherwise, and an ``info`` retires the process); then the final
invocations, each by a fresh process. Returns the paired history."""

from __future__ import annotations

import random
from typing import Any

import trio

from consensus.client.client import ClientError
from consensus.client.protocol import Consistency
from consensus.types import Entry, EntryKind
from jepsen_lite.history.ops import Event, EventType, History
from jepsen_lite.history.pairing import pair_events
from jepsen_lite.runner.api import Invocation, RunFacts, TestSpec
from statemachines.kv import KvStateMachine

from .fakes import LocalBackend, local_session

NO_FACTS = RunFacts(faults=(), snapshots={}, phases={})


async def drive(
    workload: Any,
    spec: TestSpec,
    ops: int,
    *,
    concurrency: int = 4,
    backend: LocalBackend | None = None,
    seed: int = 0,
    final: bool = True,
    record: list[Event] | None = None,
) -> History:
    backend = backend or LocalBackend()
    generator = workload.generator(random.Random(seed), spec)
    events: list[Event] = [] if record is None else record
    left = [ops]
    processes = [concurrency]

    async def run_one(process: int, kv: Any, op: Invocation) -> bool:
        """Run ``op``; True when the process got ``info`` and must be retired."""
        events.append(Event(process, EventType.INVOKE, op.f, op.value, op.key))
        try:
            done = await workload.invoke(kv, op)
        except Exception as exc:
            kind = EventType.FAIL if op.f in workload.read_only_fs else EventType.INFO
            events.append(Event(process, kind, op.f, op.value, op.key))
            del exc
            return kind is EventType.INFO
        events.append(Event(process, done.type, op.f, done.value, op.key))
        return done.type is EventType.INFO

    async def worker(process: int) -> None:
        kv = local_session(backend)
        while left[0] > 0:
            op = generator.next(process, trio.current_time())
            if op is None:
                await trio.sleep(generator.pending_s)
                continue
            left[0] -= 1
            if await run_one(process, kv, op):
                process = processes[0]
                processes[0] += 1
                kv = local_session(backend)

    async with trio.open_nursery() as nursery:
        for process in range(concurrency):
            nursery.start_soon(worker, process)
    if final:
        for op in workload.final_invocations(spec):
            process = processes[0]
            processes[0] += 1
            await run_one(process, local_session(backend), op)
    return pair_events(events)


def check_all(workload: Any, history: History) -> dict[str, Any]:
    """Each checker's result by name."""
    return {c.name: c.check(history, NO_FACTS) for c in workload.checkers()}


class FailingAt(LocalBackend):
    """A :class:`LocalBackend` whose ``n``-th proposals (counting from 1, session
    registrations included) fail as ``failures[n]`` says: ``"before"`` (not applied)
    or ``"after"`` (applied, then the reply is lost)."""

    def __init__(self, failures: dict[int, str]) -> None:
        super().__init__()
        self.failures = failures
        self.proposals = 0

    async def propose(self, command: bytes) -> bytes:
        self.proposals += 1
        when = self.failures.get(self.proposals)
        if when is not None:
            self.fail_next.append((when, ClientError(f"proposal {self.proposals} failed {when}")))
        return await super().propose(command)


class StaleReads(LocalBackend):
    """A buggy store: queries are answered from a replica that applies every command
    ``lag`` commands late (a follower serving reads without a read barrier)."""

    def __init__(self, lag: int) -> None:
        super().__init__()
        self.lag = lag
        self.replica = KvStateMachine()
        self.log: list[Entry] = []

    async def propose(self, command: bytes) -> bytes:
        result = await super().propose(command)
        self.log.append(Entry(self.index, 1, command, EntryKind.NORMAL))
        if len(self.log) > self.lag:
            self.replica.apply(self.log[len(self.log) - self.lag - 1])
        return result

    async def query(self, query: bytes, *, consistency: Consistency = "linearizable") -> bytes:
        await trio.lowlevel.checkpoint()
        return self.replica.query(query)


class RollsBack(LocalBackend):
    """A buggy store: the store revisions in ``lost`` (the n-th write that changed the
    data) are applied and acknowledged, then undone (an acknowledged write lost, e.g.
    to a leader change)."""

    def __init__(self, lost: set[int]) -> None:
        super().__init__()
        self.lost = lost

    async def propose(self, command: bytes) -> bytes:
        await trio.lowlevel.checkpoint()
        before = self.machine.snapshot()
        self.index += 1
        result = self.machine.apply(Entry(self.index, 1, command, EntryKind.NORMAL))
        if self.machine.revision in self.lost:
            self.lost.discard(self.machine.revision)
            self.machine.restore(before)
        return result
