"""The generated record layouts of ``consensus.codec``: tuples of fixed-width records
travel as one flat array, nested records as arrays, and bad values are refused with
the record and field named."""

from __future__ import annotations

import attrs
import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from consensus.codec import TAG_BASE, WIRE, WIRE_TABLE, Codec, DecodeError
from consensus.messages import AcceptedRecord, AppendEntries, Ballot, PaxosHardState
from consensus.types import Entry, EntryKind, Snapshot, SnapshotMeta


def _tag(cls: type) -> int:
    return TAG_BASE + next(k for k, v in WIRE_TABLE.items() if v is cls)


def _raw(record: object) -> list[object]:
    """The array inside the record's tag (``0xDA`` and a 4-byte tag number)."""
    data = WIRE.encode(record)
    assert data[0] == 0xDA and int.from_bytes(data[1:5], "big") == _tag(type(record))
    value = cbor2.loads(data[5:])
    assert isinstance(value, list)
    return value


def test_entries_of_an_append_are_one_flat_array() -> None:
    message = AppendEntries(
        1, 2, 3, 4, 2, (Entry(5, 2, b"a"), Entry(6, 3, b"b", EntryKind.NOOP)), 4
    )
    assert _raw(message) == [1, 2, 3, 4, 2, [5, 2, b"a", 0, 6, 3, b"b", 1], 4]
    assert WIRE.decode(WIRE.encode(message)) == message


def test_nested_fixed_width_records_flatten_and_round_trip() -> None:
    record = AcceptedRecord(Ballot(7, 2), Entry(3, 9, b"v"))
    state = PaxosHardState(Ballot(8, 1), 2, (record, record))
    raw = _raw(state)
    assert raw[2] == [7, 2, 3, 9, b"v", 0] * 2
    assert WIRE.decode(WIRE.encode(state)) == state


def test_a_record_field_stays_a_nested_array() -> None:
    snapshot = Snapshot(SnapshotMeta(4, 2, (1, 2, 3)), b"image")
    assert _raw(snapshot) == [[4, 2, [1, 2, 3], [], []], b"image"]  # no learners, no addresses


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([5, 2, b"a"], r"AppendEntries\.entries: expected Entry records of 4 values each, got 3"),
        ([5, 2, "a", 0], r"AppendEntries\.entries: Entry\.data: expected bytes, got str 'a'"),
        ([5, 2, b"a", 9], r"AppendEntries\.entries: Entry\.kind: expected EntryKind, got int 9"),
        ([5, True, b"a", 0], r"Entry\.term: expected an integer in \[0, 2\*\*63\), got bool"),
        ([0, 2, b"a", 0], r"AppendEntries\.entries: Entry\.index must be >= 1, got 0"),
        ({"no": 1}, r"AppendEntries\.entries: expected an array, got dict"),
    ],
)
def test_bad_flat_entries_are_refused_naming_the_field(entries: object, message: str) -> None:
    data = cbor2.dumps(cbor2.CBORTag(_tag(AppendEntries), [1, 2, 3, 4, 2, entries, 4]))
    with pytest.raises(DecodeError, match=message):
        WIRE.decode(data)


def test_unknown_tag_and_bad_body_after_the_tag() -> None:
    with pytest.raises(DecodeError, match="unknown tag"):
        WIRE.decode(cbor2.dumps(cbor2.CBORTag(TAG_BASE + 999, [1])))
    good = WIRE.encode(AppendEntries(1, 2, 3, 4, 2, (), 4))
    with pytest.raises(DecodeError, match="invalid CBOR record"):
        WIRE.decode(good[:5] + b"\xff")


@attrs.frozen(slots=True)
class _Point:
    x: int
    label: str | None


@attrs.frozen(slots=True)
class _Shape:
    points: tuple[_Point, ...]
    pair: tuple[int, str]
    origin: _Point | None
    flags: tuple[bool, ...]


_SHAPES = Codec({1: _Shape, 2: _Point})
points = st.builds(_Point, st.integers(0, 2**63 - 1), st.none() | st.text(max_size=5))


@given(
    st.builds(
        _Shape,
        st.lists(points, max_size=5).map(tuple),
        st.tuples(st.integers(0, 9), st.text(max_size=3)),
        st.none() | points,
        st.lists(st.booleans(), max_size=4).map(tuple),
    )
)
def test_generated_layouts_round_trip(shape: _Shape) -> None:
    assert _SHAPES.decode(_SHAPES.encode(shape)) == shape


def test_generated_decoder_names_nested_fields() -> None:
    bad = cbor2.dumps(cbor2.CBORTag(TAG_BASE + 1, [[1, 5], [1, "a"], [3, None], [True]]))
    with pytest.raises(DecodeError, match=r"_Shape\.points: _Point\.label: expected a string"):
        _SHAPES.decode(bad)
    bad = cbor2.dumps(cbor2.CBORTag(TAG_BASE + 1, [[], [1, "a"], [3], []]))
    with pytest.raises(DecodeError, match=r"_Shape\.origin: _Point: expected 2 fields, got 1"):
        _SHAPES.decode(bad)
    bad = cbor2.dumps(cbor2.CBORTag(TAG_BASE + 1, [[], [1, 2], None, []]))
    with pytest.raises(DecodeError, match=r"_Shape\.pair: expected a string, got int 2"):
        _SHAPES.decode(bad)
