"""CBOR encoding of messages and records, and length-prefixed frames.

Wire format
-----------
A record (any attrs class listed in a :class:`Codec`'s table) is a CBOR tag
``TAG_BASE + type_id`` around an array of its field values in declaration order. Nested
records nest as tags; tuples are arrays; enums are their integer values.

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
import struct
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
import cbor2

from .messages import RAFT_MESSAGES
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


def _converter(tp: Any) -> _Convert:
    """Build a checker/converter for values annotated ``tp`` (supported shapes only)."""
    simple: dict[Any, _Convert] = {
        int: _conv_int,
        bool: _conv_bool,
        bytes: _conv_bytes,
        str: _conv_str,
        float: _conv_float,
    }
    if tp in simple:
        return simple[tp]
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1 or len(args) != 2:
            raise TypeError(f"codec supports only X | None unions, not {tp!r}")
        conv = _converter(inner[0])
        return lambda v: None if v is None else conv(v)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = _converter(args[0])

            def conv_tuple(v: Any) -> tuple[Any, ...]:
                if type(v) not in _ARRAY:
                    raise _bad("an array", v)
                return tuple(item(x) for x in v)

            return conv_tuple
        items = [_converter(a) for a in args]

        def conv_fixed(v: Any) -> tuple[Any, ...]:
            if type(v) not in _ARRAY or len(v) != len(items):
                raise _bad(f"an array of {len(items)}", v)
            return tuple(c(x) for c, x in zip(items, v, strict=True))

        return conv_fixed
    if isinstance(tp, type) and issubclass(tp, enum.IntEnum):
        enum_type = tp

        def conv_enum(v: Any) -> Any:
            if type(v) is not int:
                raise _bad(enum_type.__name__, v)
            try:
                return enum_type(v)
            except ValueError:
                raise _bad(enum_type.__name__, v) from None

        return conv_enum
    if isinstance(tp, type) and attrs.has(tp):
        record_type = tp

        def conv_record(v: Any) -> Any:
            if type(v) is not record_type:
                raise _bad(record_type.__name__, v)
            return v

        return conv_record
    raise TypeError(f"codec cannot check fields of type {tp!r}")


@attrs.frozen(slots=True)
class _Schema:
    cls: type
    type_id: int
    names: tuple[str, ...]
    converters: tuple[_Convert, ...]


class Codec:
    """Encodes and decodes the records of one table ``{type_id: attrs class}``.

    Type ids are part of the wire and storage format: never reuse or renumber one.
    """

    def __init__(self, table: Mapping[int, type], frame_bytes_max: int = FRAME_BYTES_MAX_DEFAULT):
        self.frame_bytes_max = frame_bytes_max
        self._by_id: dict[int, _Schema] = {}
        self._by_cls: dict[type, _Schema] = {}
        for type_id, cls in table.items():
            if not attrs.has(cls):
                raise TypeError(f"{cls!r} is not an attrs class")
            if cls in self._by_cls:
                raise ValueError(f"{cls.__name__} listed twice")
            hints = typing.get_type_hints(cls)
            fields = attrs.fields(cls)
            names = tuple(f.name for f in fields)
            convs = tuple(_converter(hints[f.name]) for f in fields)
            schema = _Schema(cls, type_id, names, convs)
            self._by_id[TAG_BASE + type_id] = schema
            self._by_cls[cls] = schema

    # -- encoding ---------------------------------------------------------------------
    def _default(self, encoder: Any, value: Any) -> None:
        schema = self._by_cls.get(type(value))
        if schema is None:
            raise TypeError(f"cannot encode {type(value).__name__}: not in the codec table")
        encoder.encode(
            cbor2.CBORTag(schema.type_id + TAG_BASE, [getattr(value, n) for n in schema.names])
        )

    def encode(self, record: Any) -> bytes:
        """Encode one record (raises ``TypeError`` if it is not in the table)."""
        if type(record) not in self._by_cls:
            raise TypeError(f"cannot encode {type(record).__name__}: not in the codec table")
        return cbor2.dumps(record, default=self._default)

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
    def _tag_hook(self, first: Any, second: Any) -> Any:
        # cbor2 >= 6 calls tag_hook(tag, immutable); cbor2 5 called tag_hook(decoder, tag).
        tag = first if isinstance(first, cbor2.CBORTag) else second
        schema = self._by_id.get(tag.tag)
        if schema is None:
            raise DecodeError(f"unknown tag {tag.tag}")
        fields = tag.value
        if type(fields) not in _ARRAY or len(fields) != len(schema.converters):
            raise DecodeError(f"{schema.cls.__name__}: expected {len(schema.names)} fields")
        values = []
        for name, conv, value in zip(schema.names, schema.converters, fields, strict=True):
            try:
                values.append(conv(value))
            except DecodeError as exc:
                raise DecodeError(f"{schema.cls.__name__}.{name}: {exc}") from None
        try:
            return schema.cls(*values)
        except ValueError as exc:  # a record's own validation (e.g. Entry.index >= 1)
            raise DecodeError(str(exc)) from None

    def decode(self, data: bytes) -> Any:
        """Decode exactly one record; raises :class:`DecodeError` for anything else."""
        try:
            value = cbor2.loads(data, tag_hook=self._tag_hook)
        except DecodeError:
            raise
        except Exception as exc:  # cbor2 and constructors raise many types; fold them
            cause: BaseException | None = exc
            while cause is not None:  # cbor2 wraps what the tag hook raised
                if isinstance(cause, DecodeError):
                    raise DecodeError(str(cause)) from None
                cause = cause.__cause__ or cause.__context__
            raise DecodeError(f"invalid CBOR record: {type(exc).__name__}: {exc}") from None
        if type(value) not in self._by_cls:
            raise _bad("a record", value)
        return value


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
