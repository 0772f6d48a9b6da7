"""Import Jepsen and Knossos histories (``history.edn``), streaming, via ``edn_format``.

Rules (each documented in ``docs/history-format.md``):

- Either one map per line or one vector or list of maps; maps may span lines. Record tags such as
  ``#jepsen.history.Op{...}`` are read as plain maps.
- Events whose ``:process`` is ``:nemesis`` are dropped. Other processes are integers or
  keywords (a keyword becomes its name, a string).
- ``:type`` is ``:invoke``/``:ok``/``:fail``/``:info``; ``:f`` must be one of
  :data:`~jepsen_lite.history.ops.F_NAMES` (else an error naming the op); ``:time`` is
  optional (file order is the real-time order; times that go backwards are warnings,
  see :mod:`.pairing`); ``:index`` and any other keys are ignored.
- Keywords in values become their names; vectors and lists become tuples; sets become
  frozensets; maps are rejected.
- Independent histories (``jepsen.independent``): every value is a ``[key value]`` tuple,
  which becomes the event's ``key`` and ``value``. Detected from the first client event
  unless ``independent`` is given, then required of every event.
- A ``:key`` field (Porcupine's kv logs, ``{:f :append, :key "8", :value "x 0 0 y"}``) is
  the event's key, and the value is taken as it is.
- Knossos's rule: an ``:ok`` ``:read`` (or ``:get``) of ``nil`` is an unknown value, always
  legal; so is a ``nil`` read inside a ``:txn`` (Knossos's multi-register).
- Micro-operations ``[:read k v]``/``[:write k v]`` (also Elle's ``:r``/``:w``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import edn_format

from .edn_forms import iter_forms
from .errors import HistoryError
from .ops import F_NAMES, UNKNOWN, Event, EventType, History, Process, Value
from .pairing import pair_events

_BATCH = 500  # maps per edn_format call: its per-call cost is large (a parser is built)
_RECORD_TAG = re.compile(r"#[A-Za-z_][\w.\-]*\{")
_TAG_NAME = re.compile(r"tag ImmutableDict\((.*)\)")
_TYPES = {t.value: t for t in EventType}
_MICRO = {"read": "read", "r": "read", "write": "write", "w": "write", "append": "append"}
_READS = frozenset({"read", "get"})
_NEMESIS = "nemesis"


def read_edn_events(
    path: str | Path, independent: bool | None = None, source: str | None = None
) -> Iterator[Event]:
    """Yield the client events of an EDN history file (nemesis events dropped)."""
    name = source if source is not None else str(path)
    with open(path, encoding="utf-8") as stream:
        yield from iter_edn_events(stream, name, independent)


def iter_edn_events(
    lines: Iterable[str], source: str, independent: bool | None = None
) -> Iterator[Event]:
    """Yield the client events of EDN history text given as an iterable of lines."""
    forms = iter_forms(lines, source)
    while batch := list(itertools.islice(forms, _BATCH)):
        for (line, _), obj in zip(batch, _parse_batch(batch, source), strict=True):
            event = _to_event(obj, source, line, independent)
            if event is None:
                continue
            if independent is None:  # the first client event decides (a :key field: no)
                independent = event.key is not None and _get(obj, "key") is None
            yield event


def load_edn(path: str | Path, independent: bool | None = None) -> History:
    """Read, convert and pair a Jepsen/Knossos EDN history file."""
    return pair_events(read_edn_events(path, independent), str(path))


def _parse_batch(batch: Sequence[tuple[int, str]], source: str) -> list[object]:
    """Parse a batch of map texts in one ``edn_format`` call; on failure, find the bad one."""
    texts = [_RECORD_TAG.sub("{", text) for _, text in batch]
    try:
        parsed = edn_format.loads_all("\n".join(texts), write_ply_tables=False)
        if len(parsed) == len(batch):
            return list(parsed)
    except (edn_format.EDNDecodeError, NotImplementedError, ValueError):
        pass
    result: list[object] = []
    for (line, _), text in zip(batch, texts, strict=True):
        try:
            one = edn_format.loads_all(text, write_ply_tables=False)
        except NotImplementedError as exc:  # edn_format's word for an unknown #tag
            tag = _TAG_NAME.search(str(exc))
            name = f" #{tag.group(1)}" if tag else ""
            raise HistoryError(source, line, f"invalid EDN: unknown tag{name}") from None
        except (edn_format.EDNDecodeError, ValueError) as exc:
            raise HistoryError(source, line, f"invalid EDN: {exc}") from None
        if len(one) != 1:
            raise HistoryError(source, line, "invalid EDN: expected one map")
        result.append(one[0])
    return result


def _name(obj: object) -> str | None:
    """The name of a keyword (or a plain string); ``None`` for anything else."""
    if isinstance(obj, edn_format.Keyword):
        return str(obj.name)
    if isinstance(obj, str):
        return obj
    return None


def _get(obj: object, key: str) -> object:
    assert isinstance(obj, edn_format.ImmutableDict | dict)
    return obj.get(edn_format.Keyword(key))


def _to_event(obj: object, source: str, line: int, independent: bool | None) -> Event | None:
    """Convert one parsed map to an event; ``None`` for nemesis events."""
    if not isinstance(obj, edn_format.ImmutableDict | dict):
        raise HistoryError(source, line, f"expected a map, found {type(obj).__name__}")
    raw_process = _get(obj, "process")
    process: Process
    if isinstance(raw_process, edn_format.Keyword):
        process = str(raw_process.name)
        if process == _NEMESIS:
            return None
    elif isinstance(raw_process, int) and not isinstance(raw_process, bool):
        process = raw_process
    else:
        raise HistoryError(source, line, "':process' must be an integer or a keyword")
    kind = _TYPES.get(_name(_get(obj, "type")) or "")
    if kind is None:
        raise HistoryError(source, line, "':type' must be :invoke, :ok, :fail or :info")
    f = _name(_get(obj, "f"))
    if f not in F_NAMES:
        shown = edn_format.dumps(_get(obj, "f"))
        raise HistoryError(
            source,
            line,
            f"unsupported :f {shown} in op {edn_format.dumps(obj)} "
            f"(supported: {', '.join(sorted(F_NAMES))})",
        )
    stamp = _get(obj, "time")
    if stamp is not None and (isinstance(stamp, bool) or not isinstance(stamp, int)):
        raise HistoryError(source, line, "':time' must be an integer (nanoseconds)")
    key: Value = None
    raw_key = _get(obj, "key")
    if raw_key is not None:  # Porcupine's kv logs: {:f :get, :key "0", :value nil}
        if independent:
            raise HistoryError(
                source, line, "a ':key' field in an independent ([key value]) history"
            )
        if not isinstance(raw_key, str | int | edn_format.Keyword) or isinstance(raw_key, bool):
            shown = edn_format.dumps(raw_key)
            raise HistoryError(
                source, line, f"':key' must be a string, integer or keyword, found {shown}"
            )
        key = _convert(raw_key)
    try:
        raw = _get(obj, "value")
        if raw_key is None and (
            independent or (independent is None and _looks_independent(f, raw))
        ):
            if not isinstance(raw, Sequence) or isinstance(raw, str) or len(raw) != 2:
                raise ValueError("expected an independent [key value] tuple")
            key = _convert(raw[0])
            raw = raw[1]
            if key is None:
                raise ValueError("an independent key must not be nil")
        value = _convert_txn(raw) if f == "txn" else _convert(raw)
    except ValueError as exc:
        raise HistoryError(source, line, f"':value': {exc}") from None
    if kind is EventType.OK and f in _READS and value is None:
        value = UNKNOWN  # Knossos: a nil read is an unknown value, always legal
    return Event(process=process, type=kind, f=f, value=value, key=key, time=stamp, line=line)


def _looks_independent(f: str, raw: object) -> bool:
    """Is this first client value a ``[key value]`` tuple of ``jepsen.independent``?"""
    if f == "txn" or not isinstance(raw, Sequence) or isinstance(raw, str) or len(raw) != 2:
        return False
    if f == "cas":  # a plain cas value is [old new]; an independent one is [k [old new]]
        inner = raw[1]
        return isinstance(inner, Sequence) and not isinstance(inner, str) and len(inner) == 2
    return True


def _convert(obj: object) -> Value:
    """EDN data to a frozen value: keywords become names, sequences tuples, sets frozensets."""
    if obj is None or isinstance(obj, bool | int | float):
        return obj
    if isinstance(obj, str):  # includes edn_format.Char
        return str(obj)
    if isinstance(obj, edn_format.Keyword | edn_format.Symbol):
        return str(obj.name)
    if isinstance(obj, frozenset | set):
        return frozenset(_convert(item) for item in obj)
    if isinstance(obj, edn_format.ImmutableDict | dict):
        raise ValueError("maps are not supported as values")
    if isinstance(obj, Sequence):
        return tuple(_convert(item) for item in obj)
    raise ValueError(f"unsupported value {obj!r}")


def _convert_txn(obj: object) -> Value:
    """A transaction: a sequence of ``[f k v]`` micro-ops, nil reads becoming UNKNOWN."""
    if not isinstance(obj, Sequence) or isinstance(obj, str):
        raise ValueError("a :txn value must be a vector of [f k v] micro-ops")
    micro_ops: list[Value] = []
    for item in obj:
        if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 3:
            raise ValueError("a :txn value must be a vector of [f k v] micro-ops")
        f = _MICRO.get(_name(item[0]) or "")
        if f is None:
            raise ValueError(f"unsupported micro-op {edn_format.dumps(item[0])}")
        v = _convert(item[2])
        micro_ops.append((f, _convert(item[1]), UNKNOWN if f == "read" and v is None else v))
    return tuple(micro_ops)
