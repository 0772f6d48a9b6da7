"""What the workloads share: Jepsen's independent keys, the value encoding, and the rule
that a store refusal is a ``fail``.

Keys (:class:`KeyPool`): ``live`` distinct keys are in use at a time; a key that has
served ``ops_per_key`` operations is retired and a fresh key takes its slot, as Jepsen's
``independent`` does, so each key's linearizability search stays small. Keys are
``<prefix><n>`` with ``n`` counting up from 0, so a run's keys follow from its seed.

Reads: ``--option read_consistency=linearizable|lease|stale`` (:func:`read_consistency`)
chooses how the register, cas-register and kv workloads read, so a run checks that mode.

Values: the store holds bytes; the workloads write integers as their decimal text.
:func:`decode` turns bytes back into an integer, or into the text itself when the bytes
are not a decimal integer (a corrupted value then shows up in the history as a string,
which no checker accepts as a value that was written).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable

from consensus.client.kv import KvError
from consensus.client.protocol import CONSISTENCY_LEVELS, Consistency

from ...history.ops import EventType, Value
from ..api import Completion, TestSpec


def read_consistency(spec: TestSpec) -> Consistency:
    """How the workload's reads are served: ``spec.options["read_consistency"]``, one of
    ``linearizable`` (the default), ``lease`` or ``stale`` (docs/kv.md, "Read
    consistency"); ``ValueError`` naming the choices for anything else."""
    value = spec.options.get("read_consistency", "linearizable")
    for level in CONSISTENCY_LEVELS:
        if value == level:
            return level
    raise ValueError(
        f"option read_consistency must be one of {', '.join(CONSISTENCY_LEVELS)}, got {value!r}"
    )


def encode(value: int) -> bytes:
    """The bytes stored for ``value``: its decimal text."""
    return str(value).encode()


def decode(data: bytes | None) -> Value:
    """The history value of stored bytes: ``None`` for an absent key, the integer for
    decimal text, else the text (or its ``repr`` for bytes that are not UTF-8)."""
    if data is None:
        return None
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return repr(data)
    try:
        return int(text)
    except ValueError:
        return text


async def refusal_is_fail(call: Awaitable[Completion]) -> Completion:
    """Await ``call``; a :class:`~consensus.client.kv.KvError` (the store refused the
    command, so nothing was applied) becomes a ``fail`` completion naming the refusal.
    Every other exception propagates: the runner turns it into ``info`` for writes."""
    try:
        return await call
    except KvError as exc:
        return Completion(EventType.FAIL, error=f"refused by the store: {exc}")


class KeyPool:
    """Jepsen's independent keys (see the module doc). ``issued`` lists every key handed
    out, oldest first; ``touches`` counts the operations each live key has served."""

    def __init__(self, prefix: str, live: int, ops_per_key: int) -> None:
        if live < 1:
            raise ValueError(f"keys must be >= 1 (keys live at a time), got {live}")
        if ops_per_key < 1:
            raise ValueError(f"ops_per_key must be >= 1, got {ops_per_key}")
        self.prefix = prefix
        self.ops_per_key = ops_per_key
        self.slots: list[str] = [f"{prefix}{n}" for n in range(live)]
        self.issued: list[str] = list(self.slots)
        self.touches: dict[str, int] = dict.fromkeys(self.slots, 0)

    def pick(self, rng: random.Random) -> str:
        """One live key, chosen uniformly; counts one operation on it."""
        return self.pick_distinct(rng, 1)[0]

    def pick_distinct(self, rng: random.Random, count: int) -> list[str]:
        """``count`` distinct live keys (at most the live count), each counted once;
        keys that reach ``ops_per_key`` are replaced by fresh ones after this pick."""
        count = min(count, len(self.slots))
        chosen = rng.sample(range(len(self.slots)), count)
        keys = [self.slots[i] for i in chosen]
        for slot, key in zip(chosen, keys, strict=True):
            self.touches[key] += 1
            if self.touches[key] >= self.ops_per_key:
                fresh = f"{self.prefix}{len(self.issued)}"
                self.issued.append(fresh)
                self.slots[slot] = fresh
                self.touches[fresh] = 0
        return keys


class UniqueValues:
    """Per-key counters, so that every write of a key writes a value never written to
    it before (1, 2, 3, ...); ``last(key)`` is the newest value handed out (``None``)."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def fresh(self, key: str) -> int:
        value = self._next.get(key, 0) + 1
        self._next[key] = value
        return value

    def last(self, key: str) -> int | None:
        return self._next.get(key)

    def recent(self, rng: random.Random, key: str, window: int = 3) -> int | None:
        """A value among the newest ``window`` handed out for ``key`` (``None`` if there
        is none yet): a plausible current value, for a cas's expectation."""
        newest = self._next.get(key)
        if newest is None:
            return None
        return max(1, newest - rng.randrange(window))
