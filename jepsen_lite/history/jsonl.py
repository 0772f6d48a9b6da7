"""The project's history format, JSON Lines: a streaming reader and a writer.

One JSON object per line, in real-time order (see ``docs/history-format.md``)::

    {"process": 3, "type": "invoke", "f": "cas", "key": "k1", "value": [1, 2], "time": 123456}

The reader validates every line and raises :class:`HistoryError` naming the file and line
of the first bad one; it reads line by line, so a history of a million events never sits
in memory as text or as events. The writer produces exactly this format.

Lines whose ``process`` is ``"nemesis"`` are fault events written by the runner
(``{"process": "nemesis", "type": "info", "f": "start", "value": {...}, "time": ...}``,
where ``value`` may be a JSON object); the reader skips them unvalidated, as Jepsen's
``:nemesis`` events are skipped.
"""

from __future__ import annotations

import json
import time as _time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from .errors import HistoryError
from .ops import F_NAMES, Event, EventType, History, Process, Value, freeze, thaw
from .pairing import pair_events

REQUIRED_FIELDS = ("process", "type", "f", "time")
OPTIONAL_FIELDS = ("key", "value", "index", "error")
"""``index`` and ``error`` are accepted and ignored; ``value`` defaults to ``null``."""

NEMESIS_PROCESS = "nemesis"
"""The process name of fault events (skipped by the reader)."""

_TYPES = {t.value: t for t in EventType}
_ALLOWED = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS)


def parse_line(text: str, source: str, line: int) -> Event:
    """Validate and decode one JSON Lines history line (``line`` is 1-based); a nemesis
    line is an error here (:func:`iter_jsonl_events` skips them)."""
    event = _parse(text, source, line)
    if event is None:
        raise HistoryError(source, line, "a nemesis event is not a client event")
    return event


