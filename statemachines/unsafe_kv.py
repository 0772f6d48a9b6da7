"""The key-value store over the UNSAFE test targets (:mod:`consensus.unsafe`). They LOSE DATA.

Both stores speak the whole vocabulary of :mod:`statemachines.kv_commands` to the
client (``KvSession`` works unchanged), over the log formats of
:mod:`consensus.unsafe.envelope`:

- :class:`PrimaryBackupKv` (``unsafe-primary-backup``): the real :class:`KvStateMachine`
  applied in the primary's history order, each command at its history position (so
  session ids and revisions agree between replicas of one history). A resync entry
  replaces the whole store with the primary's history (that is where acknowledged
  writes are thrown away). Everything the real store supports works here.
- :class:`LwwKv` (``unsafe-lww``): per key, the write with the highest ``(timestamp,
  origin, incarnation, seq)`` wins, whatever order writes arrive in (deletes are
  tombstones that win the same way). Plain ``put`` / ``delete`` only: conditional
  writes (cas, put-if-absent, delete-if), transactions and leases are **refused** (an
  ``ErrorResult``, nothing applied: a client sees ``KvError``), since last-write-wins
  has nothing to make a read-modify-write atomic with (Cassandra needs its Paxos LWT
  for that). Sessions are accepted but give no exactly-once: a retried write is a new
  write with a new timestamp. Revisions are this replica's own count of applied writes
  (they differ between replicas); a snapshot holds only the winning writes, so
  replicas that hold the same writes have identical snapshots.
"""

from __future__ import annotations

import bisect
from typing import Any

import attrs
import cbor2

from consensus.codec import DecodeError
from consensus.types import Entry
from consensus.unsafe.envelope import (
    EnvelopeError,
    decode_lww,
    decode_pb,
    decode_pb_image,
    pb_image,
)

from .kv import KvStateMachine
from .kv_commands import (
    DEFAULT_CONFIG,
    KV_CODEC,
    ClockTick,
    CloseSession,
    Command,
    Delete,
    DeleteResult,
    ErrorResult,
    Get,
    GetResult,
    KeyValue,
    KvConfig,
    LeaseCommand,
    Put,
    PutResult,
    Range,
    RangeResult,
    RegisterSession,
    SessionResult,
)

LWW_SNAPSHOT_VERSION = 1


def _error(kind: str, message: str) -> bytes:
    return KV_CODEC.encode(ErrorResult(kind, message))


class PrimaryBackupKv:
    """``unsafe-primary-backup``'s store (module doc); implements ``StateMachine``."""

    def __init__(self, config: KvConfig = DEFAULT_CONFIG) -> None:
        self.config = config
        self.inner = KvStateMachine(config)
        self.pos = 0
        self.term = 0

    def clock_command(self, elapsed_ms: int) -> bytes | None:
        """As :meth:`KvStateMachine.clock_command` (the primary proposes the ticks)."""
        return self.inner.clock_command(elapsed_ms)

    def apply(self, entry: Entry) -> bytes:
        try:
            decoded = decode_pb(entry.data)
        except EnvelopeError as exc:
            return _error("bad-command", f"entry {entry.index}: {exc}")
        if len(decoded) == 2:
            pos, command = decoded
            self.pos, self.term = pos, entry.term
            return self.inner.apply(Entry(pos, entry.term, command, entry.kind))
        base_pos, base_term, image, items = decoded
        self.inner = KvStateMachine(self.config)
        self.pos, self.term = 0, 0
        if image is not None:
            self.restore(image)
        self.pos, self.term = base_pos, base_term
        for item in items:
            self.pos += 1
            self.term = item.term
            self.inner.apply(Entry(self.pos, item.term, item.data))
        return b""

    def query(self, request: bytes) -> bytes:
        return self.inner.query(request)

    def snapshot(self) -> bytes:
        return pb_image(self.pos, self.term, self.inner.snapshot())

    def restore(self, data: bytes) -> None:
        try:
            pos, term, inner = decode_pb_image(data)
        except EnvelopeError as exc:
            raise ValueError(str(exc)) from None
        self.inner.restore(inner)
        self.pos, self.term = pos, term


@attrs.frozen(slots=True)
class _Cell:
    """A key's winning write: its order ``(stamp, origin, incarnation, seq)`` and value
    (None: a tombstone), and this replica's revision when it was applied."""

    order: tuple[int, int, int, int]
    value: bytes | None
    mod_revision: int


