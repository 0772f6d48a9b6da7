"""How the unsafe cores' log entries and snapshots carry their extra fields.

The cores write these; the store over them (:mod:`statemachines.unsafe_kv`) reads them.

Primary-backup log entries (``Entry.data``):

- ``b"C" + pos (8 bytes, big-endian) + command``: the command at history position
  ``pos`` (the primary's numbering, the same on every replica of that history);
- ``b"R" + CBOR [base_pos, base_term, image or null, [[term, command], ...]]``: a full
  resync: drop the state, take ``image`` (a primary-backup snapshot, see below) and
  apply the commands after it.

A primary-backup snapshot is ``pos (8) + term (8) + the inner store's snapshot``.

LWW log entries: ``b"W" + origin (4) + incarnation (4) + seq (8) + stamp_ms (8) +
command``.
"""

from __future__ import annotations

import struct

import cbor2

from .messages import LwwItem, PbItem

_POS = struct.Struct(">Q")
_IMAGE = struct.Struct(">QQ")
_LWW = struct.Struct(">IIQQ")


class EnvelopeError(ValueError):
    """Bytes that are not one of this module's envelopes."""


def pb_command(pos: int, command: bytes) -> bytes:
    return b"C" + _POS.pack(pos) + command


def pb_reset(
    base_pos: int, base_term: int, image: bytes | None, items: tuple[PbItem, ...]
) -> bytes:
    return b"R" + cbor2.dumps([base_pos, base_term, image, [[i.term, i.data] for i in items]])


def decode_pb(data: bytes) -> tuple[int, bytes] | tuple[int, int, bytes | None, tuple[PbItem, ...]]:
    """``(pos, command)`` for a command entry, ``(base_pos, base_term, image, items)``
    for a resync; ``EnvelopeError`` otherwise."""
    if data[:1] == b"C" and len(data) >= 1 + _POS.size:
        return _POS.unpack_from(data, 1)[0], data[1 + _POS.size :]
    if data[:1] == b"R":
        try:
            base_pos, base_term, image, items = cbor2.loads(data[1:])
            return base_pos, base_term, image, tuple(PbItem(t, d) for t, d in items)
        except (ValueError, TypeError, cbor2.CBORDecodeError) as exc:
            raise EnvelopeError(f"bad primary-backup resync entry: {exc}") from None
    raise EnvelopeError("not a primary-backup log entry")


def pb_image(pos: int, term: int, inner: bytes) -> bytes:
    return _IMAGE.pack(pos, term) + inner


def decode_pb_image(data: bytes) -> tuple[int, int, bytes]:
    """``(pos, term, inner snapshot)``; ``EnvelopeError`` if too short."""
    if len(data) < _IMAGE.size:
        raise EnvelopeError("primary-backup snapshot too short")
    pos, term = _IMAGE.unpack_from(data)
    return pos, term, data[_IMAGE.size :]


def lww_entry(item: LwwItem) -> bytes:
    return b"W" + _LWW.pack(item.origin, item.incarnation, item.seq, item.stamp_ms) + item.data


def decode_lww(data: bytes) -> LwwItem:
    """The write an LWW log entry carries; ``EnvelopeError`` otherwise."""
    if data[:1] != b"W" or len(data) < 1 + _LWW.size:
        raise EnvelopeError("not an LWW log entry")
    origin, incarnation, seq, stamp = _LWW.unpack_from(data, 1)
    return LwwItem(origin, incarnation, seq, stamp, data[1 + _LWW.size :])
