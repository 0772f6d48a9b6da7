"""The key-value conformance suite: ``check_kv_store(make_store)``.

Any implementation of the store's semantics (the replicated state machine; later a
per-key Paxos service) runs the same table of cases. A store is anything with
``write(op) -> Result`` and ``read(op) -> Result`` (see :class:`KvStore`), made fresh for
each case by ``make_store(config)``. Each case is a list of steps ``(op, expected)``: the
op's result must equal ``expected`` exactly (revisions and metadata included).

``multi_key=False`` skips the cases that need multi-key transactions (``Txn``), for
protocols that do not offer them. ``per_key=True`` is for a store whose revisions are
counted per key and which offers no range (``paxos-lwt``, see docs/lwt.md): it skips
the cases of :data:`STORE_WIDE_CASES` and runs :data:`PER_KEY_CASES` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from statemachines.kv_commands import (
    Cas,
    CondResult,
    Delete,
    DeleteIf,
    DeleteResult,
    ErrorResult,
    Get,
    GetResult,
    KeyValue,
    KvConfig,
    Put,
    PutIfAbsent,
    PutResult,
    Range,
    RangeResult,
    ReadOp,
    Result,
    Txn,
    TxnResponse,
    TxnResult,
    WriteOp,
    compare,
)


class KvStore(Protocol):
    def write(self, op: WriteOp | Txn) -> Result: ...

    def read(self, op: ReadOp) -> Result: ...


Step = tuple[WriteOp | Txn | ReadOp, Result]

SMALL = KvConfig(key_bytes_max=8, value_bytes_max=4, txn_ops_max=2, range_limit_max=3)
"""The limits the ``limit`` cases run under."""


def kv(key: str, value: bytes, create: int, mod: int, version: int) -> KeyValue:
    return KeyValue(key, value, create, mod, version)


A1 = kv("a", b"1", 1, 1, 1)
A2 = kv("a", b"2", 1, 2, 2)

CASES: dict[str, list[Step]] = {
    # -- get / put / delete -------------------------------------------------------------
    "get of an absent key": [(Get("a"), GetResult(0, None))],
    "put creates, then modifies": [
        (Put("a", b"1"), PutResult(1, None)),
        (Get("a"), GetResult(1, A1)),
        (Put("a", b"2"), PutResult(2, A1)),
        (Get("a"), GetResult(2, A2)),
    ],
    "every write bumps the one store revision": [
        (Put("a", b"1"), PutResult(1, None)),
        (Put("b", b"x"), PutResult(2, None)),
        (Get("a"), GetResult(2, A1)),
    ],
    "delete of a present key; recreation starts a new version": [
        (Put("a", b"1"), PutResult(1, None)),
        (Delete("a"), DeleteResult(2, A1)),
        (Get("a"), GetResult(2, None)),
        (Put("a", b"3"), PutResult(3, None)),
        (Get("a"), GetResult(3, kv("a", b"3", 3, 3, 1))),
    ],
    "delete of an absent key writes nothing": [
        (Delete("a"), DeleteResult(0, None)),
        (Put("b", b"1"), PutResult(1, None)),
    ],
    "empty value and empty key are values like any other": [
        (Put("", b""), PutResult(1, None)),
        (Get(""), GetResult(1, kv("", b"", 1, 1, 1))),
    ],
    # -- range --------------------------------------------------------------------------
    "range by prefix, in key order": [
        (Put("b/2", b"2"), PutResult(1, None)),
        (Put("a", b"0"), PutResult(2, None)),
        (Put("b/1", b"1"), PutResult(3, None)),
        (Put("c", b"3"), PutResult(4, None)),
        (
            Range.of_prefix("b/"),
            RangeResult(4, (kv("b/1", b"1", 3, 3, 1), kv("b/2", b"2", 1, 1, 1)), False),
        ),
    ],
    "range [start, end) and open-ended": [
        (Put("a", b"0"), PutResult(1, None)),
        (Put("b", b"1"), PutResult(2, None)),
        (Put("c", b"2"), PutResult(3, None)),
        (Range("a", "c"), RangeResult(3, (kv("a", b"0", 1, 1, 1), kv("b", b"1", 2, 2, 1)), False)),
        (Range("b"), RangeResult(3, (kv("b", b"1", 2, 2, 1), kv("c", b"2", 3, 3, 1)), False)),
        (Range("x"), RangeResult(3, (), False)),
    ],
    "range limit cuts short and says more": [
        (Put("a", b"0"), PutResult(1, None)),
        (Put("b", b"1"), PutResult(2, None)),
        (Range("", limit=1), RangeResult(2, (kv("a", b"0", 1, 1, 1),), True)),
        (
            Range("", limit=2),
            RangeResult(2, (kv("a", b"0", 1, 1, 1), kv("b", b"1", 2, 2, 1)), False),
        ),
    ],
    # -- conditional writes ----------------------------------------------------------------
    "cas on value: applied": [
        (Put("a", b"1"), PutResult(1, None)),
        (Cas("a", b"2", expected_value=b"1"), CondResult(True, 2, A2, A1)),
    ],
    "cas on value: not applied, answers the current pair": [
        (Put("a", b"1"), PutResult(1, None)),
        (Cas("a", b"2", expected_value=b"9"), CondResult(False, 1, A1, None)),
        (Get("a"), GetResult(1, A1)),
    ],
    "cas on value of an absent key fails": [
        (Cas("a", b"2", expected_value=b""), CondResult(False, 0, None, None)),
    ],
    "cas on version": [
        (Put("a", b"1"), PutResult(1, None)),
        (Cas("a", b"2", expected_version=2), CondResult(False, 1, A1, None)),
        (Cas("a", b"2", expected_version=1), CondResult(True, 2, A2, A1)),
    ],
    "cas on version 0 creates an absent key": [
        (Cas("a", b"1", expected_version=0), CondResult(True, 1, A1, None)),
        (Cas("a", b"1", expected_version=0), CondResult(False, 1, A1, None)),
    ],
    "cas on mod revision": [
        (Put("a", b"1"), PutResult(1, None)),
        (Put("b", b"1"), PutResult(2, None)),
        (Cas("a", b"2", expected_mod_revision=2), CondResult(False, 2, A1, None)),
        (Cas("a", b"2", expected_mod_revision=1), CondResult(True, 3, kv("a", b"2", 1, 3, 2), A1)),
    ],
    "put-if-absent": [
        (PutIfAbsent("a", b"1"), CondResult(True, 1, A1, None)),
        (PutIfAbsent("a", b"2"), CondResult(False, 1, A1, None)),
    ],
    "delete-if on value, version, mod revision": [
        (Put("a", b"1"), PutResult(1, None)),
        (DeleteIf("a", expected_value=b"2"), CondResult(False, 1, A1, None)),
        (DeleteIf("a", expected_version=2), CondResult(False, 1, A1, None)),
        (DeleteIf("a", expected_mod_revision=7), CondResult(False, 1, A1, None)),
        (DeleteIf("a", expected_mod_revision=1), CondResult(True, 2, None, A1)),
        (Get("a"), GetResult(2, None)),
    ],
    "delete-if of an absent key fails, even expecting version 0": [
        (DeleteIf("a", expected_version=0), CondResult(False, 0, None, None)),
    ],
    # -- limits (run under SMALL) ------------------------------------------------------------
    "limit: key bytes": [
        (
            Put("k" * 9, b"1"),
            ErrorResult("limit", "key of 9 bytes (limit key_bytes_max=8)", "key_bytes_max"),
        ),
        (
            Get("é" * 5),
            ErrorResult("limit", "key of 10 bytes (limit key_bytes_max=8)", "key_bytes_max"),
        ),
        (Put("k" * 8, b"1"), PutResult(1, None)),
    ],
    "limit: key bytes of a put count UTF-8 bytes, not characters": [
        (
            Put("é" * 5, b"1"),
            ErrorResult("limit", "key of 10 bytes (limit key_bytes_max=8)", "key_bytes_max"),
        ),
        (
            Put("€" * 3, b"1"),
            ErrorResult("limit", "key of 9 bytes (limit key_bytes_max=8)", "key_bytes_max"),
        ),
        (Put("€" * 2, b"1"), PutResult(1, None)),
    ],
    "limit: value bytes": [
        (
            Put("a", b"12345"),
            ErrorResult("limit", "value of 5 bytes (limit value_bytes_max=4)", "value_bytes_max"),
        ),
        (
            Cas("a", b"12345", expected_version=0),
            ErrorResult("limit", "value of 5 bytes (limit value_bytes_max=4)", "value_bytes_max"),
        ),
        (Get("a"), GetResult(0, None)),
    ],
    "limit: range limit": [
        (
            Range("", limit=4),
            ErrorResult("limit", "range limit 4 (limit range_limit_max=3)", "range_limit_max"),
        ),
        (Range("", limit=3), RangeResult(0, (), False)),
    ],
}

STORE_WIDE_CASES = frozenset(
    {
        # one revision counter for the whole store
        "every write bumps the one store revision",
        "cas on mod revision",
        # an absent key's revision is the store's
        "delete of a present key; recreation starts a new version",
        "delete-if on value, version, mod revision",
        # an order across keys
        "range by prefix, in key order",
        "range [start, end) and open-ended",
        "range limit cuts short and says more",
        "limit: range limit",
    }
)
"""The cases of :data:`CASES` a per-key store (``per_key=True``) cannot pass."""

PER_KEY_CASES: dict[str, list[Step]] = {
    "per key: each key counts its own revisions": [
        (Put("a", b"1"), PutResult(1, None)),
        (Put("b", b"x"), PutResult(1, None)),
        (Get("a"), GetResult(1, A1)),
        (Cas("a", b"2", expected_mod_revision=2), CondResult(False, 1, A1, None)),
        (Cas("a", b"2", expected_mod_revision=1), CondResult(True, 2, A2, A1)),
    ],
    "per key: a deleted key is absent at revision 0 and starts again": [
        (Put("a", b"1"), PutResult(1, None)),
        (Put("a", b"2"), PutResult(2, A1)),
        (Delete("a"), DeleteResult(3, A2)),
        (Get("a"), GetResult(0, None)),
        (Put("a", b"3"), PutResult(1, None)),
        (Get("a"), GetResult(1, kv("a", b"3", 1, 1, 1))),
    ],
    "per key: delete-if on value, version, mod revision": [
        (Put("a", b"1"), PutResult(1, None)),
        (DeleteIf("a", expected_value=b"2"), CondResult(False, 1, A1, None)),
        (DeleteIf("a", expected_version=2), CondResult(False, 1, A1, None)),
        (DeleteIf("a", expected_mod_revision=7), CondResult(False, 1, A1, None)),
        (DeleteIf("a", expected_mod_revision=1), CondResult(True, 2, None, A1)),
        (Get("a"), GetResult(0, None)),
        (DeleteIf("a", expected_version=0), CondResult(False, 0, None, None)),
    ],
}
"""Cases for a per-key store, in place of :data:`STORE_WIDE_CASES`."""

TXN_CASES: dict[str, list[Step]] = {
    "txn: success branch writes several keys at one revision": [
        (Put("a", b"1"), PutResult(1, None)),
        (
            Txn([compare("a", "value", "=", b"1")], [Put("a", b"2"), Put("b", b"x")], [Get("a")]),
            TxnResult(
                True, 2, (TxnResponse(put=PutResult(2, A1)), TxnResponse(put=PutResult(2, None)))
            ),
        ),
        (Get("b"), GetResult(2, kv("b", b"x", 2, 2, 1))),
        (Get("a"), GetResult(2, A2)),
    ],
    "txn: failure branch": [
        (Put("a", b"1"), PutResult(1, None)),
        (
            Txn([compare("a", "value", "=", b"9")], [Put("a", b"2")], [Get("a")]),
            TxnResult(False, 1, (TxnResponse(get=GetResult(1, A1)),)),
        ),
    ],
    "txn: a read-only branch does not bump the revision": [
        (
            Txn([], [Get("a"), Range("")], []),
            TxnResult(
                True,
                0,
                (TxnResponse(get=GetResult(0, None)), TxnResponse(range=RangeResult(0, (), False))),
            ),
        ),
        (Put("a", b"1"), PutResult(1, None)),
    ],
    "txn: reads see the branch's earlier writes; deletes report what they removed": [
        (Put("a", b"1"), PutResult(1, None)),
        (
            Txn([], [Delete("a"), Get("a"), Put("b", b"2"), Range("")], []),
            TxnResult(
                True,
                2,
                (
                    TxnResponse(delete=DeleteResult(2, A1)),
                    TxnResponse(get=GetResult(2, None)),
                    TxnResponse(put=PutResult(2, None)),
                    TxnResponse(range=RangeResult(2, (kv("b", b"2", 2, 2, 1),), False)),
                ),
            ),
        ),
    ],
    "txn: all compares must hold": [
        (Put("a", b"1"), PutResult(1, None)),
        (
            Txn(
                [compare("a", "exists", "=", True), compare("b", "exists", "=", True)],
                [Put("c", b"1")],
                [],
            ),
            TxnResult(False, 1, ()),
        ),
        (Get("c"), GetResult(1, None)),
    ],
    "txn: writing one key twice is refused, nothing applied": [
        (
            Txn([], [Put("a", b"1"), Delete("a")], []),
            ErrorResult("txn", "txn branch writes key 'a' twice"),
        ),
        (Get("a"), GetResult(0, None)),
    ],
    "limit: txn ops and compares (SMALL)": [
        (
            Txn([], [Put("a", b"1"), Put("b", b"1"), Put("c", b"1")], []),
            ErrorResult("limit", "txn has 3 success items (limit txn_ops_max=2)", "txn_ops_max"),
        ),
        (
            Txn([compare("a", "version", "=", 0)] * 3, [], []),
            ErrorResult("limit", "txn has 3 compare items (limit txn_ops_max=2)", "txn_ops_max"),
        ),
        (
            Txn([], [Put("a", b"1")], [Put("k" * 9, b"1")]),
            ErrorResult("limit", "key of 9 bytes (limit key_bytes_max=8)", "key_bytes_max"),
        ),
        (Get("a"), GetResult(0, None)),
    ],
}

# Every compare kind: key "m" holds b"m" with create 1, mod 3, version 2 (after puts of
# m, x, m); key "z" is absent. (key, target, op, operand, holds)
COMPARE_SETUP: list[WriteOp] = [Put("m", b"a"), Put("x", b"x"), Put("m", b"m")]
COMPARES: list[tuple[str, str, str, bytes | int | bool, bool]] = [
    ("m", "value", "=", b"m", True),
    ("m", "value", "=", b"n", False),
    ("m", "value", "!=", b"n", True),
    ("m", "value", "!=", b"m", False),
    ("m", "value", "<", b"n", True),
    ("m", "value", "<", b"m", False),
    ("m", "value", ">", b"l", True),
    ("m", "value", ">", b"mm", False),
    ("z", "value", "=", b"", False),
    ("z", "value", "!=", b"x", False),
    ("m", "version", "=", 2, True),
    ("m", "version", "!=", 2, False),
    ("m", "version", "<", 3, True),
    ("m", "version", ">", 2, False),
    ("z", "version", "=", 0, True),
    ("m", "create_revision", "=", 1, True),
    ("m", "create_revision", ">", 1, False),
    ("m", "create_revision", "<", 2, True),
    ("m", "create_revision", "!=", 1, False),
    ("z", "create_revision", "=", 0, True),
    ("m", "mod_revision", "=", 3, True),
    ("m", "mod_revision", "<", 3, False),
    ("m", "mod_revision", ">", 2, True),
    ("m", "mod_revision", "!=", 3, False),
    ("z", "mod_revision", "<", 1, True),
    ("m", "exists", "=", True, True),
    ("m", "exists", "!=", True, False),
    ("z", "exists", "=", False, True),
    ("z", "exists", "=", True, False),
]

MakeStore = Callable[[KvConfig], KvStore]


def _run(store: KvStore, op: WriteOp | Txn | ReadOp) -> Result:
    if isinstance(op, Get | Range):
        return store.read(op)
    return store.write(op)


def check_case(make_store: MakeStore, name: str) -> None:
    """Run one case of :data:`CASES` or :data:`TXN_CASES`."""
    steps = {**CASES, **TXN_CASES, **PER_KEY_CASES}[name]
    store = make_store(SMALL if "limit" in name else KvConfig())
    for number, (op, expected) in enumerate(steps, 1):
        got = _run(store, op)
        assert got == expected, f"{name}, step {number} ({op!r}):\n got {got!r}\nwant {expected!r}"


def check_compare(
    make_store: MakeStore, row: tuple[str, str, str, bytes | int | bool, bool]
) -> None:
    """One row of :data:`COMPARES`, as the only compare of a txn."""
    key, target, op, operand, holds = row
    store = make_store(KvConfig())
    for write in COMPARE_SETUP:
        _run(store, write)
    result = store.write(Txn([compare(key, target, op, operand)], [], []))
    assert result == TxnResult(holds, 3, ()), f"{row}: got {result!r}"


def check_kv_store(
    make_store: MakeStore,
    *,
    multi_key: bool = True,
    per_key: bool = False,
    names: Iterable[str] | None = None,
) -> None:
    """Run the whole suite (or the cases ``names``) against stores from ``make_store``."""
    chosen: Sequence[str] = (
        list(names) if names is not None else case_names(multi_key, per_key=per_key)
    )
    for name in chosen:
        check_case(make_store, name)
    if names is None and multi_key and not per_key:
        for row in COMPARES:
            check_compare(make_store, row)


def case_names(multi_key: bool = True, *, per_key: bool = False) -> list[str]:
    if per_key:
        return [*(c for c in CASES if c not in STORE_WIDE_CASES), *PER_KEY_CASES]
    return [*CASES, *(TXN_CASES if multi_key else ())]