class LwwKv:
    """``unsafe-lww``'s store (module doc); implements ``StateMachine``."""

    def __init__(self, config: KvConfig = DEFAULT_CONFIG) -> None:
        self.config = config
        self.cells: dict[str, _Cell] = {}
        self._keys: list[str] = []  # sorted, live and tombstoned
        self.revision = 0

    def apply(self, entry: Entry) -> bytes:
        try:
            item = decode_lww(entry.data)
            command = KV_CODEC.decode(item.data)
        except (EnvelopeError, DecodeError) as exc:
            return _error("bad-command", f"entry {entry.index}: {exc}")
        if isinstance(command, RegisterSession):
            # a name for the client's commands only: no exactly-once here
            sid = (item.origin << 48) | (item.incarnation << 32) | (item.seq & 0xFFFFFFFF)
            return KV_CODEC.encode(SessionResult(sid))
        if isinstance(command, CloseSession):
            return KV_CODEC.encode(SessionResult(command.session_id))
        if isinstance(command, ClockTick):
            return b""
        if isinstance(command, LeaseCommand):
            return _error("lease", "unsafe-lww has no leases")
        if not isinstance(command, Command):
            return _error("bad-command", f"{type(command).__name__} is not a command")
        op = command.write.op
        order = (item.stamp_ms, item.origin, item.incarnation, item.seq)
        if isinstance(op, Put):
            prev = self._merge(op.key, order, op.value)
            return KV_CODEC.encode(PutResult(self.revision, prev))
        if isinstance(op, Delete):
            prev = self._merge(op.key, order, None)
            return KV_CODEC.encode(DeleteResult(self.revision, prev))
        return _error(
            "bad-command",
            f"unsafe-lww refuses {type(op).__name__}: last-write-wins has no atomic "
            "read-modify-write (no lightweight transactions)",
        )

    def _kv(self, key: str) -> KeyValue | None:
        cell = self.cells.get(key)
        if cell is None or cell.value is None:
            return None
        return KeyValue(key, cell.value, cell.mod_revision, cell.mod_revision, 1)

    def _merge(
        self, key: str, order: tuple[int, int, int, int], value: bytes | None
    ) -> KeyValue | None:
        """Keep the write if it is later than the key's; the previous pair either way."""
        prev = self._kv(key)
        cell = self.cells.get(key)
        if cell is not None and cell.order >= order:
            return prev  # an older write (by its coordinator's clock) loses, silently
        self.revision += 1
        if cell is None:
            bisect.insort(self._keys, key)
        self.cells[key] = _Cell(order, value, self.revision)
        return prev

    def query(self, request: bytes) -> bytes:
        try:
            query = KV_CODEC.decode(request)
        except DecodeError as exc:
            return _error("bad-command", f"bad query: {exc}")
        if isinstance(query, Get):
            return KV_CODEC.encode(GetResult(self.revision, self._kv(query.key)))
        if isinstance(query, Range):
            limit = query.limit or self.config.range_limit_max
            out: list[KeyValue] = []
            more = False
            for key in self._keys[bisect.bisect_left(self._keys, query.start) :]:
                if not query.contains(key):
                    break
                kv = self._kv(key)
                if kv is None:
                    continue
                if len(out) == limit:
                    more = True
                    break
                out.append(kv)
            return KV_CODEC.encode(RangeResult(self.revision, tuple(out), more))
        return _error("bad-command", f"unsafe-lww does not serve {type(query).__name__}")

    def snapshot(self) -> bytes:
        """Canonical CBOR ``{version, cells: [[key, stamp, origin, incarnation, seq,
        value or null], ...] by key}``: the winning writes only (no revisions)."""
        rows: list[list[Any]] = [[k, *self.cells[k].order, self.cells[k].value] for k in self._keys]
        return bytes(cbor2.dumps({"version": LWW_SNAPSHOT_VERSION, "cells": rows}, canonical=True))

    def restore(self, data: bytes) -> None:
        try:
            image = cbor2.loads(data)
            if image["version"] != LWW_SNAPSHOT_VERSION:
                raise ValueError("unknown version")
            cells: dict[str, _Cell] = {}
            for key, stamp, origin, inc, seq, value in image["cells"]:
                if type(key) is not str or not (value is None or type(value) is bytes):
                    raise ValueError(f"malformed cell {key!r:.40}")
                cells[key] = _Cell((stamp, origin, inc, seq), value, 0)
        except (ValueError, TypeError, KeyError, cbor2.CBORDecodeError) as exc:
            raise ValueError(f"unsafe-lww snapshot is malformed: {exc}") from None
        self.cells = cells
        self._keys = sorted(cells)
        self.revision = 0


def unsafe_state_machine(
    protocol: str, config: KvConfig = DEFAULT_CONFIG
) -> PrimaryBackupKv | LwwKv:
    """The store for an unsafe protocol; ``ValueError`` for any other name."""
    if protocol == "unsafe-primary-backup":
        return PrimaryBackupKv(config)
    if protocol == "unsafe-lww":
        return LwwKv(config)
    raise ValueError(f"{protocol!r} is not an unsafe protocol")
