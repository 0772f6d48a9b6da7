"""The codec: every record round-trips, and bad bytes only ever raise DecodeError."""

from __future__ import annotations

import attrs
import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.codec import (
    TAG_BASE,
    WIRE,
    WIRE_TABLE,
    Codec,
    DecodeError,
    FrameDecoder,
    FrameTooLarge,
)
from consensus.messages import AppendEntries, Heartbeat, RequestVote
from consensus.types import Entry, EntryKind, HardState, Snapshot, SnapshotMeta

u63 = st.integers(0, 2**63 - 1)
small = st.integers(0, 1000)
entries = st.builds(
    Entry, st.integers(1, 1000), small, st.binary(max_size=20), st.sampled_from(EntryKind)
)
metas = st.builds(SnapshotMeta, small, small, st.lists(st.integers(1, 9), max_size=5).map(tuple))


def strategy_for(cls: type) -> st.SearchStrategy[object]:
    """Build any record in the wire table from its field annotations."""
    if cls is Entry:
        return entries
    if cls is SnapshotMeta:
        return metas
    if cls is Snapshot:
        return st.builds(Snapshot, metas, st.binary(max_size=50))
    import typing

    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in attrs.fields(cls):
        tp = hints[f.name]
        kwargs[f.name] = _value(tp)
    return st.builds(cls, **kwargs)


def _value(tp: object) -> st.SearchStrategy[object]:
    import types
    import typing

    if tp is int:
        return u63
    if tp is bool:
        return st.booleans()
    if tp is bytes:
        return st.binary(max_size=30)
    if tp is str:
        return st.text(max_size=10)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = next(a for a in args if a is not type(None))
        return st.none() | _value(inner)
    if origin is tuple:
        return st.lists(_value(args[0]), max_size=4).map(tuple)
    if isinstance(tp, type) and tp in WIRE_TABLE.values():
        return strategy_for(tp)
    raise NotImplementedError(tp)


any_record = st.sampled_from(sorted(WIRE_TABLE.values(), key=lambda c: c.__name__)).flatmap(
    strategy_for
)


@given(any_record)
def test_every_record_round_trips(record: object) -> None:
    assert WIRE.decode(WIRE.encode(record)) == record


@given(st.lists(any_record, max_size=5), st.integers(1, 64))
def test_frames_split_anywhere_reassemble(records: list[object], chunk: int) -> None:
    stream = b"".join(WIRE.encode_frame(r) for r in records)
    dec = FrameDecoder(WIRE)
    out: list[object] = []
    for i in range(0, len(stream), chunk):
        dec.feed(stream[i : i + chunk])
        out.extend(dec.records())
    assert out == records
    assert dec.buffered_bytes == 0


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    try:
        decoded = WIRE.decode(data)
    except DecodeError:
        return
    assert type(decoded) in WIRE_TABLE.values()


@settings(max_examples=300)
@given(any_record, st.data())
def test_mutated_records_raise_only_decode_error(record: object, data: st.DataObject) -> None:
    raw = bytearray(WIRE.encode(record))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    try:
        decoded = WIRE.decode(bytes(raw))
    except DecodeError:
        return
    assert type(decoded) in WIRE_TABLE.values()


def test_wrong_field_types_are_refused_with_the_field_named() -> None:
    tag = TAG_BASE + next(k for k, v in WIRE_TABLE.items() if v is RequestVote)
    bad = cbor2.dumps(cbor2.CBORTag(tag, [1, 2, "three", 4, 5, False, False]))
    with pytest.raises(DecodeError, match=r"RequestVote.term: expected an integer.*'three'"):
        WIRE.decode(bad)
    booleans_are_not_ints = cbor2.dumps(cbor2.CBORTag(tag, [1, 2, True, 4, 5, False, False]))
    with pytest.raises(DecodeError, match="expected an integer"):
        WIRE.decode(booleans_are_not_ints)
    negative = cbor2.dumps(cbor2.CBORTag(tag, [1, 2, -3, 4, 5, False, False]))
    with pytest.raises(DecodeError, match="expected an integer"):
        WIRE.decode(negative)


def test_wrong_field_count_unknown_tag_and_bare_values() -> None:
    tag = TAG_BASE + next(k for k, v in WIRE_TABLE.items() if v is Heartbeat)
    with pytest.raises(DecodeError, match="Heartbeat: expected 5 fields"):
        WIRE.decode(cbor2.dumps(cbor2.CBORTag(tag, [1, 2, 3])))
    with pytest.raises(DecodeError, match="unknown tag"):
        WIRE.decode(cbor2.dumps(cbor2.CBORTag(TAG_BASE + 999, [])))
    with pytest.raises(DecodeError, match="expected a record"):
        WIRE.decode(cbor2.dumps([1, 2, 3]))
    with pytest.raises(DecodeError, match="invalid CBOR"):
        WIRE.decode(b"\xff\xff")


def test_invalid_entry_index_is_a_decode_error() -> None:
    entry = WIRE.encode(Entry(1, 1, b"x"))
    tag = TAG_BASE + 1
    bad = cbor2.dumps(cbor2.CBORTag(tag, [0, 1, b"x", 0]))
    assert WIRE.decode(entry) == Entry(1, 1, b"x")
    with pytest.raises(DecodeError, match=r"Entry\.index must be >= 1"):
        WIRE.decode(bad)


def test_oversized_frame_is_refused_from_its_header() -> None:
    small_codec = Codec(WIRE_TABLE, frame_bytes_max=100)
    dec = FrameDecoder(small_codec)
    with pytest.raises(FrameTooLarge, match=r"frame of 1000000 bytes is over the limit of 100"):
        dec.feed((1_000_000).to_bytes(4, "big") + b"abc")
    big = AppendEntries(1, 2, 1, 0, 0, (Entry(1, 1, b"x" * 200),), 0)
    with pytest.raises(ValueError, match="over the frame limit of 100"):
        small_codec.encode_frame(big)


def test_encoding_something_outside_the_table_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not in the codec table"):
        WIRE.encode(object())
    with pytest.raises(TypeError, match="is not an attrs class"):
        Codec({1: int})


def test_hard_state_round_trip_keeps_none_vote() -> None:
    assert WIRE.decode(WIRE.encode(HardState(3, None, 2))) == HardState(3, None, 2)


@pytest.mark.parametrize(
    "data", [b"\x81" * 100_000 + b"\x00", b"\xd9\x01\x00" * 50_000 + b"\x00", b"\x9f" * 100_000]
)
def test_deep_nesting_is_a_decode_error_not_a_crash(data: bytes) -> None:
    with pytest.raises(DecodeError, match="nesting depth"):
        WIRE.decode(data)
