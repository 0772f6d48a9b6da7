"""Knossos's multi-register: transactions of reads and writes over registers named by keys.

An operation is ``f = "txn"`` whose value is a list of micro-ops ``[f, key, value]`` with
``f`` ``read`` or ``write`` (Jepsen: ``[[:read :x 1] [:write :y 2]]``). A transaction
applies its micro-ops in order, atomically: each read must see the value the register
holds at that point (reads of UNKNOWN, e.g. Knossos's ``nil`` reads, always pass), each
write sets it. An ``ok`` transaction is judged by its completion's micro-ops (which carry
the values read); an ``info`` one by its invoke's writes only, its reads being unknown.

Partitioning: transactions that share no key are independent, so the history splits into
the connected components of "touches a key in common" (each component's label is the
tuple of its keys). The state is a frozenset of ``(key, value)`` pairs for the keys
written so far; a key not in it holds its initial value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import attrs

from ..history.ops import UNKNOWN, Operation, Status, Value, show
from .base import KeyedModel, Partition, State, unsupported


@attrs.frozen
class MultiRegisterModel(KeyedModel):
    """Registers named by keys, read and written by atomic transactions."""

    name: ClassVar[str] = "multi-register"
    fs: ClassVar[frozenset[str]] = frozenset({"txn"})

    def init(self, key: Value = None) -> State:
        return frozenset()

    def step(self, state: State, op: Operation) -> tuple[bool, State]:
        assert isinstance(state, frozenset)
        output = op.output
        known = output is not UNKNOWN
        micro_ops = output if known else op.input
        current: dict[Value, Value] | None = None
        for f, key, value in micro_ops:  # type: ignore[union-attr,misc,str-unpack]
            if f == "read":
                if not known or value is UNKNOWN:
                    continue
                if current is None:
                    current = dict(state)
                held = current[key] if key in current else self.initial.value_for(key)
                if held != value:
                    return False, state
            else:
                if current is None:
                    current = dict(state)
                current[key] = value
        if current is None or all(f == "read" for f, _, _ in micro_ops):  # type: ignore[union-attr,misc,str-unpack]
            return True, state
        return True, frozenset(current.items())

    def validate(self, op: Operation) -> Operation:
        if op.f not in self.fs:
            raise unsupported(self.name, op)
        _check_txn(op.input, "invoke")
        if op.output is not UNKNOWN and op.status is Status.OK:
            _check_txn(op.output, "ok")
            if len(op.output) != len(op.input):  # type: ignore[arg-type]
                raise ValueError("an ok txn must list the same micro-ops as its invoke")
        return op

    def read_only(self, op: Operation) -> bool:
        micro_ops = op.input
        return isinstance(micro_ops, tuple) and all(m[0] == "read" for m in micro_ops)  # type: ignore[index]

    def partition(self, ops: Sequence[Operation]) -> list[Partition]:
        parent: dict[Value, Value] = {}

        def find(key: Value) -> Value:
            root = key
            while parent.setdefault(root, root) != root:
                root = parent[root]
            while parent[key] != root:
                parent[key], key = root, parent[key]
            return root

        for op in ops:
            keys = [m[1] for m in op.input]  # type: ignore[union-attr,index]
            for key in keys[1:]:
                a, b = find(keys[0]), find(key)
                if a != b:
                    parent[b] = a
        groups: dict[Value, list[Operation]] = {}
        members: dict[Value, set[Value]] = {}
        for op in ops:
            if not op.input:
                continue  # an empty transaction constrains nothing
            root = find(op.input[0][1])  # type: ignore[index]
            groups.setdefault(root, []).append(op)
            members.setdefault(root, set()).update(m[1] for m in op.input)  # type: ignore[union-attr,index]
        return [
            Partition(tuple(sorted(members[root], key=show)), tuple(group))
            for root, group in groups.items()
        ]

    def describe_state(self, state: State) -> str:
        assert isinstance(state, frozenset)
        pairs = sorted(state, key=lambda kv: show(kv[0]))
        return "{" + ", ".join(f"{show(k)}: {show(v)}" for k, v in pairs) + "}"

    def describe_op(self, op: Operation) -> str:
        micro_ops = op.output if op.output is not UNKNOWN else op.input
        shown = [f"{m[0][0]} {show(m[1])} {show(m[2])}" for m in micro_ops]  # type: ignore[union-attr,index]
        return "txn [" + ", ".join(shown) + "]"


def _check_txn(value: Value, where: str) -> None:
    if not isinstance(value, tuple):
        raise ValueError(f"a txn {where} value must be a list of [f, key, value] micro-ops")
    for micro in value:
        if not (isinstance(micro, tuple) and len(micro) == 3 and micro[0] in ("read", "write")):
            raise ValueError(
                f'a txn micro-op must be ["read"|"write", key, value], got {show(micro)}'
            )
