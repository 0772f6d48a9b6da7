"""The operations around an anomaly: which history operations a checker's details name,
and a window of the history around them.

Checkers name operations by their call event index (``Operation.call``, the position
among the client events of ``history.jsonl``). :func:`references` reads those names out
of one checker's ``details`` as it is stored in ``results.json``:

- a *focus* operation is the anomaly itself: a counterexample's ``call_event`` (the
  operation that cannot be linearized), a lost-write or out-of-bounds read's
  ``read_event``, a revisions anomaly's ``event``, a bank read's ``read_event``, the set
  adds whose elements are lost, unexpected, failed-but-present or duplicated;
- a *related* operation is one the explanation leans on: a counterexample's last
  linearized operations (``last_linearized_events``), the write that overwrote a lost
  value (``superseded_by_event``) and the writes of the value a lost-write read saw, the
  final read of a set.

One dict of the details that holds a focus name is one anomaly (a :class:`Reference`);
at most :data:`MAX_ANOMALIES` of them per checker are shown. :func:`window` then picks
the operations to show: every operation on the anomaly's key whose interval overlaps a
focus operation (what a linearization could have ordered around it), and
:data:`NEIGHBOURS` operations on that key before and after each focus and related
operation, in call order, at most :data:`MAX_ROWS` rows (those nearest the first focus
operation are kept). Gaps between the picked operations are counted, so a page can say
how many operations it left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from ..history.ops import History, Operation, Status, Value, freeze

FOCUS_KEYS = ("call_event", "read_event", "event")
"""Details keys whose integer value names the anomaly's own operation."""
RELATED_KEYS = ("superseded_by_event", "final_read_event")
"""Details keys whose integer value names an operation the explanation uses."""
RELATED_LIST_KEYS = ("last_linearized_events",)
"""Details keys whose list of integers names operations the explanation uses."""
SET_ANOMALY_KEYS = ("lost", "unexpected", "failed-but-present", "duplicated")
"""The set checker's lists of elements; the adds of those elements are focus operations."""
MAX_ANOMALIES = 3
"""Anomalies shown per checker (the first ones the checker lists)."""
MAX_FOCUS = 10
"""Focus operations per anomaly (a set checker may list hundreds of lost adds)."""
NEIGHBOURS = 4
"""Operations on the same key shown before and after each highlighted operation."""
MAX_ROWS = 60
"""Operations shown per anomaly."""


@attrs.frozen(slots=True)
class Reference:
    """One anomaly a checker names: ``focus`` and ``related`` are call event indexes;
    ``key`` the key it is about (``None``: no key, or the focus operations' own)."""

    focus: tuple[int, ...]
    related: tuple[int, ...] = ()
    key: Value = None
    has_key: bool = False


@attrs.frozen(slots=True)
class Row:
    """One operation of a window, or (``op`` ``None``) ``skipped`` operations left out."""

    op: Operation | None
    role: str = ""
    """``focus``, ``related`` or empty."""
    skipped: int = 0


@attrs.frozen(slots=True)
class Window:
    """The operations shown around one anomaly."""

    reference: Reference
    rows: tuple[Row, ...]
    missing: tuple[int, ...] = ()
    """Event indexes the details name that the history does not have."""

    @property
    def shown(self) -> int:
        """How many operations the window shows."""
        return sum(1 for row in self.rows if row.op is not None)


def _as_key(value: object) -> Value:
    try:
        return freeze(value)
    except TypeError:
        return None


def _ints(value: object) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
    return []


def _walk(data: object) -> Iterator[Mapping[str, Any]]:
    """Every dict inside ``data``, outermost first."""
    if isinstance(data, Mapping):
        yield data
        for value in data.values():
            yield from _walk(value)
    elif isinstance(data, list):
        for item in data:
            yield from _walk(item)


