"""The key-value conformance suite against the replicated state machine, both with a
registered session and with session 0 (no session); and against the store on
``paxos-lwt`` registers (a 3-node cluster of cores), minus what it does not offer."""

from __future__ import annotations

import pytest

from statemachines.kv_commands import (
    KV_CODEC,
    Cas,
    Command,
    CondResult,
    ErrorResult,
    Get,
    GetResult,
    KeyValue,
    KvConfig,
    Put,
    Range,
    Txn,
    Watch,
    Write,
    WriteOp,
)
from statemachines.kv_lwt import (
    RANGE_REFUSED,
    STALE,
    STALE_REFUSED,
    TXN_REFUSED,
    WATCH_REFUSED,
)

from .conformance import COMPARES, case_names, check_case, check_compare, check_kv_store
from .lwt_replica import LwtReplica
from .replica import Replica


def in_session(config: KvConfig) -> Replica:
    return Replica(config)


def no_session(config: KvConfig) -> Replica:
    return Replica(config, session=False)


@pytest.mark.parametrize("name", case_names())
def test_case(name: str) -> None:
    check_case(in_session, name)


@pytest.mark.parametrize("row", COMPARES, ids=lambda r: f"{r[0]}-{r[1]}{r[2]}{r[3]!r}")
def test_compare(row: tuple[str, str, str, bytes | int | bool, bool]) -> None:
    check_compare(in_session, row)


def test_whole_suite_without_a_session() -> None:
    check_kv_store(no_session)


# -- paxos-lwt: the store on per-key registers (no txn, per-key revisions, no range) --------
def over_lwt(config: KvConfig) -> LwtReplica:
    return LwtReplica(config)


@pytest.mark.parametrize("name", case_names(multi_key=False, per_key=True))
def test_case_over_paxos_lwt(name: str) -> None:
    check_case(over_lwt, name)


def test_paxos_lwt_refuses_what_one_key_cannot_offer() -> None:
    store = LwtReplica()
    txn = store.write(Txn([], [Put("a", b"1"), Put("b", b"2")], []))
    assert txn == ErrorResult("txn", TXN_REFUSED)
    assert store.read(Range.of_prefix("a")) == ErrorResult("bad-command", RANGE_REFUSED)
    assert store.read(Watch("a")) == ErrorResult("bad-command", WATCH_REFUSED)
    assert store.rounds == 0  # refused before any round
    assert store.machine.route_local(KV_CODEC.encode(Get("a"))) == KV_CODEC.encode(
        ErrorResult("bad-command", STALE_REFUSED)
    )


def test_paxos_lwt_retried_session_writes_apply_once() -> None:
    store = LwtReplica()

    def command(session: int, seq: int, ack: int, op: WriteOp) -> bytes:
        return KV_CODEC.encode(Command(session, seq, ack, 0, Write.of(op)))

    first = command(7, 1, 1, Cas("a", b"1", expected_version=0))
    got = store.serve(first, write=True)
    assert got == CondResult(True, 1, KeyValue("a", b"1", 1, 1, 1), None)
    assert store.serve(first, write=True) == got  # a retry: the first result, no write
    store.serve(command(8, 1, 1, Put("a", b"2")), write=True)
    assert store.serve(first, write=True) == got  # still remembered after another write
    assert store.read(Get("a")) == GetResult(2, KeyValue("a", b"2", 1, 2, 2))
    store.serve(command(7, 2, 2, Put("b", b"x")), write=True)  # acks seq 1, on another key
    assert store.serve(first, write=True) == got  # key a has not heard of that ack
    store.serve(command(7, 3, 3, Put("a", b"3")), write=True)  # acks it on this key
    late = store.serve(first, write=True)  # a round still retrying seq 1: refused
    assert late == ErrorResult("session", STALE)
    assert store.read(Get("a")) == GetResult(3, KeyValue("a", b"3", 1, 3, 3))


def test_paxos_lwt_a_failed_condition_is_not_applied_by_a_late_round() -> None:
    store = LwtReplica()

    def command(seq: int, ack: int, op: WriteOp) -> bytes:
        return KV_CODEC.encode(Command(9, seq, ack, 0, Write.of(op)))

    store.serve(command(1, 1, Put("a", b"1")), write=True)
    failed = command(2, 2, Cas("a", b"x", expected_value=b"0"))
    first = store.serve(failed, write=True)
    assert first == CondResult(False, 1, KeyValue("a", b"1", 1, 1, 1), None)
    store.write(Put("a", b"0"))  # now the condition would hold (no session)
    assert store.serve(failed, write=True) == first  # a retry: the first answer
    store.serve(command(3, 3, Put("b", b"1")), write=True)
    store.serve(command(4, 4, Cas("a", b"y", expected_value=b"zzz")), write=True)  # acks 2
    assert store.serve(failed, write=True) == ErrorResult("session", STALE)
    assert store.read(Get("a")) == GetResult(2, KeyValue("a", b"0", 1, 2, 2))
