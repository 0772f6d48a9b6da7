"""CBOR encoding of messages and records, and length-prefixed frames.

Wire format
-----------
A record (any attrs class listed in a :class:`Codec`'s table) is a CBOR tag
``TAG_BASE + type_id`` around an array of its field values in declaration order. Records
nested in fields are plain arrays of their fields (the field's annotation says which
class); tuples are arrays; enums are their integer values.

A frame is a 4-byte big-endian payload length followed by that many bytes of CBOR.

Decoding contract
-----------------
:meth:`Codec.decode` and :class:`FrameDecoder` raise :class:`DecodeError` for any input
that is not exactly one valid, well-typed record, and never any other exception. Field
values are checked against the field annotations (``int`` fields take integers in
``[0, 2**63)`` only, never booleans), so a core never sees a malformed message. A frame
longer than ``frame_bytes_max`` is refused from its header, before its body is read.
"""

from __future__ import annotations

import enum
import operator
import struct
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
import cbor2

from .messages import PAXOS_RECORDS, RAFT_MESSAGES
from .types import Entry, EntryKind, HardState, ProposalTicket, ReadState, Snapshot, SnapshotMeta

TAG_BASE = 0x6373_0000
"""First CBOR tag number used for this project's records (tags are TAG_BASE + type id)."""

FRAME_HEADER = struct.Struct(">I")
FRAME_BYTES_MAX_DEFAULT = 16 * 1024 * 1024
INT_MAX = 2**63


class DecodeError(ValueError):
    """Bytes that are not a valid frame or record. The only error decoding raises."""


class FrameTooLarge(DecodeError):
    """A frame header announced more than the decoder's ``frame_bytes_max`` bytes."""


_Convert = Callable[[Any], Any]
_ARRAY = (list, tuple)


def _bad(want: str, value: Any) -> DecodeError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return DecodeError(f"expected {want}, got {type(value).__name__} {shown}")


def _conv_int(v: Any) -> int:
    if type(v) is not int or not 0 <= v < INT_MAX:
        raise _bad("an integer in [0, 2**63)", v)
    return v


def _conv_bool(v: Any) -> bool:
    if type(v) is not bool:
        raise _bad("a boolean", v)
    return v


def _conv_bytes(v: Any) -> bytes:
    if type(v) is not bytes:
        raise _bad("bytes", v)
    return v


def _conv_str(v: Any) -> str:
    if type(v) is not str:
        raise _bad("a string", v)
    return v


def _conv_float(v: Any) -> float:
    if type(v) is not float:
        raise _bad("a float", v)
    return v


_SIMPLE: dict[Any, _Convert] = {
    int: _conv_int,
    bool: _conv_bool,
    bytes: _conv_bytes,
    str: _conv_str,
    float: _conv_float,
}


class _Shape:
    """How values of one annotation go to CBOR (``out``: None when they go as they are)
    and come back, checked (``back``)."""

    __slots__ = ("back", "out")

    def __init__(self, out: _Convert | None, back: _Convert) -> None:
        self.out = out
        self.back = back