def references(name: str, details: Mapping[str, Any], history: History) -> list[Reference]:
    """The anomalies ``details`` (checker ``name``'s, from ``results.json``) names, in the
    checker's order, at most :data:`MAX_ANOMALIES` (see the module doc)."""
    if name == "set" or any(_is_element_list(details.get(k)) for k in SET_ANOMALY_KEYS):
        found = _set_reference(details, history)
        if found is not None:
            return [found]
    refs: list[Reference] = []
    by_call = {op.call: op for op in history.operations}
    for item in _walk(details):
        focus = [i for k in FOCUS_KEYS for i in _ints(item.get(k))]
        if not focus:
            continue
        related = [i for k in RELATED_KEYS for i in _ints(item.get(k))]
        related += [i for k in RELATED_LIST_KEYS for i in _ints(item.get(k))]
        has_key = "key" in item or "failing_key" in details
        key = _as_key(details["failing_key"] if "failing_key" in details else item.get("key"))
        if "value" in item and "read_event" in item and has_key:
            related += _writes_of(history, key, _as_key(item["value"]), focus)
        if not has_key and focus[0] in by_call:
            key, has_key = by_call[focus[0]].key, True
        refs.append(Reference(_unique(focus), _unique(related), key, has_key))
        if len(refs) == MAX_ANOMALIES:
            break
    return refs


def _writes_of(history: History, key: Value, value: Value, exclude: Sequence[int]) -> list[int]:
    """Call events of the non-fail writes (a cas: its new value) of ``value`` to ``key``."""
    found = []
    for op in history.operations:
        if op.key != key or op.status is Status.FAIL or op.call in exclude:
            continue
        written = op.input
        if op.f == "cas" and isinstance(written, tuple) and len(written) == 2:
            written = written[1]
        if op.f in ("write", "cas") and written == value:
            found.append(op.call)
    return found


def _is_element_list(value: object) -> bool:
    """A set checker's list of elements (a lost-writes list of dicts is not one)."""
    return isinstance(value, list) and not any(isinstance(v, Mapping) for v in value)


def _set_reference(details: Mapping[str, Any], history: History) -> Reference | None:
    elements = {
        _as_key(v) for k in SET_ANOMALY_KEYS if _is_element_list(details.get(k)) for v in details[k]
    }
    if not elements:
        return None
    adds = [op.call for op in history.operations if op.f == "add" and op.input in elements]
    final = _ints(details.get("final_read_event"))
    if not adds:
        return Reference(tuple(final), ()) if final else None
    return Reference(tuple(adds[:MAX_FOCUS]), tuple(final))


def _unique(values: Iterable[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(values))


def _overlaps(a: Operation, b: Operation) -> bool:
    """True when the two operations' event intervals overlap (open ones never end)."""
    a_end = a.ret if a.ret is not None else float("inf")
    b_end = b.ret if b.ret is not None else float("inf")
    return a.call <= b_end and b.call <= a_end


def window(reference: Reference, history: History) -> Window:
    """The operations to show around ``reference`` (see the module doc)."""
    by_call = {op.call: op for op in history.operations}
    focus = [by_call[i] for i in reference.focus[:MAX_FOCUS] if i in by_call]
    related = [by_call[i] for i in reference.related if i in by_call]
    missing = tuple(i for i in (*reference.focus, *reference.related) if i not in by_call)
    highlighted = {op.call for op in focus + related}
    if reference.has_key:
        lane = [
            op for op in history.operations if op.key == reference.key or op.call in highlighted
        ]
    else:
        lane = list(history.operations)
    position = {op.call: n for n, op in enumerate(lane)}
    picked: set[int] = set()
    for op in focus + related:
        at = position[op.call]
        picked.update(range(max(0, at - NEIGHBOURS), min(len(lane), at + NEIGHBOURS + 1)))
    for n, op in enumerate(lane):
        if any(_overlaps(op, f) for f in focus):
            picked.add(n)
    if len(picked) > MAX_ROWS:
        centre = position[focus[0].call] if focus else min(picked)
        picked = set(sorted(picked, key=lambda n: (abs(n - centre), n))[:MAX_ROWS])
    focus_calls = {op.call for op in focus}
    rows: list[Row] = []
    previous = -1
    for n in sorted(picked):
        if n > previous + 1:
            rows.append(Row(None, skipped=n - previous - 1))
        op = lane[n]
        role = "focus" if op.call in focus_calls else "related" if op.call in highlighted else ""
        rows.append(Row(op, role))
        previous = n
    if picked and previous < len(lane) - 1:
        rows.append(Row(None, skipped=len(lane) - 1 - previous))
    return Window(reference, tuple(rows), missing)
