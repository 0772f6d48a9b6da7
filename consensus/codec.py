"""CBOR encoding of messages and records, and length-prefixed frames.

Wire format
-----------
A record (any attrs class listed in a :class:`Codec`'s table) is a CBOR tag
``TAG_BASE + type_id`` (always written as a 4-byte tag number) around an array of its
field values in declaration order. Records nested in fields are plain arrays of their
fields (the field's annotation says which class); enums are their integer values;
tuples are arrays. A tuple of *fixed-width* records (records whose fields are all
scalars or fixed-width records, such as :class:`~consensus.types.Entry`) is one flat
array of their scalars, record after record: ``entries`` of an ``AppendEntries`` is
``[index, term, data, kind, index, term, data, kind, ...]``. (CBOR encoders and decoders
pay per array, so this halves the cost of a batch of entries.)

A frame is a 4-byte big-endian payload length followed by that many bytes of CBOR.

Decoding contract
-----------------
:meth:`Codec.decode` and :class:`FrameDecoder` raise :class:`DecodeError` for any input
that is not exactly one valid, well-typed record, and never any other exception. Field
values are checked against the field annotations (``int`` fields take integers in
``[0, 2**63)`` only, never booleans), so a core never sees a malformed message. A frame
longer than ``frame_bytes_max`` is refused from its header, before its body is read.

Speed. Each record class gets an encoder and a checking decoder generated as Python
source from its annotations (:mod:`consensus.codec_layout`), so there is no generic
per-field dispatch at run time.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
import cbor2

from .codec_layout import INT_MAX, DecodeError, RecordLayout, bad_value
from .messages import PAXOS_RECORDS, RAFT_MESSAGES
from .messages.lwt import LWT_RECORDS
from .types import Entry, EntryKind, HardState, ProposalTicket, ReadState, Snapshot, SnapshotMeta
from .unsafe.messages import UNSAFE_RECORDS

TAG_BASE = 0x6373_0000
"""First CBOR tag number used for this project's records (tags are TAG_BASE + type id)."""

FRAME_HEADER = struct.Struct(">I")
FRAME_BYTES_MAX_DEFAULT = 16 * 1024 * 1024
_TAG_HEAD = 0xDA  # CBOR major type 6 (tag) with a 4-byte tag number
_TAG_NUMBER = struct.Struct(">I")


class FrameTooLarge(DecodeError):
    """A frame header announced more than the decoder's ``frame_bytes_max`` bytes."""


class Codec:
    """Encodes and decodes the records of one table ``{type_id: attrs class}``.

    Only top-level records carry a tag; records nested in fields are plain arrays, since
    the field's annotation already says what they are. Type ids are part of the wire and
    storage format: never reuse or renumber one.
    """

    def __init__(self, table: Mapping[int, type], frame_bytes_max: int = FRAME_BYTES_MAX_DEFAULT):
        self.frame_bytes_max = frame_bytes_max
        layouts: dict[type, RecordLayout] = {}
        self._encoders: dict[type, tuple[bytes, Callable[[Any], Any]]] = {}
        self._decoders: dict[int, Callable[[Any], Any]] = {}
        for type_id, cls in table.items():
            if not attrs.has(cls):
                raise TypeError(f"{cls!r} is not an attrs class")
            if cls in self._encoders:
                raise ValueError(f"{cls.__name__} listed twice")
            tag = TAG_BASE + type_id
            if not 0 <= tag < 2**32:
                raise ValueError(f"type id {type_id} gives a tag outside 32 bits")
            layout = RecordLayout.of(cls, layouts)
            prefix = bytes([_TAG_HEAD]) + _TAG_NUMBER.pack(tag)
            self._encoders[cls] = (prefix, layout.to_wire)
            self._decoders[tag] = layout.from_wire

    # -- encoding ---------------------------------------------------------------------
    def encode(self, record: Any) -> bytes:
        """Encode one record (raises ``TypeError`` if it is not in the table)."""
        encoder = self._encoders.get(type(record))
        if encoder is None:
            raise TypeError(f"cannot encode {type(record).__name__}: not in the codec table")
        prefix, to_wire = encoder
        return prefix + cbor2.dumps(to_wire(record))

    def encode_frame(self, record: Any) -> bytes:
        """Encode one record as a frame: 4-byte big-endian length, then the CBOR."""
        encoder = self._encoders.get(type(record))
        if encoder is None:
            raise TypeError(f"cannot encode {type(record).__name__}: not in the codec table")
        prefix, to_wire = encoder
        body = cbor2.dumps(to_wire(record))
        size = len(prefix) + len(body)
        if size > self.frame_bytes_max:
            raise ValueError(
                f"{type(record).__name__} needs {size} bytes, over the frame limit "
                f"of {self.frame_bytes_max}"
            )
        return b"".join((FRAME_HEADER.pack(size), prefix, body))

    # -- decoding ---------------------------------------------------------------------
    def decode(self, data: bytes) -> Any:
        """Decode exactly one record; raises :class:`DecodeError` for anything else."""
        if len(data) > 5 and data[0] == _TAG_HEAD:
            # The usual shape: read the 4-byte tag here, let cbor2 read only the array.
            return self._decode_tagged(_TAG_NUMBER.unpack_from(data, 1)[0], data[5:])
        try:
            value = cbor2.loads(data)
        except Exception as exc:  # cbor2 raises many types for bad input; fold them
            raise DecodeError(f"invalid CBOR record: {type(exc).__name__}: {exc}") from None
        if type(value) is not cbor2.CBORTag:
            raise bad_value("a record", value)
        from_wire = self._decoders.get(value.tag)
        if from_wire is None:
            raise DecodeError(f"unknown tag {value.tag}")
        return from_wire(value.value)

    def _decode_tagged(self, tag: int, body: bytes) -> Any:
        """Decode the array ``body`` of a record whose tag was read already."""
        from_wire = self._decoders.get(tag)
        if from_wire is None:
            raise DecodeError(f"unknown tag {tag}")
        try:
            fields = cbor2.loads(body)
        except Exception as exc:  # cbor2 raises many types for bad input; fold them
            raise DecodeError(f"invalid CBOR record: {type(exc).__name__}: {exc}") from None
        return from_wire(fields)


