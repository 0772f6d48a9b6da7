"""The key-value state machine as the runtime sees it: entries in, encoded results out.

The store's semantics are in ``tests/statemachines``; here: the StateMachine contract
(bad entries give error results, snapshots round-trip, garbage snapshots are refused).
"""

from __future__ import annotations

import pytest

from consensus.types import Entry
from statemachines.kv import KvStateMachine
from statemachines.kv_commands import (
    KV_CODEC,
    Command,
    ErrorResult,
    Get,
    GetResult,
    KeyValue,
    Put,
    PutResult,
    RegisterSession,
    SessionResult,
    Write,
    decode_result,
)


def _apply(sm: KvStateMachine, index: int, record: object) -> object:
    return decode_result(sm.apply(Entry(index, 1, KV_CODEC.encode(record))))


def test_put_get_through_entries() -> None:
    sm = KvStateMachine()
    assert _apply(sm, 1, RegisterSession(now_ms=1)) == SessionResult(1)
    assert _apply(sm, 2, Command(1, 1, 1, 1, Write.of(Put("k", b"a")))) == PutResult(1, None)
    result = decode_result(sm.query(KV_CODEC.encode(Get("k"))))
    assert result == GetResult(1, KeyValue("k", b"a", 1, 1, 1))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\x00garbage", "bad command at index 1: "),
        (KV_CODEC.encode(Get("k")), "Get is not a command"),
        (KV_CODEC.encode(GetResult(0, None)), "GetResult is not a command"),
    ],
)
def test_bad_entry_gives_error_result_not_exception(data: bytes, message: str) -> None:
    sm = KvStateMachine()
    result = decode_result(sm.apply(Entry(1, 1, data)))
    assert isinstance(result, ErrorResult) and result.kind == "bad-command"
    assert result.message.startswith(message)
    assert sm.revision == 0 and not sm.data


def test_old_format_put_is_refused_not_applied() -> None:
    old_put = b"\xda\x63\x73\x00\xc0" + bytes.fromhex("8401016b6b4176")  # tag 192
    sm = KvStateMachine()
    result = decode_result(sm.apply(Entry(1, 1, old_put)))
    assert isinstance(result, ErrorResult) and "unknown tag" in result.message


def test_snapshot_round_trip_keeps_data_and_sessions() -> None:
    sm = KvStateMachine()
    _apply(sm, 1, RegisterSession(now_ms=5))
    _apply(sm, 2, Command(1, 1, 1, 5, Write.of(Put("a", b"1"))))
    image = sm.snapshot()
    other = KvStateMachine()
    other.restore(image)
    assert other.snapshot() == image
    assert other.data == sm.data and other.revision == 1
    again = _apply(other, 3, Command(1, 1, 1, 6, Write.of(Put("a", b"1"))))
    assert again == PutResult(1, None), "the retry is answered from the restored session"


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (b"\xff\xff", "KV snapshot is not valid CBOR"),
        (b"\x01", "unknown format or version"),
    ],
)
def test_restore_rejects_garbage(image: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KvStateMachine().restore(image)
