"""What a model is, and the shared machinery of the per-key models.

A model is a sequential specification: ``init(key)`` gives the initial state and the pure
``step(state, op) -> (legal, new_state)`` says whether ``op`` (with its observed output)
could happen in ``state`` and what state follows. States must be hashable (the checker
memoizes ``(linearized ops, state)``) and ``step`` must not mutate them. ``step`` may only
depend on the state and the operation's ``f``, ``input`` and ``output`` (the checker treats
operations equal in those three as interchangeable), as Knossos's models depend only on
``:f`` and ``:value``.

Optional parts: ``partition(ops)`` splits a history into independent sub-histories
(P-compositionality: a history is linearizable iff each part is), ``read_only(op)`` says an
operation cannot change the state (so an ``info`` one constrains nothing and is dropped),
``validate(op)`` checks and normalizes an operation's values once before checking,
``describe_state``/``describe_op`` render for people, and ``unreachable(key, ops)`` may
name a read of one partition that no order of the writes before it can explain (index and
reason: a proof of non-linearizability that spares the search, see
:mod:`jepsen_lite.models.reachable`; it must never name a read that some linearization
explains). ``resets(op)`` and ``can_grow_to(state, value)`` together let the search drop a
configuration as soon as a pending read can no longer be reached (see ``KvModel``): a reset
must be legal in every state and lead to one state from every state, every other
operation must keep or grow the state (``can_grow_to(s, v)`` false implies it false for
every state that operation leads to from ``s``), and ``can_grow_to`` may answer true when
unsure but never false for a value that operations other than resets can reach.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import ClassVar, Protocol, TypeAlias

import attrs

from ..history.ops import Operation, Value, freeze, show

State: TypeAlias = Hashable
"""A model state: any hashable value, treated as immutable."""


@attrs.frozen
class Partition:
    """An independent sub-history: ``key`` labels it (``None`` for a single object)."""

    key: Value
    ops: tuple[Operation, ...]


class Model(Protocol):
    """The interface the checker needs. See the module docstring for the contracts."""

    @property
    def name(self) -> str:
        """The model's CLI name, e.g. ``"cas-register"``."""
        ...

    @property
    def fs(self) -> frozenset[str]:
        """The operation functions (``f``) this model understands."""
        ...

    def init(self, key: Value = None) -> State:
        """The initial state of the object (or of the partition labelled ``key``)."""
        ...

    def step(self, state: State, op: Operation) -> tuple[bool, State]:
        """Pure transition: may ``op`` happen in ``state`` (with its output), and then?"""
        ...

    def validate(self, op: Operation) -> Operation:
        """Check ``op`` suits this model and return it normalized; ``ValueError`` if not."""
        ...

    def read_only(self, op: Operation) -> bool:
        """True when ``op`` can never change the state, whatever it is."""
        ...

    def partition(self, ops: Sequence[Operation]) -> list[Partition]:
        """Split ``ops`` (call order) into independent sub-histories, each in call order."""
        ...

    def describe_state(self, state: State) -> str:
        """A short rendering of a state."""
        ...

    def describe_op(self, op: Operation) -> str:
        """A short rendering of an operation with its input and output."""
        ...


@attrs.frozen
class KeyedInit:
    """Initial values: ``default`` for every key, except those in ``per_key`` (string keys,
    as JSON objects have them: key ``1`` and key ``"1"`` share an entry)."""

    default: Value = None
    per_key: tuple[tuple[str, Value], ...] = ()

    def value_for(self, key: Value) -> Value:
        """The initial value of ``key``."""
        if self.per_key:
            wanted = key if isinstance(key, str) else show(key)
            for name, value in self.per_key:
                if name == wanted:
                    return value
        return self.default

    @classmethod
    def from_json(cls, data: object, default: Value = None) -> KeyedInit:
        """``--init`` JSON: an object maps keys to initial values (other keys get
        ``default``); anything else is the initial value of every key."""
        if isinstance(data, Mapping):
            return cls(default, tuple((str(k), freeze(v)) for k, v in data.items()))
        return cls(freeze(data) if data is not None else default)


def unsupported(model: str, op: Operation) -> ValueError:
    """The error for an operation whose ``f`` the model does not know."""
    return ValueError(f"model {model!r} does not support f {op.f!r} (op: {describe(op)})")


def describe(op: Operation) -> str:
    """Generic rendering: ``f input`` for updates, ``f → output`` for reads."""
    if op.f in ("read", "get"):
        return f"{op.f} → {show(op.output)}"
    if op.f == "cas" and isinstance(op.input, tuple) and len(op.input) == 2:
        return f"cas {show(op.input[0])}→{show(op.input[1])}"
    return f"{op.f} {show(op.input)}"


@attrs.frozen
class KeyedModel:
    """Base of the models whose keys are independent objects: partition by ``op.key``,
    initial state per key from :class:`KeyedInit`. Subclasses set ``name``/``fs`` and
    implement ``step``; they may extend ``validate`` and ``read_only``."""

    name: ClassVar[str] = "keyed"
    fs: ClassVar[frozenset[str]] = frozenset()
    reads: ClassVar[frozenset[str]] = frozenset({"read", "get"})
    """The functions that never change the state."""

    initial: KeyedInit = KeyedInit()

    def init(self, key: Value = None) -> State:
        return self.initial.value_for(key)

    def validate(self, op: Operation) -> Operation:
        if op.f not in self.fs:
            raise unsupported(self.name, op)
        return op

    def read_only(self, op: Operation) -> bool:
        return op.f in self.reads

    def partition(self, ops: Sequence[Operation]) -> list[Partition]:
        groups: dict[Value, list[Operation]] = {}
        for op in ops:
            groups.setdefault(op.key, []).append(op)
        return [Partition(key, tuple(group)) for key, group in groups.items()]

    def describe_state(self, state: State) -> str:
        return show_state(state)

    def describe_op(self, op: Operation) -> str:
        return describe(op)


def show_state(state: State) -> str:
    """Render a state that is a :data:`Value` as JSON-ish text, anything else by ``repr``."""
    if state is None or isinstance(state, bool | int | float | str | tuple | frozenset):
        return show(state)
    return repr(state)