def _parse(text: str, source: str, line: int) -> Event | None:
    """:func:`parse_line`, but ``None`` for a nemesis line."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HistoryError(source, line, f"invalid JSON: {exc.msg}") from None
    if not isinstance(obj, dict):
        raise HistoryError(source, line, f"expected a JSON object, got {type(obj).__name__}")
    if obj.get("process") == NEMESIS_PROCESS:
        return None
    for name in REQUIRED_FIELDS:
        if name not in obj:
            raise HistoryError(source, line, f"missing field {name!r}")
    for name in obj:
        if name not in _ALLOWED:
            raise HistoryError(source, line, f"unknown field {name!r}")
    process = obj["process"]
    if isinstance(process, bool) or not isinstance(process, int | str):
        raise HistoryError(source, line, "'process' must be an integer or a string")
    kind = _TYPES.get(obj["type"]) if isinstance(obj["type"], str) else None
    if kind is None:
        raise HistoryError(
            source, line, f"'type' must be one of invoke, ok, fail, info; got {obj['type']!r}"
        )
    f = obj["f"]
    if f not in F_NAMES:
        raise HistoryError(
            source, line, f"unsupported f {f!r} (supported: {', '.join(sorted(F_NAMES))})"
        )
    key = obj.get("key")
    if "key" in obj and (isinstance(key, bool) or not isinstance(key, int | str)):
        raise HistoryError(source, line, "'key' must be a string or an integer")
    stamp = obj["time"]
    if isinstance(stamp, bool) or not isinstance(stamp, int) or stamp < 0:
        raise HistoryError(source, line, "'time' must be a non-negative integer (nanoseconds)")
    value = obj.get("value")
    if isinstance(value, list | dict):  # JSON scalars are already frozen
        try:
            value = freeze(value)
        except TypeError as exc:
            raise HistoryError(source, line, f"'value': {exc}") from None
    return Event(process=process, type=kind, f=f, value=value, key=key, time=stamp, line=line)


def read_jsonl_events(path: str | Path, source: str | None = None) -> Iterator[Event]:
    """Yield the events of a JSON Lines history file, validating each line. Blank lines
    are skipped. ``source`` (default: the path) is the file name used in errors."""
    name = source if source is not None else str(path)
    with open(path, encoding="utf-8") as stream:
        yield from iter_jsonl_events(stream, name)


def iter_jsonl_events(lines: Iterable[str], source: str) -> Iterator[Event]:
    """Yield the client events of JSON Lines text given as an iterable of lines
    (nemesis lines skipped)."""
    for number, text in enumerate(lines, start=1):
        if text.strip():
            event = _parse(text, source, number)
            if event is not None:
                yield event


def load_jsonl(path: str | Path) -> History:
    """Read, validate and pair a JSON Lines history file."""
    return pair_events(read_jsonl_events(path), str(path))


def event_to_json(event: Event) -> str:
    """One history line (without newline) for ``event``; ``key`` only when not ``None``."""
    obj: dict[str, object] = {"process": event.process, "type": event.type.value, "f": event.f}
    if event.key is not None:
        obj["key"] = thaw(event.key)
    obj["value"] = thaw(event.value)
    obj["time"] = event.time if event.time is not None else 0
    return json.dumps(obj, separators=(", ", ": "))


def nemesis_to_json(f: str, value: Mapping[str, Any], time: int) -> str:
    """One nemesis history line (without newline): process ``"nemesis"``, type
    ``info``, ``f`` (``start``, ``end``, ``heal``...), ``value`` a JSON object."""
    obj = {"process": NEMESIS_PROCESS, "type": "info", "f": f, "value": value, "time": time}
    return json.dumps(obj, separators=(", ", ": "))


class HistoryWriter:
    """Record a history as JSON Lines, one event per call (buffered: see :meth:`flush`).

    ``clock`` gives the monotonic time in ns for events written without an explicit
    ``time`` (default :func:`time.monotonic_ns`). The writer enforces the format (known
    ``f``, integer time) but not process discipline; the reader checks that on load.
    """

    def __init__(self, stream: TextIO, clock: Callable[[], int] = _time.monotonic_ns) -> None:
        self._stream = stream
        self._clock = clock
        self._owned = False

    @classmethod
    def open(cls, path: str | Path, clock: Callable[[], int] = _time.monotonic_ns) -> HistoryWriter:
        """A writer that creates (or truncates) ``path`` and closes it on :meth:`close`."""
        writer = cls(open(path, "w", encoding="utf-8"), clock)  # noqa: SIM115 - closed in close()
        writer._owned = True
        return writer

    def write(self, event: Event) -> Event:
        """Write one event (its ``time`` filled from the clock when ``None``)."""
        if event.f not in F_NAMES:
            raise ValueError(f"unsupported f {event.f!r}")
        if event.time is None:
            event = Event(
                process=event.process,
                type=event.type,
                f=event.f,
                value=event.value,
                key=event.key,
                time=self._clock(),
            )
        self._stream.write(event_to_json(event) + "\n")
        return event

    def record(
        self,
        process: Process,
        type: EventType,
        f: str,
        value: Value = None,
        key: Value = None,
        time: int | None = None,
    ) -> Event:
        """Build and write one event; returns it (with its time)."""
        return self.write(Event(process, type, f, value, key, time))

    def nemesis(self, f: str, value: Mapping[str, Any], time: int | None = None) -> None:
        """Write one nemesis (fault) event, stamped now unless ``time`` is given."""
        self._stream.write(
            nemesis_to_json(f, value, self._clock() if time is None else time) + "\n"
        )

    def invoke(self, process: Process, f: str, value: Value = None, key: Value = None) -> Event:
        """Write an ``invoke`` event stamped now."""
        return self.record(process, EventType.INVOKE, f, value, key)

    def ok(self, process: Process, f: str, value: Value = None, key: Value = None) -> Event:
        """Write an ``ok`` completion stamped now."""
        return self.record(process, EventType.OK, f, value, key)

    def fail(self, process: Process, f: str, value: Value = None, key: Value = None) -> Event:
        """Write a ``fail`` completion stamped now."""
        return self.record(process, EventType.FAIL, f, value, key)

    def info(self, process: Process, f: str, value: Value = None, key: Value = None) -> Event:
        """Write an ``info`` completion stamped now (the process must not be reused)."""
        return self.record(process, EventType.INFO, f, value, key)

    def flush(self) -> None:
        """Push buffered lines to the file (a runner calls this before a risky step)."""
        self._stream.flush()

    def close(self) -> None:
        """Flush, and close the file if this writer opened it."""
        self._stream.flush()
        if self._owned:
            self._stream.close()

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_jsonl(path: str | Path, events: Iterable[Event]) -> int:
    """Write ``events`` to ``path`` as a JSON Lines history; returns the number written."""
    count = 0
    with HistoryWriter.open(path) as writer:
        for event in events:
            writer.write(event)
            count += 1
    return count
