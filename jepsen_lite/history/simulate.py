"""Simulate a concurrent run against a sequential object, producing a history.

Used by the benchmark and by property tests. Client processes invoke operations against
objects held here (one per key); each operation takes effect atomically at a random
moment between its invoke and its completion (its linearization point), so every
history produced is linearizable by construction. Concurrency windows are random: at
each step one random process slot acts (invokes, takes effect, or completes).

Faults, Jepsen style: with ``fail_rate`` an operation that has not taken effect completes
``fail``; with ``info_rate`` a process crashes, completing ``info`` either before or after
its operation took effect, and is replaced by a new process (``id + processes``); half of
the crashed operations that had not taken effect do so later, at a random moment, the
other half never. A cas whose expected value does not match completes ``fail``.

The objects here are a deliberately separate, simple implementation of the models'
semantics, so tests of the checker do not test the models against themselves.
"""

from __future__ import annotations

import random
from typing import Literal

import attrs

from .ops import Event, EventType, Value

SimModel = Literal["register", "cas-register", "kv", "set", "counter", "multi-register"]
SIM_MODELS: tuple[SimModel, ...] = (
    "register", "cas-register", "kv", "set", "counter", "multi-register"
)  # fmt: skip


@attrs.frozen
class SimConfig:
    """What to simulate. ``keys`` > 1 gives keyed histories (keys ``"k0"``, ``"k1"``, …);
    for ``multi-register`` they are the registers the transactions touch instead."""

    model: SimModel = "cas-register"
    operations: int = 1000
    processes: int = 5
    keys: int = 1
    values: int = 5
    info_rate: float = 0.0
    fail_rate: float = 0.0


@attrs.define
class _Op:
    process: int
    f: str
    key: Value
    input: Value
    applied: bool = False
    effective: bool = True
    output: Value = None


def simulate(config: SimConfig, rng: random.Random) -> list[Event]:
    """Run the simulation; the same ``config`` and seed give the same events."""
    objects: dict[Value, object] = {}
    slots: list[_Op | None] = [None] * config.processes
    process_ids = list(range(config.processes))
    zombies: list[_Op] = []
    events: list[Event] = []
    clock = 0
    issued = 0
    busy = 0

    def emit(op: _Op, kind: EventType, value: Value) -> None:
        nonlocal clock
        clock += rng.randint(1, 1000)
        key = op.key if config.keys > 1 and config.model != "multi-register" else None
        events.append(Event(op.process, kind, op.f, value, key, clock))

    while issued < config.operations or busy:
        if zombies and rng.random() < 0.02:
            _apply(config, objects, zombies.pop(rng.randrange(len(zombies))))
        slot = rng.randrange(config.processes)
        op = slots[slot]
        if op is None:
            if issued < config.operations:
                op = _new_op(config, rng, process_ids[slot])
                slots[slot] = op
                issued += 1
                busy += 1
                emit(op, EventType.INVOKE, _invoke_value(op))
            continue
        roll = rng.random()
        if not op.applied:
            if roll < config.fail_rate:
                emit(op, EventType.FAIL, op.input)
            elif roll < config.fail_rate + config.info_rate / 2:
                emit(op, EventType.INFO, op.input)
                process_ids[slot] += config.processes
                if rng.random() < 0.5:
                    zombies.append(op)
            else:
                _apply(config, objects, op)
                continue
        elif not op.effective:
            emit(op, EventType.FAIL, op.input)
        elif roll < config.info_rate / 2:
            emit(op, EventType.INFO, op.input)
            process_ids[slot] += config.processes
        else:
            emit(op, EventType.OK, op.output)
        slots[slot] = None
        busy -= 1
    return events


def _invoke_value(op: _Op) -> Value:
    if op.f in ("read", "get"):
        return None
    if op.f == "txn":
        assert isinstance(op.input, tuple)
        return tuple((m[0], m[1], None) if m[0] == "read" else m for m in op.input)  # type: ignore[index]
    return op.input


_MIXES: dict[str, tuple[tuple[str, float], ...]] = {
    "register": (("read", 0.5), ("write", 0.5)),
    "cas-register": (("read", 0.4), ("write", 0.3), ("cas", 0.3)),
    "kv": (("get", 0.4), ("put", 0.3), ("append", 0.3)),
    "set": (("add", 0.7), ("read", 0.3)),
    "counter": (("add", 0.7), ("read", 0.3)),
    "multi-register": (("txn", 1.0),),
}


def _new_op(config: SimConfig, rng: random.Random, process: int) -> _Op:
    names = [f for f, _ in _MIXES[config.model]]
    weights = [w for _, w in _MIXES[config.model]]
    f = rng.choices(names, weights)[0]
    key: Value = f"k{rng.randrange(config.keys)}"
    value: Value
    if f == "cas":
        value = (rng.randrange(config.values), rng.randrange(config.values))
    elif f == "txn":
        value = tuple(
            (rng.choice(("read", "write")), f"k{rng.randrange(config.keys)}",
             rng.randrange(config.values))
            for _ in range(rng.randint(1, 3))
        )  # fmt: skip
        key = None
    elif f == "add" and config.model == "counter":
        value = rng.randint(1, 3)
    elif f in ("read", "get"):
        value = None
    elif f == "put":
        value = (rng.randrange(config.values),)  # kv values are lists, so appends apply
    else:
        value = rng.randrange(config.values)
    return _Op(process, f, key, value)


def _apply(config: SimConfig, objects: dict[Value, object], op: _Op) -> None:
    """Take effect now: update the object(s) and record the output."""
    op.applied = True
    empty: object = 0 if config.model == "counter" else None
    if config.model == "set":
        empty = frozenset()
    if op.f == "txn":
        assert isinstance(op.input, tuple)
        done: list[Value] = []
        for f, key, value in op.input:  # type: ignore[misc,str-unpack]
            if f == "read":
                done.append((f, key, objects.get(key)))  # type: ignore[arg-type]
            else:
                objects[key] = value
                done.append((f, key, value))
        op.output = tuple(done)
        return
    current = objects.get(op.key, empty)
    if op.f in ("read", "get"):
        if isinstance(current, frozenset):
            op.output = tuple(sorted(current))
        else:
            op.output = current  # type: ignore[assignment]
    elif op.f in ("write", "put"):
        objects[op.key] = op.input
        op.output = op.input
    elif op.f == "cas":
        expected, new = op.input  # type: ignore[misc,str-unpack]
        op.effective = current == expected
        if op.effective:
            objects[op.key] = new
        op.output = op.input
    elif op.f == "append":
        op.effective = current is None or isinstance(current, tuple)
        if op.effective:
            objects[op.key] = (*current, op.input) if isinstance(current, tuple) else (op.input,)
        op.output = op.input
    elif isinstance(current, frozenset):  # set add
        objects[op.key] = current | {op.input}
        op.output = op.input
    else:  # counter add
        objects[op.key] = current + op.input  # type: ignore[operator]
        op.output = op.input
