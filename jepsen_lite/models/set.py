"""A grow-only set per key (Knossos's ``set``): ``add x`` adds ``x``; ``read`` returns the
whole set and is legal when it equals the set exactly (order and duplicates in the
history's array are ignored). An UNKNOWN read output is always legal.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from ..history.ops import UNKNOWN, Operation, Status, Value, show
from .base import KeyedModel, State


@attrs.frozen
class SetModel(KeyedModel):
    """A set of values per key (initially empty unless configured with a JSON array)."""

    name: ClassVar[str] = "set"
    fs: ClassVar[frozenset[str]] = frozenset({"add", "read"})

    def init(self, key: Value = None) -> State:
        value = self.initial.value_for(key)
        if value is None:
            return frozenset()
        return frozenset(value) if isinstance(value, tuple | frozenset) else frozenset([value])

    def step(self, state: State, op: Operation) -> tuple[bool, State]:
        assert isinstance(state, frozenset)
        if op.f == "add":
            if op.input in state:
                return True, state
            return True, state | {op.input}
        out = op.output
        return (out is UNKNOWN or out == state), state

    def validate(self, op: Operation) -> Operation:
        op = super().validate(op)
        if op.f == "read" and op.status is Status.OK and op.output is not UNKNOWN:
            if not isinstance(op.output, tuple | frozenset):
                raise ValueError(f"a set read must return an array, got {show(op.output)}")
            return attrs.evolve(op, output=frozenset(op.output))
        return op
