"""The records a ``paxos-lwt`` store writes into its WAL, and its key-table image.

Fixed little-endian layouts, like :mod:`.paxos_records`; the first byte is the tag:

- ``RECORD``: one key's acceptor record (promised, accepted, writer, base ballots, a
  presence flag, the key, the value); it replaces the stored record of its key.
- ``PURGE``: the key is forgotten (its record removed).
- ``FLOOR``: the node-wide floor ballot; the highest one counts.
- ``RESERVED``: the coordinator's reserved ballot round; the highest one counts.
- ``MARK``: generation ``g``: the key-table image of generation ``g`` (a snapshot file)
  holds the whole state at this point of the log; replay restarts from it here.

The key-table image (:func:`encode_table`) is the floor, the reservation and every
record (each as a ``RECORD`` payload, length-prefixed), in key order.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

import attrs

from ...messages.lwt import LwtRecord
from ...messages.paxos import Ballot

RECORD = 1
PURGE = 2
FLOOR = 3
RESERVED = 4
MARK = 5

_RECORD = struct.Struct("<BQQQQQQQQBI")  # tag, 4 ballots, has value, key length
_PURGE = struct.Struct("<B")
_BALLOT = struct.Struct("<BQQ")
_COUNT = struct.Struct("<BQ")
_TABLE = struct.Struct("<8sQQQQ")  # magic, floor round, floor node, reserved, count
_LENGTH = struct.Struct("<I")
_TABLE_MAGIC = b"LWTTAB01"


@attrs.frozen(slots=True)
class Purge:
    key: bytes


@attrs.frozen(slots=True)
class Floor:
    ballot: Ballot


@attrs.frozen(slots=True)
class Reserved:
    round: int


@attrs.frozen(slots=True)
class Mark:
    generation: int


LwtWalRecord = LwtRecord | Purge | Floor | Reserved | Mark


def encode_record(r: LwtRecord) -> bytes:
    head = _RECORD.pack(
        RECORD,
        r.promised.round,
        r.promised.node,
        r.accepted.round,
        r.accepted.node,
        r.writer.round,
        r.writer.node,
        r.base.round,
        r.base.node,
        r.value is not None,
        len(r.key),
    )
    return b"".join((head, r.key, r.value or b""))


def encode_purge(key: bytes) -> bytes:
    return _PURGE.pack(PURGE) + key


def encode_floor(ballot: Ballot) -> bytes:
    return _BALLOT.pack(FLOOR, ballot.round, ballot.node)


def encode_reserved(round_: int) -> bytes:
    return _COUNT.pack(RESERVED, round_)


def encode_mark(generation: int) -> bytes:
    return _COUNT.pack(MARK, generation)


def _decode_lwt_record(payload: memoryview) -> LwtRecord:
    if len(payload) < _RECORD.size:
        raise ValueError(f"key record of {len(payload)} bytes is too short")
    _, pr, pn, ar, an, wr, wn, br, bn, has, key_len = _RECORD.unpack_from(payload)
    if has not in (0, 1):
        raise ValueError(f"key record with presence flag {has}")
    end = _RECORD.size + key_len
    if end > len(payload):
        raise ValueError(f"key record names a key of {key_len} bytes past its end")
    value = bytes(payload[end:]) if has else None
    if not has and end != len(payload):
        raise ValueError("key record of an absent value carries value bytes")
    return LwtRecord(
        bytes(payload[_RECORD.size : end]),
        Ballot(pr, pn),
        Ballot(ar, an),
        value,
        Ballot(wr, wn),
        Ballot(br, bn),
    )


def _fixed(payload: memoryview, layout: struct.Struct, what: str) -> tuple[int, ...]:
    if len(payload) != layout.size:
        raise ValueError(f"{what} record of {len(payload)} bytes, not {layout.size}")
    return layout.unpack_from(payload)


def decode_record(payload: memoryview) -> LwtWalRecord:
    """``ValueError`` for a payload no writer of this format produces."""
    tag = payload[0]
    if tag == RECORD:
        return _decode_lwt_record(payload)
    if tag == PURGE:
        return Purge(bytes(payload[1:]))
    if tag == FLOOR:
        _, rnd, node = _fixed(payload, _BALLOT, "floor")
        return Floor(Ballot(rnd, node))
    if tag == RESERVED:
        return Reserved(_fixed(payload, _COUNT, "reserved")[1])
    if tag == MARK:
        return Mark(_fixed(payload, _COUNT, "mark")[1])
    raise ValueError(f"unknown record tag {tag}")


def encode_table(floor: Ballot, reserved: int, records: Iterable[LwtRecord]) -> bytes:
    """The key-table image: floor, reservation, then each record (length-prefixed)."""
    body = []
    count = 0
    for record in records:
        data = encode_record(record)
        body.append(_LENGTH.pack(len(data)))
        body.append(data)
        count += 1
    head = _TABLE.pack(_TABLE_MAGIC, floor.round, floor.node, reserved, count)
    return b"".join((head, *body))


def decode_table(data: bytes) -> tuple[Ballot, int, dict[bytes, LwtRecord]]:
    """``(floor, reserved, records by key)``; ``ValueError`` for anything else."""
    if len(data) < _TABLE.size or data[:8] != _TABLE_MAGIC:
        raise ValueError("not a paxos-lwt key table")
    _, fr, fn, reserved, count = _TABLE.unpack_from(data)
    view = memoryview(data)
    at = _TABLE.size
    records: dict[bytes, LwtRecord] = {}
    for _ in range(count):
        if at + _LENGTH.size > len(data):
            raise ValueError("key table ends inside a record length")
        (size,) = _LENGTH.unpack_from(data, at)
        at += _LENGTH.size
        if size == 0 or at + size > len(data):
            raise ValueError("key table ends inside a record")
        record = decode_record(view[at : at + size])
        if not isinstance(record, LwtRecord):
            raise ValueError("key table holds a record that is not a key record")
        records[record.key] = record
        at += size
    if at != len(data):
        raise ValueError(f"key table has {len(data) - at} bytes past its last record")
    return Ballot(fr, fn), reserved, records
