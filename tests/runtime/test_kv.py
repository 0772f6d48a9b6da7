"""The key-value state machine and its client sessions."""

from __future__ import annotations

import pytest

from consensus.types import Entry
from statemachines.kv import (
    KV_CODEC,
    Get,
    KvResult,
    KvStateMachine,
    Put,
    decode_result,
    ok_result,
)
from statemachines.sessions import SessionTable


def _put(sm: KvStateMachine, index: int, client: int, seq: int, key: str, value: bytes) -> KvResult:
    data = KV_CODEC.encode(Put(client, seq, key, value))
    return decode_result(sm.apply(Entry(index, 1, data)))


def _get(sm: KvStateMachine, key: str) -> KvResult:
    return decode_result(sm.query(KV_CODEC.encode(Get(key))))


def test_put_returns_previous_and_get_reads() -> None:
    sm = KvStateMachine()
    assert _put(sm, 1, 1, 1, "k", b"a") == KvResult(ok=True, value=None)
    assert _put(sm, 2, 1, 2, "k", b"b") == KvResult(ok=True, value=b"a")
    assert _get(sm, "k") == KvResult(ok=True, value=b"b")
    assert _get(sm, "missing") == KvResult(ok=True, value=None)


def test_retried_command_is_applied_once() -> None:
    sm = KvStateMachine()
    first = _put(sm, 1, 9, 1, "k", b"a")
    _put(sm, 2, 8, 1, "k", b"other")  # another client writes in between
    again = _put(sm, 3, 9, 1, "k", b"a")  # client 9 retries its seq 1
    assert again == first
    assert _get(sm, "k").value == b"other", "the retry must not apply again"


def test_command_older_than_window_is_refused() -> None:
    sm = KvStateMachine(SessionTable(window=2))
    for seq in (1, 2, 3):
        _put(sm, seq, 5, seq, "k", b"%d" % seq)
    result = _put(sm, 4, 5, 1, "k", b"late")
    assert result.ok is False
    assert result.error == "request 1 of client 5 is older than its session window"
    assert _get(sm, "k").value == b"3"


def test_client_zero_has_no_session() -> None:
    sm = KvStateMachine()
    _put(sm, 1, 0, 1, "k", b"a")
    _put(sm, 2, 0, 1, "k", b"b")
    assert _get(sm, "k").value == b"b"
    assert len(sm.sessions) == 0


def test_sessions_evict_least_recent_client() -> None:
    table = SessionTable(window=4, clients_max=2)
    table.record(1, 1, b"r1")
    table.record(2, 1, b"r2")
    table.record(1, 2, b"r1b")  # client 1 is now the most recent
    table.record(3, 1, b"r3")  # evicts client 2
    assert table.lookup(2, 1) is None
    assert table.lookup(1, 1) == b"r1"
    assert table.lookup(3, 1) == b"r3"


def test_bad_command_gives_error_result_not_exception() -> None:
    sm = KvStateMachine()
    result = decode_result(sm.apply(Entry(1, 1, b"\xff\x00garbage")))
    assert result.ok is False and result.error.startswith("bad command at index 1")
    result = decode_result(sm.apply(Entry(2, 1, KV_CODEC.encode(Get("k")))))
    assert result == KvResult(ok=False, error="Get is not a command")


def test_snapshot_round_trip_keeps_data_and_sessions() -> None:
    sm = KvStateMachine()
    _put(sm, 1, 4, 1, "a", b"1")
    _put(sm, 2, 4, 2, "b", b"2")
    image = sm.snapshot()
    other = KvStateMachine()
    other.restore(image)
    assert other.snapshot() == image
    assert other.data == {"a": b"1", "b": b"2"}
    assert _put(other, 3, 4, 2, "b", b"2") == KvResult(ok=True, value=None)  # deduplicated


def test_restore_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="KV snapshot is not valid CBOR"):
        KvStateMachine().restore(b"\xff\xff")
    with pytest.raises(ValueError, match="unknown format or version"):
        KvStateMachine().restore(b"\x01")


def test_restored_session_table_evicts_like_the_original() -> None:
    original = SessionTable(window=2, clients_max=2)
    for client, seq in ((1, 5), (1, 3), (2, 1)):
        original.record(client, seq, b"%d" % seq)
    restored = SessionTable(window=2, clients_max=2)
    restored.load(original.dump())
    for table in (original, restored):
        table.record(1, 9, b"9")  # evicts client 1's seq 5 (applied first), not seq 3
        table.record(3, 1, b"x")  # evicts client 2 (least recently active)
    probes = [(1, 3), (1, 5), (1, 9), (2, 1), (3, 1)]
    assert [original.lookup(*p) for p in probes] == [restored.lookup(*p) for p in probes]
    assert original.lookup(1, 3) == b"3" and original.lookup(1, 5) is False


@pytest.mark.parametrize("size", [0, 1, 23, 24, 255, 256, 65535, 65536])
def test_ok_result_is_exactly_the_codec_encoding(size: int) -> None:
    value = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    assert ok_result(value) == KV_CODEC.encode(KvResult(ok=True, value=value))
    assert decode_result(ok_result(value)) == KvResult(ok=True, value=value)
    assert ok_result(None) == KV_CODEC.encode(KvResult(ok=True, value=None))