def _shape(tp: Any, records: dict[type, _RecordSchema]) -> _Shape:
    """The shape of values annotated ``tp`` (supported annotations only)."""
    if tp in _SIMPLE:
        return _Shape(None, _SIMPLE[tp])
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1 or len(args) != 2:
            raise TypeError(f"codec supports only X | None unions, not {tp!r}")
        sub = _shape(inner[0], records)
        sub_out, sub_back = sub.out, sub.back
        out = None if sub_out is None else (lambda v: None if v is None else sub_out(v))
        return _Shape(out, lambda v: None if v is None else sub_back(v))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = _shape(args[0], records)
            item_out, item_back = item.out, item.back

            def back_tuple(v: Any) -> tuple[Any, ...]:
                if type(v) not in _ARRAY:
                    raise _bad("an array", v)
                return tuple([item_back(x) for x in v])

            out = None if item_out is None else (lambda v: [item_out(x) for x in v])
            return _Shape(out, back_tuple)
        items = [_shape(a, records) for a in args]
        backs = [i.back for i in items]

        def back_fixed(v: Any) -> tuple[Any, ...]:
            if type(v) not in _ARRAY or len(v) != len(backs):
                raise _bad(f"an array of {len(backs)}", v)
            return tuple([c(x) for c, x in zip(backs, v, strict=True)])

        outs = [i.out for i in items]
        if all(o is None for o in outs):
            return _Shape(None, back_fixed)
        return _Shape(
            lambda v: [x if o is None else o(x) for o, x in zip(outs, v, strict=True)],
            back_fixed,
        )
    if isinstance(tp, type) and issubclass(tp, enum.IntEnum):
        enum_type = tp
        members = {int(m): m for m in enum_type}

        def back_enum(v: Any) -> Any:
            if type(v) is not int or v not in members:
                raise _bad(enum_type.__name__, v)
            return members[v]

        return _Shape(int, back_enum)
    if isinstance(tp, type) and attrs.has(tp):
        schema = _record_schema(tp, records)
        return _Shape(schema.to_wire, schema.from_wire)
    raise TypeError(f"codec cannot check fields of type {tp!r}")


class _RecordSchema:
    """One attrs class as a CBOR array of its fields, in declaration order."""

    __slots__ = ("backs", "cls", "get", "names", "outs")

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.names: tuple[str, ...] = ()
        self.outs: tuple[_Convert | None, ...] = ()
        self.backs: tuple[_Convert, ...] = ()
        self.get: Callable[[Any], Any] = lambda v: ()

    def fill(self, records: dict[type, _RecordSchema]) -> None:
        hints = typing.get_type_hints(self.cls)
        fields = attrs.fields(self.cls)
        self.names = tuple(f.name for f in fields)
        shapes = [_shape(hints[f.name], records) for f in fields]
        self.outs = tuple(sh.out for sh in shapes)
        self.backs = tuple(sh.back for sh in shapes)
        getter = operator.attrgetter(*self.names)
        if len(self.names) == 1:
            self.get = lambda v: (getter(v),)
        else:
            self.get = getter

    def to_wire(self, record: Any) -> list[Any]:
        values = self.get(record)
        return [v if o is None else o(v) for o, v in zip(self.outs, values, strict=True)]

    def from_wire(self, fields: Any) -> Any:
        name = self.cls.__name__
        if type(fields) not in _ARRAY:
            raise _bad(f"{name} fields", fields)
        if len(fields) != len(self.backs):
            raise DecodeError(f"{name}: expected {len(self.backs)} fields, got {len(fields)}")
        values = []
        for field, back, value in zip(self.names, self.backs, fields, strict=True):
            try:
                values.append(back(value))
            except DecodeError as exc:
                raise DecodeError(f"{name}.{field}: {exc}") from None
        try:
            return self.cls(*values)
        except ValueError as exc:  # a record's own validation (e.g. Entry.index >= 1)
            raise DecodeError(str(exc)) from None


def _record_schema(cls: type, records: dict[type, _RecordSchema]) -> _RecordSchema:
    schema = records.get(cls)
    if schema is None:
        schema = records[cls] = _RecordSchema(cls)
        schema.fill(records)  # after registering: a record may nest its own type
    return schema


