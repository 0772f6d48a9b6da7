"""The ``register`` and ``cas-register`` workloads: reads, writes (and compare-and-set) on
independent keys, checked per key for linearizability and for lost writes.

History (the shape :mod:`jepsen_lite.models.register` expects, so ``jepsen-lite check
--model register|cas-register history.jsonl`` checks a run's history directly): ``f`` is
``read`` (invoke value ``null``, ``ok`` value the integer read, ``null`` for an absent
key), ``write v`` (``v`` unique per key: 1, 2, 3, ...) or ``cas [expected, new]``
(``expected`` ``null``: the key must be absent, run as ``put_if_absent``). A cas the
store refused (the value was not ``expected``) is a ``fail``, Cassandra's
``[applied]=false`` convention; its error names the value found. Keys are
``register/<n>`` (``cas-register/<n>``), ``spec.keys`` of them live at a time, each
retired after ``spec.ops_per_key`` operations (see :class:`~.common.KeyPool`).

The final invocations read every key the generator handed out (so the lost-writes
checker sees each key's value after heal). ``--option reader_processes=N``: the first N
worker slots only read (see :class:`RegisterGenerator`). ``--option
read_consistency=linearizable|lease|stale``: how reads are served (default
linearizable; see :func:`~.common.read_consistency`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import ClassVar

from consensus.client.kv import KvSession
from consensus.client.protocol import Consistency

from ...history.ops import EventType, Process
from ...models import CasRegisterModel, Model, RegisterModel
from ..api import Checker, Completion, Invocation, TestSpec
from ..checkers.linearizable import LinearizableChecker
from ..checkers.lost_writes import LostWritesChecker
from .common import KeyPool, UniqueValues, decode, encode, read_consistency, refusal_is_fail


class RegisterGenerator:
    """Seeded operations on independent keys: each ``next`` picks ``f`` from ``mix``
    (weights), a live key, and a fresh value for writes. Never exhausted, never waits
    (the runner paces the offered load). The first ``readers`` worker slots (processes
    whose id modulo ``concurrency`` is below it) only read: a read-heavy application
    whose clients never write, so never learn from a failed write that their node lost
    its leadership."""

    pending_s: float = 0.0

    def __init__(
        self,
        rng: random.Random,
        pool: KeyPool,
        mix: Sequence[tuple[str, float]],
        readers: int = 0,
        concurrency: int = 1,
    ) -> None:
        self.readers = readers
        self.concurrency = max(1, concurrency)
        self.rng = rng
        self.pool = pool
        self.values = UniqueValues()
        self.fs = [f for f, _ in mix]
        self.weights = [w for _, w in mix]

    def next(self, process: Process, now: float) -> Invocation | None:
        f = self.rng.choices(self.fs, self.weights)[0]
        if isinstance(process, int) and process % self.concurrency < self.readers:
            f = "read"
        key = self.pool.pick(self.rng)
        if f == "read":
            return Invocation("read", key)
        if f == "write":
            return Invocation("write", key, self.values.fresh(key))
        expected = self.values.recent(self.rng, key)
        return Invocation("cas", key, (expected, self.values.fresh(key)))


class RegisterWorkload:
    """Reads and writes (see the module doc); checkers: linearizability per key
    (register model) and lost writes."""

    name: str = "register"
    read_only_fs: frozenset[str] = frozenset({"read"})
    mix: ClassVar[tuple[tuple[str, float], ...]] = (("read", 1.0), ("write", 1.0))

    def __init__(self) -> None:
        self.pool: KeyPool | None = None
        self.consistency: Consistency = "linearizable"

    def model(self) -> Model:
        return RegisterModel()

    def generator(self, rng: random.Random, spec: TestSpec) -> RegisterGenerator:
        self.pool = KeyPool(f"{self.name}/", spec.keys, spec.ops_per_key)
        self.consistency = read_consistency(spec)
        readers = spec.options.get("reader_processes", 0)
        if isinstance(readers, bool) or not isinstance(readers, int) or readers < 0:
            raise ValueError(f"option reader_processes must be an integer >= 0, got {readers!r}")
        return RegisterGenerator(rng, self.pool, self.mix, readers, spec.concurrency)

    def final_invocations(self, spec: TestSpec) -> Sequence[Invocation]:
        """A read of every key handed out so far (none before ``generator`` ran)."""
        issued = self.pool.issued if self.pool is not None else []
        return [Invocation("read", key) for key in issued]

    async def invoke(self, kv: KvSession, op: Invocation) -> Completion:
        return await refusal_is_fail(self._invoke(kv, op))

    async def _invoke(self, kv: KvSession, op: Invocation) -> Completion:
        key = str(op.key)
        if op.f == "read":
            return Completion(EventType.OK, decode(await kv.get(key, consistency=self.consistency)))
        if op.f == "write":
            assert isinstance(op.value, int)
            await kv.put(key, encode(op.value))
            return Completion(EventType.OK, op.value)
        if op.f == "cas" and isinstance(op.value, tuple) and len(op.value) == 2:
            expected, new = op.value
            assert isinstance(new, int) and (expected is None or isinstance(expected, int))
            if expected is None:
                result = await kv.put_if_absent(key, encode(new))
            else:
                result = await kv.cas(key, encode(new), expected_value=encode(expected))
            if result.applied:
                return Completion(EventType.OK, op.value)
            found = decode(result.kv.value) if result.kv is not None else None
            return Completion(EventType.FAIL, op.value, f"cas refused: the value was {found}")
        raise ValueError(f"{self.name} workload: unknown operation {op.f!r} {op.value!r}")

    def checkers(self) -> Sequence[Checker]:
        return [LinearizableChecker(self.model()), LostWritesChecker()]


class CasRegisterWorkload(RegisterWorkload):
    """Reads, writes and compare-and-set (cas-register model)."""

    name: str = "cas-register"
    mix: ClassVar[tuple[tuple[str, float], ...]] = (
        ("read", 2.0),
        ("write", 1.0),
        ("cas", 2.0),
    )

    def model(self) -> Model:
        return CasRegisterModel()
