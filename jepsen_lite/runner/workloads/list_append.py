"""The ``list-append`` workload (Elle's): transactions that append unique values to lists
at some keys and read the lists at others, checked for transactional anomalies.

History (the shape :mod:`jepsen_lite.txn` reads, so ``jepsen-lite check-txn
history.jsonl`` checks a run's history directly): every operation is ``txn`` with a list
of micro-ops, ``["append", key, v]`` or ``["r", key, null]`` in the invoke; the ``ok``
completion carries the same micro-ops with each read's list filled in (``[]`` for a key
never written). Values are unique per key (1, 2, 3, ...), which is what lets the checker
recover each key's version order from the lists that reads see. Keys are ``la/<n>``,
``spec.keys`` of them live at a time, each retired after ``spec.ops_per_key``
transactions touched it (so lists stay short: Elle's ``max-writes-per-key``).

A transaction has 1 to ``--option txn_ops_max`` (default 4) micro-ops on distinct keys,
each an append with probability ``--option append_ratio`` (default 0.5).

How a transaction runs on the key-value store, which has no append: one store
transaction, atomic at one revision, through the log.

- Reads only: the success branch gets every key read.
- With appends: the keys appended are read first (linearizable gets); the transaction
  then compares each one's ``mod_revision`` with what was read (0 for an absent key),
  reads the keys only read (gets in the branch), and puts each appended key's new list.
  A failed comparison (another transaction changed a key in between) wrote nothing: the
  attempt is retried from the reads, up to :data:`ATTEMPTS` times, then the operation
  is a ``fail`` (it certainly did not happen). A read of a key the transaction also
  appends to sees the list as read plus the transaction's own earlier appends.

So a correct store gives strict-serializable histories; lost, duplicated, reordered or
stale data anywhere shows as an anomaly with its cycle of transactions. Lists are stored
as the decimal values separated by spaces.

The final invocations read every live key (a few keys per transaction), after heal.
Checker: :class:`~jepsen_lite.runner.checkers.list_append.ListAppendChecker` with
``--option consistency_model`` (default ``strict-serializable``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from consensus.client.kv import KvSession
from statemachines.kv_commands import Get, Put, TxnBranchOp, compare

from ...history.ops import EventType, Process, Value
from ...txn import MODELS
from ..api import Checker, Completion, Invocation, TestSpec
from ..checkers.list_append import ListAppendChecker
from .common import KeyPool, UniqueValues, refusal_is_fail

PREFIX = "la/"
ATTEMPTS = 3
"""Tries of one transaction whose comparison failed, before it is a ``fail``."""
FINAL_KEYS_PER_TXN = 4
APPEND, READ = "append", "r"


def encode_list(values: Sequence[Value]) -> bytes:
    """The stored bytes of a list: its values' text, space-separated (the workload's
    values are integers; a corrupted word read back is written back as it was)."""
    return " ".join(str(v) for v in values).encode()


def decode_list(data: bytes | None) -> tuple[Value, ...]:
    """The list a stored value holds (``()`` for an absent key). A word that is not a
    decimal integer stays text, so a corrupted value shows up as a value never
    appended, which the checker reports."""
    if not data:
        return ()
    out: list[Value] = []
    for word in data.decode(errors="replace").split(" "):
        try:
            out.append(int(word))
        except ValueError:
            out.append(word)
    return tuple(out)


def _options(spec: TestSpec) -> tuple[int, float, str]:
    ops_max = spec.options.get("txn_ops_max", 4)
    if isinstance(ops_max, bool) or not isinstance(ops_max, int) or not 1 <= ops_max <= 16:
        raise ValueError(
            f"list-append: option txn_ops_max must be an integer from 1 to 16, got {ops_max!r}"
        )
    ratio = spec.options.get("append_ratio", 0.5)
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
        raise ValueError(
            f"list-append: option append_ratio must be a number from 0 to 1, got {ratio!r}"
        )
    model = spec.options.get("consistency_model", "strict-serializable")
    if model not in MODELS:
        raise ValueError(
            f"list-append: option consistency_model must be one of {', '.join(MODELS)}, "
            f"got {model!r}"
        )
    return ops_max, float(ratio), str(model)


class ListAppendGenerator:
    """Seeded transactions (see the module doc). Never exhausted, never waits."""

    pending_s: float = 0.0

    def __init__(
        self, rng: random.Random, pool: KeyPool, ops_max: int, append_ratio: float
    ) -> None:
        self.rng = rng
        self.pool = pool
        self.ops_max = ops_max
        self.append_ratio = append_ratio
        self.values = UniqueValues()

    def next(self, process: Process, now: float) -> Invocation | None:
        keys = self.pool.pick_distinct(self.rng, self.rng.randint(1, self.ops_max))
        ops: list[Value] = []
        for key in keys:
            if self.rng.random() < self.append_ratio:
                ops.append((APPEND, key, self.values.fresh(key)))
            else:
                ops.append((READ, key, None))
        return Invocation("txn", None, tuple(ops))


def _micro_ops(value: Value) -> list[tuple[str, str, Value]]:
    if not isinstance(value, tuple):
        raise ValueError(f"list-append: a txn value must be a list of micro-ops, got {value!r}")
    ops = []
    for item in value:
        if not (isinstance(item, tuple) and len(item) == 3 and item[0] in (APPEND, READ)):
            raise ValueError(f"list-append: not a micro-op: {item!r}")
        f, key, arg = item
        ops.append((str(f), str(key), arg))
    return ops


class ListAppendWorkload:
    """List-append transactions (see the module doc)."""

    name: str = "list-append"
    read_only_fs: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.pool: KeyPool | None = None
        self.model = "strict-serializable"

    def generator(self, rng: random.Random, spec: TestSpec) -> ListAppendGenerator:
        ops_max, ratio, self.model = _options(spec)
        self.pool = KeyPool(PREFIX, spec.keys, spec.ops_per_key)
        return ListAppendGenerator(rng, self.pool, ops_max, ratio)

    def final_invocations(self, spec: TestSpec) -> Sequence[Invocation]:
        """Reads of every live key, :data:`FINAL_KEYS_PER_TXN` keys per transaction."""
        live = self.pool.slots if self.pool is not None else []
        chunks = [live[i : i + FINAL_KEYS_PER_TXN] for i in range(0, len(live), FINAL_KEYS_PER_TXN)]
        return [Invocation("txn", None, tuple((READ, k, None) for k in chunk)) for chunk in chunks]

    async def invoke(self, kv: KvSession, op: Invocation) -> Completion:
        if op.f != "txn":
            raise ValueError(f"list-append workload: unknown operation {op.f!r}")
        return await refusal_is_fail(self._txn(kv, _micro_ops(op.value)))

    async def _txn(self, kv: KvSession, ops: list[tuple[str, str, Value]]) -> Completion:
        appended = list(dict.fromkeys(key for f, key, _ in ops if f == APPEND))
        only_read = [key for key in dict.fromkeys(key for _, key, _ in ops) if key not in appended]
        for _ in range(ATTEMPTS):
            before: dict[str, tuple[Value, ...]] = {}
            revisions: dict[str, int] = {}
            for key in appended:
                pair = await kv.get_kv(key)
                before[key] = decode_list(pair.value if pair is not None else None)
                revisions[key] = pair.mod_revision if pair is not None else 0
            lists = dict(before)
            steps: list[tuple[str, str, Value]] = []  # a read of None: filled from the gets
            for f, key, arg in ops:
                if f == APPEND:
                    lists[key] = (*lists[key], arg)
                    steps.append((APPEND, key, arg))
                else:
                    steps.append((READ, key, lists.get(key)))
            branch: list[TxnBranchOp] = [Get(key) for key in only_read]
            branch.extend(Put(key, encode_list(lists[key])) for key in appended)
            result = await kv.txn(
                [compare(key, "mod_revision", "=", revisions[key]) for key in appended], branch
            )
            if not result.succeeded:
                continue
            seen: dict[str, tuple[Value, ...]] = {}
            for key, response in zip(only_read, result.responses, strict=False):
                got = response.get
                seen[key] = decode_list(got.kv.value if got is not None and got.kv else None)
            value = tuple(
                (f, key, seen[key] if f == READ and arg is None else arg) for f, key, arg in steps
            )
            return Completion(EventType.OK, value)
        return Completion(
            EventType.FAIL,
            None,
            f"a key changed between the reads and the transaction in {ATTEMPTS} attempts",
        )

    def checkers(self) -> Sequence[Checker]:
        return [ListAppendChecker(self.model)]
