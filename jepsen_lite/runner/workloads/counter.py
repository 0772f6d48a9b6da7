"""The ``counter`` workload: increments by compare-and-set loops, and reads.

One counter, the store key ``counter/0`` (absent reads as 0). ``add n`` (``n`` from 1 to
5, seeded) reads the value and compare-and-sets it to value + ``n`` (``put_if_absent``
when absent), retrying on refusal up to :data:`CAS_ATTEMPTS` times; exhausted, the add
is a ``fail`` (every attempt was refused, so nothing was added). An exception during
an attempt propagates (the runner records ``info``: that attempt may have applied).
Increments are positive, so the counter only grows and a cas on the value cannot suffer
ABA. ``read`` returns the value. History: ``add n`` and ``read`` (``ok`` value the
integer), key ``null``; the final invocation is one read. Checker:
:class:`~jepsen_lite.runner.checkers.counter.CounterChecker`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from consensus.client.kv import KvSession

from ...history.ops import EventType, Process
from ..api import Checker, Completion, Invocation, TestSpec
from ..checkers.counter import CounterChecker
from .common import decode, encode, refusal_is_fail

KEY = "counter/0"
CAS_ATTEMPTS = 10
"""Refused compare-and-sets one add tries before it gives up (``fail``)."""
DELTA_MAX = 5


class CounterGenerator:
    """Adds (of 1..:data:`DELTA_MAX`) and reads, half each, from the seed."""

    pending_s: float = 0.0

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def next(self, process: Process, now: float) -> Invocation | None:
        if self.rng.random() < 0.5:
            return Invocation("add", None, self.rng.randint(1, DELTA_MAX))
        return Invocation("read")


class CounterWorkload:
    """Increments by cas loops and reads (see the module doc)."""

    name: str = "counter"
    read_only_fs: frozenset[str] = frozenset({"read"})

    def generator(self, rng: random.Random, spec: TestSpec) -> CounterGenerator:
        return CounterGenerator(rng)

    def final_invocations(self, spec: TestSpec) -> Sequence[Invocation]:
        return [Invocation("read")]

    async def invoke(self, kv: KvSession, op: Invocation) -> Completion:
        return await refusal_is_fail(self._invoke(kv, op))

    async def _invoke(self, kv: KvSession, op: Invocation) -> Completion:
        if op.f == "read":
            value = decode(await kv.get(KEY))
            return Completion(EventType.OK, 0 if value is None else value)
        if op.f == "add" and isinstance(op.value, int):
            return await self._add(kv, op.value)
        raise ValueError(f"counter workload: unknown operation {op.f!r} {op.value!r}")

    async def _add(self, kv: KvSession, delta: int) -> Completion:
        for _ in range(CAS_ATTEMPTS):
            current = await kv.get_kv(KEY)
            if current is None:
                result = await kv.put_if_absent(KEY, encode(delta))
            else:
                value = decode(current.value)
                if not isinstance(value, int):
                    return Completion(
                        EventType.FAIL, delta, f"the counter holds {value!r}, not an integer"
                    )
                result = await kv.cas(KEY, encode(value + delta), expected_value=current.value)
            if result.applied:
                return Completion(EventType.OK, delta)
        return Completion(EventType.FAIL, delta, f"{CAS_ATTEMPTS} compare-and-sets refused")

    def checkers(self) -> Sequence[Checker]:
        return [CounterChecker()]
