"""A small register workload for runner tests: reads and writes of unique integers on
``spec.keys`` keys, one final read of ``k0``, and a real checker (linearizability per key
with the project's checker and ``register`` model). ``ops_per_key`` caps the total
number of operations (the generator is then exhausted)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from jepsen_lite.checker.check import check
from jepsen_lite.checker.result import Verdict
from jepsen_lite.history.ops import EventType, History, Process
from jepsen_lite.models import make_model
from jepsen_lite.runner.api import (
    Checker,
    CheckerResult,
    Completion,
    Invocation,
    RunFacts,
    TestSpec,
    Validity,
)

if TYPE_CHECKING:
    from consensus.client.kv import KvSession


class FakeGenerator:
    pending_s = 0.01

    def __init__(self, rng: random.Random, spec: TestSpec) -> None:
        self.rng = rng
        self.spec = spec
        self.issued = 0
        self.asked: list[tuple[Process, float]] = []

    def next(self, process: Process, now: float) -> Invocation | None:
        self.asked.append((process, now))
        if self.issued >= self.spec.ops_per_key * self.spec.keys:
            raise StopIteration
        self.issued += 1
        key = f"k{self.rng.randrange(self.spec.keys)}"
        if self.rng.random() < 0.5:
            return Invocation("read", key)
        return Invocation("write", key, self.issued)


class LinearizableChecker:
    name = "linearizable"

    def check(self, history: History, facts: RunFacts) -> CheckerResult:
        result = check(make_model("register"), history, workers=1)
        validity = {
            Verdict.LINEARIZABLE: Validity.VALID,
            Verdict.NOT_LINEARIZABLE: Validity.INVALID,
        }.get(result.verdict, Validity.UNKNOWN)
        return CheckerResult(
            self.name, validity, result.verdict.value, {"ops": len(history.operations)}
        )


class FakeWorkload:
    name = "fake"
    read_only_fs = frozenset({"read"})
    last_generator: FakeGenerator | None = None

    def generator(self, rng: random.Random, spec: TestSpec) -> FakeGenerator:
        gen = FakeGenerator(rng, spec)
        FakeWorkload.last_generator = gen
        return gen

    def final_invocations(self, spec: TestSpec) -> Sequence[Invocation]:
        return (Invocation("read", "k0"),)

    async def invoke(self, kv: KvSession, op: Invocation) -> Completion:
        assert isinstance(op.key, str)
        if op.f == "read":
            raw = await kv.get(op.key)
            return Completion(EventType.OK, None if raw is None else int(raw))
        await kv.put(op.key, str(op.value).encode())
        return Completion(EventType.OK, op.value)

    def checkers(self) -> Sequence[Checker]:
        return (LinearizableChecker(),)
