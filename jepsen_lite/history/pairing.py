"""Pair invoke events with their completions, validating Jepsen's process discipline.

Rules (each violation is a :class:`HistoryError` naming the source and line):

- a process has at most one outstanding invoke;
- every completion (``ok``/``fail``/``info``) follows an invoke of the same process, with
  the same ``f`` and the same ``key``;
- a process that got ``info`` is never reused;
- file order is the real-time order used for checking; event times, where present, are
  for display, and one that goes backwards (clocks of different client machines, or a
  clock step) is a *warning* in :attr:`History.warnings`, not an error (the first
  :data:`MAX_WARNINGS` are kept word for word, then a count);
- either every non-``txn`` operation has a key, or none has.

Invokes that never complete stay open until the end of the history (``Status.PENDING``,
``ret=None``), exactly like ``info`` operations. ``fail`` operations are kept, marked
``Status.FAIL``; the checker removes them.
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import HistoryError
from .ops import UNKNOWN, Event, EventType, History, Operation, Process, Status, show

_STATUS = {EventType.OK: Status.OK, EventType.FAIL: Status.FAIL, EventType.INFO: Status.INFO}
MAX_WARNINGS = 10
"""Warnings kept word for word per history; the rest are counted in one more line."""


def pair_events(events: Iterable[Event], source: str = "<memory>") -> History:
    """Pair a stream of events (in file order) into a :class:`History`.

    Consumes the iterable once, holding only the operations (not the events) in memory.
    """
    operations: list[Operation | None] = []
    pending: dict[Process, tuple[int, int, Event]] = {}  # process -> (op id, index, invoke)
    crashed: dict[Process, int] = {}  # process -> line of its info completion
    last_time: int | None = None
    warnings: list[str] = []
    backwards = 0
    keyed_line: tuple[bool, int] | None = None  # (has key, line) of the first keyed-ness
    count = 0
    for index, event in enumerate(events):
        count += 1
        if event.time is not None:
            if last_time is not None and event.time < last_time:
                backwards += 1
                if backwards <= MAX_WARNINGS:
                    warnings.append(
                        f"{source}:{event.line}: warning: time {event.time} is before an "
                        f"earlier event's time {last_time}; checking uses file order"
                    )
            else:
                last_time = event.time
        process = event.process
        if event.type is EventType.INVOKE:
            if process in pending:
                _, _, prior = pending[process]
                raise HistoryError(
                    source,
                    event.line,
                    f"process {show(process)} invoked {event.f!r} while its {prior.f!r} "
                    f"(line {prior.line}) has not completed",
                )
            if process in crashed:
                raise HistoryError(
                    source,
                    event.line,
                    f"process {show(process)} invoked {event.f!r} after it got 'info' at line "
                    f"{crashed[process]}; a process that got info must never be reused",
                )
            if event.f != "txn":
                has_key = event.key is not None
                if keyed_line is None:
                    keyed_line = (has_key, event.line)
                elif keyed_line[0] != has_key:
                    first = "have keys" if keyed_line[0] else "have no key"
                    this = "has a key" if has_key else "has no key"
                    raise HistoryError(
                        source,
                        event.line,
                        f"operation {this} but earlier operations {first} (line {keyed_line[1]})",
                    )
            pending[process] = (len(operations), index, event)
            operations.append(None)
            continue
        if process not in pending:
            raise HistoryError(
                source,
                event.line,
                f"process {show(process)} completed {event.f!r} with {event.type.value!r} "
                "but has no pending invoke",
            )
        op_id, call, invoke = pending.pop(process)
        if event.f != invoke.f:
            raise HistoryError(
                source,
                event.line,
                f"process {show(process)} completed {event.f!r} but invoked {invoke.f!r} "
                f"at line {invoke.line}",
            )
        if event.key != invoke.key:
            raise HistoryError(
                source,
                event.line,
                f"process {show(process)} completed key {show(event.key)} but invoked key "
                f"{show(invoke.key)} at line {invoke.line}",
            )
        status = _STATUS[event.type]
        if status is Status.INFO:
            crashed[process] = event.line
        operations[op_id] = Operation(
            id=op_id,
            process=process,
            f=invoke.f,
            key=invoke.key,
            input=invoke.value,
            output=event.value if status is not Status.INFO else UNKNOWN,
            status=status,
            call=call,
            ret=index if status is not Status.INFO else None,
            complete_index=index,
            call_time=invoke.time,
            return_time=event.time,
            line=invoke.line,
            complete_line=event.line,
        )
    for op_id, call, invoke in pending.values():
        operations[op_id] = Operation(
            id=op_id,
            process=invoke.process,
            f=invoke.f,
            key=invoke.key,
            input=invoke.value,
            output=UNKNOWN,
            status=Status.PENDING,
            call=call,
            ret=None,
            call_time=invoke.time,
            line=invoke.line,
        )
    done = tuple(op for op in operations if op is not None)
    assert len(done) == len(operations), "every invoke is paired or pending"
    if backwards > MAX_WARNINGS:
        warnings.append(
            f"{source}: warning: {backwards - MAX_WARNINGS} more events whose time goes "
            f"backwards ({backwards} in all)"
        )
    return History(operations=done, source=source, event_count=count, warnings=tuple(warnings))
