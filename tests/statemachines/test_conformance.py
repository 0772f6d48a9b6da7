"""The key-value conformance suite against the replicated state machine, both with a
registered session and with session 0 (no session); and against the store on
``paxos-lwt`` registers (a 3-node cluster of cores), minus what it does not offer."""

from __future__ import annotations

import pytest

from statemachines.kv_commands import KV_CODEC, ErrorResult, Get, KvConfig, Put, Range, Txn, Watch
from statemachines.kv_lwt import RANGE_REFUSED, STALE_REFUSED, TXN_REFUSED, WATCH_REFUSED

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