class FrameDecoder:
    """Incremental frame splitter: ``feed(bytes)``, then iterate ``records()``.

    A header announcing more than ``codec.frame_bytes_max`` raises :class:`FrameTooLarge`
    at once, before any of the body is buffered. After any :class:`DecodeError` the stream
    is out of sync: the caller must close the connection.
    """

    def __init__(self, codec: Codec) -> None:
        self._codec = codec
        self._buf = bytearray()
        self._pos = 0  # start of the first frame not yet decoded

    def feed(self, data: bytes | bytearray) -> None:
        self._buf += data
        self._check_header()

    def _check_header(self) -> None:
        if len(self._buf) - self._pos >= FRAME_HEADER.size:
            (length,) = FRAME_HEADER.unpack_from(self._buf, self._pos)
            if length > self._codec.frame_bytes_max:
                raise FrameTooLarge(
                    f"frame of {length} bytes is over the limit of {self._codec.frame_bytes_max}"
                )

    def records(self) -> Iterator[Any]:
        """Yield every complete record buffered so far."""
        buf = self._buf
        codec = self._codec
        limit = codec.frame_bytes_max
        decode_tagged = codec._decode_tagged
        header = FRAME_HEADER.size
        unpack_length = FRAME_HEADER.unpack_from
        unpack_tag = _TAG_NUMBER.unpack_from
        while True:
            pos = self._pos
            if len(buf) - pos < header:
                break
            (length,) = unpack_length(buf, pos)
            if length > limit:
                raise FrameTooLarge(f"frame of {length} bytes is over the limit of {limit}")
            start = pos + header
            end = start + length
            if len(buf) < end:
                break
            self._pos = end
            if length > 5 and buf[start] == _TAG_HEAD:
                yield decode_tagged(unpack_tag(buf, start + 1)[0], bytes(buf[start + 5 : end]))
            else:
                yield codec.decode(bytes(buf[start:end]))
        # Every complete frame is decoded: drop them (once per call, not once per frame).
        del buf[: self._pos]
        self._pos = 0

    @property
    def buffered_bytes(self) -> int:
        return len(self._buf) - self._pos


RECORDS: dict[int, type] = {
    1: Entry,
    2: HardState,
    3: SnapshotMeta,
    4: Snapshot,
    5: ReadState,
    6: ProposalTicket,
}
"""Type ids 1-31: shared records. 32-63: Raft messages. 64-95: Paxos. 96-127: storage.
128-135 transport handshake, 160-191 client protocol, 192-223 key-value commands (their
own codecs). 224-239: leaderless per-key Paxos (``paxos-lwt``) on this wire; 240-247 its
operations and outcomes (:data:`consensus.lwt.ops.LWT_OP_CODEC`). 248-263: the unsafe
test targets' messages (:mod:`consensus.unsafe.messages`)."""

WIRE_TABLE: dict[int, type] = dict(RECORDS)
WIRE_TABLE.update({32 + i: cls for i, cls in enumerate(RAFT_MESSAGES)})
WIRE_TABLE.update({64 + i: cls for i, cls in enumerate(PAXOS_RECORDS)})
WIRE_TABLE.update({224 + i: cls for i, cls in enumerate(LWT_RECORDS)})
WIRE_TABLE.update({248 + i: cls for i, cls in enumerate(UNSAFE_RECORDS)})  # test targets

WIRE = Codec(WIRE_TABLE)
"""The codec for everything nodes send each other and write to disk."""

__all__ = [
    "FRAME_BYTES_MAX_DEFAULT",
    "INT_MAX",
    "TAG_BASE",
    "WIRE",
    "Codec",
    "DecodeError",
    "EntryKind",
    "FrameDecoder",
    "FrameTooLarge",
]