class Codec:
    """Encodes and decodes the records of one table ``{type_id: attrs class}``.

    Only top-level records carry a tag; records nested in fields are plain arrays, since
    the field's annotation already says what they are. Type ids are part of the wire and
    storage format: never reuse or renumber one.
    """

    def __init__(self, table: Mapping[int, type], frame_bytes_max: int = FRAME_BYTES_MAX_DEFAULT):
        self.frame_bytes_max = frame_bytes_max
        self._schemas: dict[type, _RecordSchema] = {}
        self._by_tag: dict[int, _RecordSchema] = {}
        self._tag_of: dict[type, int] = {}
        for type_id, cls in table.items():
            if not attrs.has(cls):
                raise TypeError(f"{cls!r} is not an attrs class")
            if cls in self._tag_of:
                raise ValueError(f"{cls.__name__} listed twice")
            self._by_tag[TAG_BASE + type_id] = _record_schema(cls, self._schemas)
            self._tag_of[cls] = TAG_BASE + type_id

    # -- encoding ---------------------------------------------------------------------
    def encode(self, record: Any) -> bytes:
        """Encode one record (raises ``TypeError`` if it is not in the table)."""
        tag = self._tag_of.get(type(record))
        if tag is None:
            raise TypeError(f"cannot encode {type(record).__name__}: not in the codec table")
        return cbor2.dumps(cbor2.CBORTag(tag, self._schemas[type(record)].to_wire(record)))

    def encode_frame(self, record: Any) -> bytes:
        """Encode one record as a frame: 4-byte big-endian length, then the CBOR."""
        body = self.encode(record)
        if len(body) > self.frame_bytes_max:
            raise ValueError(
                f"{type(record).__name__} needs {len(body)} bytes, over the frame limit "
                f"of {self.frame_bytes_max}"
            )
        return FRAME_HEADER.pack(len(body)) + body

    # -- decoding ---------------------------------------------------------------------
    def decode(self, data: bytes) -> Any:
        """Decode exactly one record; raises :class:`DecodeError` for anything else."""
        try:
            value = cbor2.loads(data)
        except Exception as exc:  # cbor2 raises many types for bad input; fold them
            raise DecodeError(f"invalid CBOR record: {type(exc).__name__}: {exc}") from None
        if type(value) is not cbor2.CBORTag:
            raise _bad("a record", value)
        schema = self._by_tag.get(value.tag)
        if schema is None:
            raise DecodeError(f"unknown tag {value.tag}")
        return schema.from_wire(value.value)


class FrameDecoder:
    """Incremental frame splitter: ``feed(bytes)``, then iterate ``records()``.

    A header announcing more than ``codec.frame_bytes_max`` raises :class:`FrameTooLarge`
    at once, before any of the body is buffered. After any :class:`DecodeError` the stream
    is out of sync: the caller must close the connection.
    """

    def __init__(self, codec: Codec) -> None:
        self._codec = codec
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) >= FRAME_HEADER.size:
            (length,) = FRAME_HEADER.unpack_from(self._buf)
            if length > self._codec.frame_bytes_max:
                raise FrameTooLarge(
                    f"frame of {length} bytes is over the limit of {self._codec.frame_bytes_max}"
                )

    def records(self) -> Iterator[Any]:
        """Yield every complete record buffered so far."""
        buf = self._buf
        while len(buf) >= FRAME_HEADER.size:
            (length,) = FRAME_HEADER.unpack_from(buf)
            if length > self._codec.frame_bytes_max:
                raise FrameTooLarge(
                    f"frame of {length} bytes is over the limit of {self._codec.frame_bytes_max}"
                )
            end = FRAME_HEADER.size + length
            if len(buf) < end:
                return
            body = bytes(buf[FRAME_HEADER.size : end])
            del buf[:end]
            yield self._codec.decode(body)

    @property
    def buffered_bytes(self) -> int:
        return len(self._buf)


RECORDS: dict[int, type] = {
    1: Entry,
    2: HardState,
    3: SnapshotMeta,
    4: Snapshot,
    5: ReadState,
    6: ProposalTicket,
}
"""Type ids 1-31: shared records. 32-63: Raft messages. 64-95: Paxos. 96-127: storage."""

WIRE_TABLE: dict[int, type] = dict(RECORDS)
WIRE_TABLE.update({32 + i: cls for i, cls in enumerate(RAFT_MESSAGES)})
WIRE_TABLE.update({64 + i: cls for i, cls in enumerate(PAXOS_RECORDS)})

WIRE = Codec(WIRE_TABLE)
"""The codec for everything nodes send each other and write to disk."""

__all__ = [
    "FRAME_BYTES_MAX_DEFAULT",
    "TAG_BASE",
    "WIRE",
    "Codec",
    "DecodeError",
    "EntryKind",
    "FrameDecoder",
    "FrameTooLarge",
]
