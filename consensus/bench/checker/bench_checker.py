"""Benchmark the linearizability checker: ``python -m consensus.bench.checker.bench_checker``.

Generates histories by simulating a concurrent run against a cas-register (or register)
per key, with some ``info`` (crashed) and ``fail`` operations, for every combination of
history length, key count and concurrency, checks each with a time limit, and prints a
table of check times. A combination that runs out of time is reported ``unknown``, not
hidden. This is a script, not a test: timings depend on the machine.

Columns: ``wall s`` is the checking time (``CheckResult.time_s``: preparation and search,
not simulation or process start-up), ``cpu s`` the CPU time of this process (``+``: worker
processes also ran, their CPU is not counted), ``configs`` the configurations the search
cached (its work), ``note`` why a verdict is unknown.

``--hard`` runs the hard key-value histories instead (:class:`HardKvConfig`: 50 clients,
10 keys, 2,000 operations, a hot key ``k0`` taking ``--hot-shares`` of the operations;
for each share and seed: the history with ``k0`` corrupted, with a cold key ``k5``
corrupted, ``k0`` with a stale read and with a lost append (see ``corruption``), and
the linearizable twin), checked with the ``kv`` model (initial value
``""``). ``--write DIR`` also saves each as JSON Lines, for ``jepsen-lite check DIR
--model kv --init '""'``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import attrs

from jepsen_lite.checker.check import check
from jepsen_lite.history.jsonl import write_jsonl
from jepsen_lite.history.ops import Event, EventType
from jepsen_lite.history.pairing import pair_events
from jepsen_lite.history.simulate import SimConfig, simulate
from jepsen_lite.models import make_model
from jepsen_lite.models.kv import KvModel

LENGTHS = (1_000, 10_000, 100_000)
KEYS = (1, 10, 100)
PROCESSES = (5, 10, 50)


def main(argv: list[str] | None = None) -> int:
    """Run the grid (or a subset) and print one table row per history."""
    parser = argparse.ArgumentParser(prog="python -m consensus.bench.checker.bench_checker")
    parser.add_argument("--model", choices=("cas-register", "register"), default="cas-register")
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--keys", type=int, nargs="+", default=list(KEYS))
    parser.add_argument("--processes", type=int, nargs="+", default=list(PROCESSES))
    parser.add_argument("--info-rate", type=float, default=0.01)
    parser.add_argument("--fail-rate", type=float, default=0.02)
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per history")
    parser.add_argument("--workers", type=int, default=None, help="default: auto")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hard", action="store_true", help="the hard kv histories instead")
    parser.add_argument("--hot-shares", type=float, nargs="+", default=[0.1, 0.15, 0.2])
    parser.add_argument("--seeds", type=int, default=1, help="--hard: seeds from --seed on")
    parser.add_argument("--write", type=Path, default=None, help="--hard: save histories here")
    parser.add_argument(
        "--search-only", action="store_true",
        help="--hard: without the kv model's unreachable-read proof (the search alone)",
    )  # fmt: skip
    parser.add_argument(
        "--write-format", choices=("jsonl", "edn"), default="jsonl",
        help="--write: JSON Lines, or EDN with a :key field as in Porcupine's kv logs",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.hard:
        return _hard(args)

    model = make_model(args.model)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# {args.model}, info rate {args.info_rate}, fail rate {args.fail_rate}, "
          f"time limit {args.time_limit} s, seed {args.seed}")  # fmt: skip
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# {platform.python_implementation()} {platform.python_version()}, "
          f"{cpus} CPUs, {platform.machine()}, load average {load:.1f}")  # fmt: skip
    header = (
        "ops", "keys", "procs", "checked", "verdict", "wall s", "cpu s", "us/op",
        "configs", "mode", "note",
    )  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" for _ in header) + "|")
    for length, keys, procs in itertools.product(args.lengths, args.keys, args.processes):
        config = SimConfig(
            model=args.model,
            operations=length,
            processes=procs,
            keys=keys,
            values=5,
            info_rate=args.info_rate,
            fail_rate=args.fail_rate,
        )
        history = pair_events(simulate(config, random.Random(args.seed)))
        cpu_started = time.process_time()
        result = check(model, history, args.time_limit, workers=args.workers)
        cpu = time.process_time() - cpu_started
        row = (
            str(length),
            str(keys),
            str(procs),
            str(result.checked_operations),
            result.verdict.value,
            f"{result.time_s:.3f}",
            f"{cpu:.3f}" + ("+" if result.parallel else ""),
            f"{result.time_s / length * 1e6:.1f}",
            str(sum(r.explored for r in result.results)),
            "parallel" if result.parallel else "sequential",
            next((r.reason for r in result.results if r.reason), ""),
        )
        print("| " + " | ".join(row) + " |", flush=True)
    return 0


def _hard(args: argparse.Namespace) -> int:
    """The ``--hard`` table: one row per generated history."""
    kv = make_model("kv", HARD_KV_INIT)
    assert isinstance(kv, KvModel)
    model = attrs.evolve(kv, prove_unreachable=False) if args.search_only else kv
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    proof = "search only" if args.search_only else "with the unreachable-read proof"
    print(f"# hard kv histories ({proof}), time limit {args.time_limit} s, load {load:.1f}, "
          f"{platform.python_implementation()} {platform.python_version()}")  # fmt: skip
    header = ("history", "ops", "k0 ops", "verdict", "wall s", "cpu s", "configs", "failing key")
    print("| " + " | ".join(header) + " |")
    print("|---|" + "|".join("---:" for _ in header[1:]) + "|")
    if args.write is not None:
        args.write.mkdir(parents=True, exist_ok=True)
    for share, seed in itertools.product(args.hot_shares, range(args.seed, args.seed + args.seeds)):
        for name, config in (
            ("k0-corrupt", HardKvConfig(hot_share=share)),
            ("k5-corrupt", HardKvConfig(hot_share=share, corrupt_key=5)),
            ("k0-stale", HardKvConfig(hot_share=share, corruption="stale")),
            ("k0-lost", HardKvConfig(hot_share=share, corruption="lost")),
            ("twin", HardKvConfig(hot_share=share, corrupt=False)),
        ):
            label = f"hot{share}-s{seed}-{name}"
            try:
                events = hard_kv_events(config, random.Random(seed))
            except ValueError as error:  # no read of this seed can be corrupted so
                print(f"# {label}: not built: {error}", flush=True)
                continue
            if args.write is not None:
                path = args.write / f"{label}.{args.write_format}"
                if args.write_format == "edn":
                    path.write_text("".join(edn_line(e) + "\n" for e in events), encoding="utf-8")
                else:
                    write_jsonl(path, events)
            history = pair_events(events, label)
            cpu_started = time.process_time()
            result = check(model, history, args.time_limit, workers=args.workers)
            cpu = time.process_time() - cpu_started
            cx = result.counterexample
            row = (
                label,
                str(len(history.operations)),
                str(sum(1 for op in history.operations if op.key == "k0")),
                result.verdict.value,
                f"{result.time_s:.3f}",
                f"{cpu:.3f}" + ("+" if result.parallel else ""),
                str(sum(r.explored for r in result.results)),
                "" if cx is None else str(cx.key),
            )
            print("| " + " | ".join(row) + " |", flush=True)
    return 0


def edn_line(event: Event) -> str:
    """One EDN history line in the layout of Porcupine's kv logs (a ``:key`` field;
    string values), for the hard kv histories."""
    value = "nil" if event.value is None else json.dumps(event.value)
    key = json.dumps(event.key)
    return (
        f"{{:process {event.process}, :type :{event.type.value}, :f :{event.f}, "
        f":key {key}, :value {value}}}"
    )


@attrs.frozen
class HardKvConfig:
    """A hard key-value history, the shape of Porcupine's ``c50-bad`` logs: many clients
    doing ``get``/``put``/``append`` with unique string tokens over a few keys.

    ``corrupt`` makes one key's sub-history not linearizable: one ``ok`` ``get`` of that
    key (in the last third of the history) returns what the key held with a token that
    was never written appended to it. Every reachable state is a concatenation of written
    tokens, so no order can explain that read, and the search must exhaust every
    configuration of that key before the read's completion to prove it. With
    ``corrupt=False`` (the *twin*, same seed) the history is linearizable by construction:
    each operation takes effect at a random moment inside its window.
    """

    clients: int = 50
    keys: int = 10
    operations: int = 2000
    corrupt: bool = True
    hot_share: float = 0.5
    """The share of operations on ``k0``, the hot key (the others share the rest)."""
    corrupt_key: int = 0
    corruption: str = "token"
    """How the one read is corrupted (:data:`CORRUPTIONS`): ``token``, a token nobody
    wrote (the model's unreachable-read proof finds it without a search); ``stale``, a
    value the key held before a write that was acknowledged before the read was invoked
    (a stale read); ``lost``, the value read with one appended token missing whose
    append was acknowledged before the read was invoked (a lost append). ``stale`` and
    ``lost`` values are made of written tokens, so only the search can refute them.
    Both are chosen so that no linearization explains them: the state before the write
    (or the base of the read value) was put by a write acknowledged before the lost or
    overwriting write was invoked, so no reordering restores it (tokens are unique)."""

    def __attrs_post_init__(self) -> None:
        if self.corruption not in CORRUPTIONS:
            choices = ", ".join(CORRUPTIONS)
            raise ValueError(f"corruption {self.corruption!r} is not one of {choices}")


CORRUPTIONS = ("token", "stale", "lost")
"""The read corruptions of :class:`HardKvConfig`."""

HARD_KV_INIT = ""
"""The initial value of every key in a hard kv history: check with
``make_model("kv", HARD_KV_INIT)`` (``--model kv --init '""'``), so appends concatenate
strings as in Porcupine's kv model."""

CORRUPT_TOKEN = "corrupt;"
"""The token the corrupted read returns that no operation wrote."""


@attrs.define
class _KvOp:
    f: str
    key: str
    value: str | None  # the token a put or append writes
    applied: bool = False
    output: str | None = None
    invoked_at: int = 0  # event indexes of the invocation and the completion
    ok_at: int = -1
    base: _KvOp | None = None  # the put whose token starts the state before (or read)
    appends: tuple[_KvOp, ...] = ()  # the appends after that base, in order
    before: str = ""  # a write: the key's value just before it took effect


def hard_kv_events(config: HardKvConfig, rng: random.Random) -> list[Event]:
    """The events of a :class:`HardKvConfig` history; the same config and seed give the
    same events, and the corrupt history and its twin differ only in the one read. At
    each step a random client acts: invokes (a ``get``, ``put`` or ``append`` of a fresh
    token), takes effect, or completes ``ok``."""
    values: dict[str, str] = {}
    bases: dict[str, _KvOp | None] = {}
    appended: dict[str, tuple[_KvOp, ...]] = {}
    applied: list[_KvOp] = []  # in the order they took effect
    slots: list[_KvOp | None] = [None] * config.clients
    events: list[Event] = []
    issued = busy = token = clock = 0
    while issued < config.operations or busy:
        slot = rng.randrange(config.clients)
        op = slots[slot]
        clock += rng.randint(1, 1000)
        if op is None:
            if issued >= config.operations:
                continue
            f = rng.choices(("get", "put", "append"), (0.4, 0.2, 0.4))[0]
            hot = config.keys == 1 or rng.random() < config.hot_share
            key = "k0" if hot else f"k{rng.randrange(1, config.keys)}"
            value = None
            if f != "get":
                token += 1
                value = f"{f[0]}{token};"
            slots[slot] = _KvOp(f, key, value, invoked_at=len(events))
            issued += 1
            busy += 1
            events.append(Event(slot, EventType.INVOKE, f, value, key, clock))
        elif not op.applied:  # take effect now, at a random moment inside the window
            current = values.get(op.key, HARD_KV_INIT)
            op.base = bases.get(op.key)
            op.appends = appended.get(op.key, ())
            op.before = current
            applied.append(op)
            if op.f == "put":
                bases[op.key], appended[op.key] = op, ()
            elif op.f == "append":
                appended[op.key] = (*op.appends, op)
            if op.f == "get":
                op.output = current
            else:
                assert op.value is not None
                values[op.key] = op.value if op.f == "put" else current + op.value
                op.output = op.value
            op.applied = True
        else:
            op.ok_at = len(events)
            events.append(Event(slot, EventType.OK, op.f, op.output, op.key, clock))
            slots[slot] = None
            busy -= 1
    if config.corrupt:
        key = f"k{config.corrupt_key}"
        if config.corruption == "token":
            _corrupt_one_read(events, key)
        else:
            _corrupt_from_written(events, applied, key, config.corruption)
    return events


def _corrupt_one_read(events: list[Event], key: str) -> None:
    """Make the first ``ok`` get of ``key`` in the last third return an impossible value."""
    for index in range(len(events) * 2 // 3, len(events)):
        event = events[index]
        if event.key == key and event.f == "get" and event.type is EventType.OK:
            seen = event.value if isinstance(event.value, str) else ""
            events[index] = attrs.evolve(event, value=seen + CORRUPT_TOKEN)
            return
    raise ValueError(f"no ok get of {key!r} in the last third of the history to corrupt")


def _corrupt_from_written(events: list[Event], applied: list[_KvOp], key: str, how: str) -> None:
    """The ``stale`` and ``lost`` corruptions (see :class:`HardKvConfig`) of the first
    ``ok`` get of ``key`` completing in the last third for which one can be built."""
    writes: list[_KvOp] = []  # the writes of the key applied so far
    for op in applied:
        if op.key != key:
            continue
        if op.f != "get":
            writes.append(op)
            continue
        if op.ok_at < len(events) * 2 // 3:
            continue
        output = None
        if how == "stale":  # the value before the last write acknowledged before the read
            for w in reversed(writes):
                if w.ok_at < op.invoked_at and w.before != op.output and _settled(w.base, w):
                    output = w.before
                    break
        else:  # drop an append acknowledged before the read whose base was settled
            for a in op.appends:
                if a.ok_at < op.invoked_at and _settled(op.base, a):
                    assert op.output is not None and a.value is not None
                    output = op.output.replace(a.value, "", 1)
                    break
        if output is not None:
            events[op.ok_at] = attrs.evolve(events[op.ok_at], value=output)
            return
    raise ValueError(f"no ok get of {key!r} in the last third of the history to make {how}")


def _settled(base: _KvOp | None, write: _KvOp) -> bool:
    """Whether the put ``base`` (``None``: the initial value) was acknowledged before
    ``write`` was invoked, so every linearization orders it before ``write``."""
    return base is None or base.ok_at < write.invoked_at


if __name__ == "__main__":
    sys.exit(main())
