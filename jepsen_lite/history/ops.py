"""Events and operations, with Jepsen's meaning of each completion type.

A *history* is what clients saw, in real-time order: each client process emits an
``invoke`` event and then exactly one completion:

- ``ok``: the operation happened, and took effect once between its invoke and its ok;
- ``fail``: the operation definitely did not happen (it is removed before checking);
- ``info``: unknown; the operation may take effect at any later time, or never. A process
  that got ``info`` is never reused.

An :class:`Event` is one line of a history file. An :class:`Operation` is an invoke paired
with its completion (see :mod:`jepsen_lite.history.pairing`). Position in the file is the
real-time order: ``Operation.call`` and ``Operation.ret`` are event indexes, and ``ret`` is
``None`` (read: +infinity) for operations that never completed definitely.

Values are frozen, hashable JSON-like data (:data:`Value`): JSON arrays become tuples, EDN
sets become frozensets, and :data:`UNKNOWN` marks a result nobody observed.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from typing import TypeAlias

import attrs


class Unknown(enum.Enum):
    """The type of :data:`UNKNOWN`."""

    UNKNOWN = "unknown"

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = Unknown.UNKNOWN
"""A result nobody observed: the output of an ``info`` or never-completed operation, and
(in EDN histories, following Knossos) the value of an ``:ok`` read that returned ``nil``."""

Value: TypeAlias = (
    bool | int | float | str | Unknown | tuple["Value", ...] | frozenset["Value"] | None
)
"""Frozen, hashable data: what registers hold, what reads return, what writes write."""

Process: TypeAlias = int | str
"""A client process: an integer, or a name (EDN keywords such as ``:nemesis``)."""


class EventType(enum.Enum):
    """The four event types of a history line."""

    INVOKE = "invoke"
    OK = "ok"
    FAIL = "fail"
    INFO = "info"


class Status(enum.Enum):
    """How an operation ended, from the checker's point of view."""

    OK = "ok"
    """Completed with ``ok``: it took effect between ``call`` and ``ret``."""
    FAIL = "fail"
    """Completed with ``fail``: it never took effect. Removed before checking."""
    INFO = "info"
    """Completed with ``info``: may take effect at any time after ``call``, or never."""
    PENDING = "pending"
    """Never completed in the history: treated exactly like ``info``."""


F_NAMES = frozenset({"read", "write", "cas", "get", "put", "append", "add", "txn"})
"""Every ``f`` a history may use; each model accepts a subset (``Model.fs``)."""

MICRO_OP_NAMES = frozenset({"read", "write"})
"""The ``f`` of a micro-operation inside a multi-register ``txn`` value."""


@attrs.frozen
class Event:
    """One history line: ``process`` did ``type`` of ``f`` on ``key`` with ``value``.

    ``key`` is ``None`` for single-object histories. ``time`` is a monotonic time in
    nanoseconds (``None`` when the source had none). ``line`` is the 1-based source line
    (0 for events built in memory).
    """

    process: Process
    type: EventType
    f: str
    value: Value
    key: Value = None
    time: int | None = None
    line: int = 0


@attrs.frozen
class Operation:
    """An invoke paired with its completion.

    ``id`` is the operation's position in :attr:`History.operations` (call order).
    ``input`` is the invoke's value (what was asked); ``output`` the ok's value (what was
    seen), or :data:`UNKNOWN` for info/pending operations. ``call`` and ``ret`` are event
    indexes (real-time order); ``ret`` is ``None`` when the operation is open until the end
    of the history (info or pending). ``complete_index`` is the completion event's index
    even for info (``None`` if pending), kept for display only. Times are nanoseconds.
    """

    id: int
    process: Process
    f: str
    key: Value
    input: Value
    output: Value
    status: Status
    call: int
    ret: int | None
    complete_index: int | None = None
    call_time: int | None = None
    return_time: int | None = None
    line: int = 0
    complete_line: int | None = None

    @property
    def is_open(self) -> bool:
        """True when the operation may take effect at any later time, or never."""
        return self.ret is None


@attrs.frozen
class History:
    """A paired, validated history: operations in call order, plus where it came from.

    ``event_count`` is the number of client events read (nemesis events excluded).
    ``warnings`` are problems that do not stop checking (event times going backwards),
    each a ``FILE:LINE: warning: ...`` line for people.
    """

    operations: tuple[Operation, ...]
    source: str = "<memory>"
    event_count: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def keys(self) -> frozenset[Value]:
        """The distinct keys of the operations (``{None}`` for a single object)."""
        return frozenset(op.key for op in self.operations)


def freeze(data: object) -> Value:
    """Turn decoded JSON-like data into a hashable :data:`Value` (lists become tuples).

    Raises ``TypeError`` for anything else, such as a JSON object: values must be scalars
    or arrays, so that model states stay hashable.
    """
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, list | tuple):
        return tuple(freeze(item) for item in data)
    if isinstance(data, frozenset | set):
        return frozenset(freeze(item) for item in data)
    raise TypeError(f"unsupported value {data!r}: use null, booleans, numbers, strings, arrays")


def thaw(value: Value) -> object:
    """Turn a :data:`Value` back into JSON-encodable data (UNKNOWN becomes ``None``)."""
    if isinstance(value, tuple):
        return [thaw(item) for item in value]
    if isinstance(value, frozenset):
        return [thaw(item) for item in _sorted_values(value)]
    if value is UNKNOWN:
        return None
    return value


def _sorted_values(values: Iterable[Value]) -> list[Value]:
    """Sort mixed values deterministically (by type name, then by JSON text)."""
    return sorted(values, key=lambda v: (type(v).__name__, json.dumps(thaw(v))))


def show(value: Value) -> str:
    """A short, human-readable rendering of a value (JSON text; ``?`` for UNKNOWN)."""
    if value is UNKNOWN:
        return "?"
    if isinstance(value, frozenset):
        return "{" + ", ".join(show(v) for v in _sorted_values(value)) + "}"
    return json.dumps(thaw(value), separators=(",", ":"))
