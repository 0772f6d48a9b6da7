"""Histories written by hand for checker tests: ``build(rows)`` pairs events given as
``(process, type, f, value[, key])`` tuples (``type`` ``"invoke"``, ``"ok"``, ``"fail"``
or ``"info"``); list values become tuples, as the history loaders freeze them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jepsen_lite.history.ops import Event, EventType, History, freeze
from jepsen_lite.history.pairing import pair_events
from jepsen_lite.runner.api import RunFacts

NO_FACTS = RunFacts(faults=(), snapshots={}, phases={})


def build(rows: Iterable[tuple[Any, ...]]) -> History:
    events = []
    for row in rows:
        process, kind, f, value = row[:4]
        key = row[4] if len(row) > 4 else None
        events.append(Event(process, EventType(kind), f, freeze(value), key))
    return pair_events(events)


def op(
    process: int, f: str, value: Any, out: Any = None, key: Any = None, kind: str = "ok"
) -> list[tuple[Any, ...]]:
    """An invoke immediately followed by its completion (``out`` defaults to ``value``)."""
    done = value if out is None else out
    return [(process, "invoke", f, value, key), (process, kind, f, done, key)]
