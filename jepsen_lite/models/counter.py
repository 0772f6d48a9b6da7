"""A counter per key: ``add n`` (an integer, possibly negative) adds ``n``; ``read`` is
legal when its output equals the current total (UNKNOWN output: always legal)."""

from __future__ import annotations

from typing import ClassVar

import attrs

from ..history.ops import UNKNOWN, Operation, Status, Value, show
from .base import KeyedModel, State


@attrs.frozen
class CounterModel(KeyedModel):
    """An integer counter per key (initially 0 unless configured)."""

    name: ClassVar[str] = "counter"
    fs: ClassVar[frozenset[str]] = frozenset({"add", "read"})

    def init(self, key: Value = None) -> State:
        value = self.initial.value_for(key)
        return 0 if value is None else value

    def step(self, state: State, op: Operation) -> tuple[bool, State]:
        if op.f == "add":
            return True, state + op.input  # type: ignore[operator]
        out = op.output
        return (out is UNKNOWN or out == state), state

    def validate(self, op: Operation) -> Operation:
        op = super().validate(op)
        if op.f == "add" and (isinstance(op.input, bool) or not isinstance(op.input, int)):
            raise ValueError(f"a counter add takes an integer, got {show(op.input)}")
        observed = op.f == "read" and op.status is Status.OK and op.output is not UNKNOWN
        number = isinstance(op.output, int) and not isinstance(op.output, bool)
        if observed and not number:
            raise ValueError(f"a counter read must return an integer, got {show(op.output)}")
        return op
