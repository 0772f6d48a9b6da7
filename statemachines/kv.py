"""The replicated key-value store: apply, queries and snapshots.

The vocabulary (operations, results, limits, codec) is :mod:`statemachines.kv_commands`;
sessions are :mod:`statemachines.sessions`. Log entries hold a :class:`Command` (a write
in a session), :class:`LeaseCommand` (a lease operation in a session),
:class:`RegisterSession`, :class:`CloseSession` or :class:`ClockTick` (the leader's
clock; see ``KvConfig.clock``); queries are :class:`Get`, :class:`Range` or
:class:`Watch`. Every answer is a result record of ``KV_CODEC``.

Contracts. ``apply`` is deterministic (no clock, no randomness, no dependence on set or
dict iteration order: keys are kept sorted, sessions in apply order) and never raises
for a bad command: it returns an :class:`ErrorResult` and applies nothing. One store
revision counts writes: every applied write, or transaction branch that writes, raises
it by one. ``snapshot`` is canonical CBOR, so replicas that applied the same log give
byte-identical snapshots; ``restore`` checks the image and raises ``ValueError`` for a
malformed one, leaving the store unchanged.

Watch history: the events of the last ``KvConfig.watch_history_revisions`` revisions, in
memory, filled by apply (so identical on replicas that applied the same entries). It is
not part of a snapshot: after ``restore`` the oldest revision a watch is served from is
the snapshot's revision + 1 (older ones answer :class:`Compacted`).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections import deque
from typing import Any

import cbor2

from consensus.codec import DecodeError
from consensus.types import Entry

from .kv_commands import (
    DEFAULT_CONFIG,
    KV_CODEC,
    Cas,
    ClockTick,
    CloseSession,
    Command,
    Compacted,
    Compare,
    CompareOp,
    CondResult,
    Delete,
    DeleteIf,
    DeleteResult,
    ErrorResult,
    Get,
    GetResult,
    KeyValue,
    KvConfig,
    LeaseCommand,
    LeasedPut,
    LeaseGrant,
    LeaseKeepAlive,
    LeaseOp,
    LeaseResult,
    LeaseRevoke,
    Put,
    PutIfAbsent,
    PutResult,
    Range,
    RangeResult,
    RegisterSession,
    SessionResult,
    Target,
    Txn,
    TxnOp,
    TxnResponse,
    TxnResult,
    Watch,
    WatchEvent,
    WatchResult,
    decode_result,
)
from .sessions import SessionError, SessionTable

SNAPSHOT_VERSION = 3
"""The image ``snapshot`` writes; ``restore`` also reads version 2 (no leases)."""

__all__ = ["KV_CODEC", "SNAPSHOT_VERSION", "KvStateMachine", "decode_result"]


class _Refused(Exception):
    """A command breaks a limit or rule; becomes an ``ErrorResult``."""

    def __init__(self, kind: str, message: str, limit: str = "") -> None:
        super().__init__(message)
        self.result = ErrorResult(kind, message, limit)


def _encode_error(kind: str, message: str, limit: str = "") -> bytes:
    return KV_CODEC.encode(ErrorResult(kind, message, limit))


class _Lease:
    __slots__ = ("expires_ms", "keys", "ttl_ms")

    def __init__(self, ttl_ms: int, expires_ms: int, keys: set[str] | None = None) -> None:
        self.ttl_ms = ttl_ms
        self.expires_ms = expires_ms
        self.keys: set[str] = keys or set()


class KvStateMachine:
    """The key-value state machine (implements ``consensus.runtime.StateMachine``).

    ``config`` (limits, session settings) must be the same on every replica."""

    def __init__(self, config: KvConfig = DEFAULT_CONFIG) -> None:
        self.config = config
        self._leader_clock = config.clock == "leader"
        self.data: dict[str, KeyValue] = {}
        self._keys: list[str] = []  # sorted
        self.revision = 0
        self.applied_index = 0
        self.sessions = SessionTable(
            config.session_timeout_ms, config.sessions_max, config.session_results_max
        )
        self.history: deque[tuple[WatchEvent, ...]] = deque()
        """The events of the newest revisions, one tuple per revision, oldest first:
        revisions ``revision - len(history) + 1`` to ``revision``, every one (each
        revision has at least one event). Not part of a snapshot."""
        self._changes: list[WatchEvent] = []  # the events of the write being applied
        self.leases: dict[int, _Lease] = {}
        self._key_lease: dict[str, int] = {}  # key -> the lease it is attached to
        self._expiries: list[tuple[int, int]] = []  # heap of (expires_ms, lease id); lazy

    # -- apply --------------------------------------------------------------------------
    def apply(self, entry: Entry) -> bytes:
        self.applied_index = entry.index
        try:
            command = KV_CODEC.decode(entry.data)
        except DecodeError as exc:
            return _encode_error("bad-command", f"bad command at index {entry.index}: {exc}")
        if command.__class__ is Command:  # the usual entry, first: the same steps as below
            if self._expiries:  # else ``_apply_command`` ticks first: the same clock
                self.sessions.tick(self._now(command.now_ms))
                self._expire_leases()
            return self._apply_command(command)
        if isinstance(command, ClockTick):
            if self._leader_clock:
                step = min(max(command.elapsed_ms, 0), self.config.clock_step_max_ms)
                self.sessions.tick(self.sessions.clock_ms + step)
                self._expire_leases()
            return b""
        if isinstance(command, Command | LeaseCommand | RegisterSession | CloseSession):
            self.sessions.tick(self._now(command.now_ms))
            self._expire_leases()
        if isinstance(command, Command | LeaseCommand):
            return self._apply_command(command)
        if isinstance(command, RegisterSession):
            self.sessions.register(entry.index, self._now(command.now_ms))
            return KV_CODEC.encode(SessionResult(entry.index))
        if isinstance(command, CloseSession):
            if self.sessions.close(command.session_id, self._now(command.now_ms)):
                return KV_CODEC.encode(SessionResult(command.session_id))
            return _encode_error("session", f"session {command.session_id} is not open")
        return _encode_error("bad-command", f"{type(command).__name__} is not a command")

    def _now(self, proposer_ms: int) -> int:
        """The time a command is applied at: its proposer's clock in ``"proposer"`` mode;
        in ``"leader"`` mode the store's clock as the last :class:`ClockTick` set it."""
        return self.sessions.clock_ms if self._leader_clock else proposer_ms

    def clock_command(self, elapsed_ms: int) -> bytes | None:
        """The entry a leader proposes to advance the store's clock by ``elapsed_ms``
        (see :class:`ClockTick`); None when this store does not take leader time, so a
        ticking node proposes nothing."""
        return KV_CODEC.encode(ClockTick(elapsed_ms)) if self._leader_clock else None

    def _apply_command(self, command: Command | LeaseCommand) -> bytes:
        sid, seq = command.session_id, command.seq
        sessions = self.sessions
        now_ms = self._now(command.now_ms)
        if sid == 0:
            sessions.tick(now_ms)
        else:
            try:
                saved = sessions.begin(sid, seq, command.ack_seq, now_ms)
            except SessionError as exc:
                return _encode_error("limit" if exc.limit else "session", str(exc), exc.limit)
            if saved is not None:
                return saved
        try:
            result: Any = self._write(command.write.op)
        except _Refused as exc:
            result = exc.result
        self._record()
        encoded = KV_CODEC.encode(result)
        if sid != 0:
            sessions.finish(sid, seq, encoded)
        return encoded

    def _record(self) -> None:
        """Keep the events of the write just applied (one revision) in the history."""
        if self._changes:
            self.history.append(tuple(self._changes))
            self._changes = []
            while len(self.history) > self.config.watch_history_revisions:
                self.history.popleft()

    def _write(self, op: Any) -> Any:
        """Check then apply one write; ``_Refused`` (nothing applied) if it breaks a rule."""
        if op.__class__ is Put:
            key, value = op.key, op.value
            if len(key) * 4 > self.config.key_bytes_max:  # else at most 4 bytes a character
                self._check_key(key)
            self._check_value(value)
            self.revision += 1
            return PutResult(self.revision, self._put(key, value))
        if isinstance(op, Delete):
            self._check_key(op.key)
            if op.key not in self.data:
                return DeleteResult(self.revision, None)
            self.revision += 1
            return DeleteResult(self.revision, self._delete(op.key, self.revision))
        if isinstance(op, Cas | PutIfAbsent | DeleteIf):
            return self._conditional(op)
        if isinstance(op, LeaseGrant | LeaseKeepAlive | LeaseRevoke | LeasedPut):
            return self._lease(op)
        assert isinstance(op, Txn)
        return self._txn(op)

    # -- leases ---------------------------------------------------------------------------
    def _lease(self, op: LeaseOp) -> Any:
        clock = self.sessions.clock_ms
        if isinstance(op, LeaseGrant):
            most = self.config.lease_ttl_max_ms
            if not 1 <= op.ttl_ms <= most:
                raise _Refused(
                    "limit",
                    f"lease TTL of {op.ttl_ms} ms (1 to lease_ttl_max_ms={most})",
                    "lease_ttl_max_ms",
                )
            if len(self.leases) >= self.config.leases_max:
                raise _Refused(
                    "limit",
                    f"{len(self.leases)} leases (limit leases_max={self.config.leases_max})",
                    "leases_max",
                )
            ttl_ms = max(op.ttl_ms, self.config.lease_ttl_min_ms)
            lease_id = self.applied_index
            self.leases[lease_id] = lease = _Lease(ttl_ms, clock + ttl_ms)
            heapq.heappush(self._expiries, (lease.expires_ms, lease_id))
            return LeaseResult(lease_id, lease.ttl_ms, lease.expires_ms, self.revision)
        lease = self._live_lease(op.lease_id)
        if isinstance(op, LeaseKeepAlive):
            lease.expires_ms = clock + lease.ttl_ms
            heapq.heappush(self._expiries, (lease.expires_ms, op.lease_id))
            return LeaseResult(op.lease_id, lease.ttl_ms, lease.expires_ms, self.revision)
        if isinstance(op, LeaseRevoke):
            self._end_lease(op.lease_id)
            return LeaseResult(op.lease_id, lease.ttl_ms, clock, self.revision)
        self._check_key(op.key)
        self._check_value(op.value)
        current = self.data.get(op.key)
        if op.if_absent and current is not None:
            return CondResult(False, self.revision, current, None)
        self.revision += 1
        prev = self._put(op.key, op.value, lease=op.lease_id)
        if op.if_absent:
            return CondResult(True, self.revision, self.data[op.key], prev)
        return PutResult(self.revision, prev)

    def _live_lease(self, lease_id: int) -> _Lease:
        lease = self.leases.get(lease_id)
        if lease is None:
            raise _Refused("lease", f"lease {lease_id} is unknown, expired or revoked")
        return lease

    def _end_lease(self, lease_id: int) -> None:
        """Drop a lease and delete its keys, in key order, at one new revision."""
        lease = self.leases.pop(lease_id)
        if lease.keys:
            self.revision += 1
            for key in sorted(lease.keys):
                self._delete(key, self.revision)

    def _expire_leases(self) -> None:
        """End every lease whose expiry the store's clock has passed, earliest first
        (ties by id); each deletion of keys is a revision of its own."""
        clock = self.sessions.clock_ms
        heap = self._expiries
        while heap and heap[0][0] < clock:
            expires_ms, lease_id = heapq.heappop(heap)
            lease = self.leases.get(lease_id)
            if lease is not None and lease.expires_ms == expires_ms:
                self._end_lease(lease_id)
                self._record()

    def _conditional(self, op: Cas | PutIfAbsent | DeleteIf) -> CondResult:
        self._check_key(op.key)
        current = self.data.get(op.key)
        if isinstance(op, PutIfAbsent):
            self._check_value(op.value)
            holds = current is None
        else:
            if isinstance(op, Cas):
                self._check_value(op.new)
            if op.expected_value is not None:
                self._check_value(op.expected_value)
                holds = current is not None and current.value == op.expected_value
            elif op.expected_version is not None:
                holds = (current.version if current else 0) == op.expected_version
            else:
                holds = (current.mod_revision if current else 0) == op.expected_mod_revision
            if isinstance(op, DeleteIf):
                holds = holds and current is not None
        if not holds:
            return CondResult(False, self.revision, current, None)
        self.revision += 1
        if isinstance(op, DeleteIf):
            return CondResult(True, self.revision, None, self._delete(op.key, self.revision))
        new = op.new if isinstance(op, Cas) else op.value
        prev = self._put(op.key, new)
        return CondResult(True, self.revision, self.data[op.key], prev)

    def _txn(self, txn: Txn) -> TxnResult:
        limit = self.config.txn_ops_max
        for name, items in (
            ("compare", txn.compare),
            ("success", txn.success),
            ("failure", txn.failure),
        ):
            if len(items) > limit:
                raise _Refused(
                    "limit",
                    f"txn has {len(items)} {name} items (limit txn_ops_max={limit})",
                    "txn_ops_max",
                )
        for cmp in txn.compare:
            self._check_key(cmp.key)
            if cmp.value is not None:
                self._check_value(cmp.value)
        for branch in (txn.success, txn.failure):
            written: set[str] = set()
            for item in branch:
                self._check_op(item)
                key = (
                    item.put.key
                    if item.put is not None
                    else item.delete.key
                    if item.delete is not None
                    else None
                )
                if key is not None:
                    if key in written:
                        raise _Refused("txn", f"txn branch writes key {key!r} twice")
                    written.add(key)
        succeeded = all(self._holds(cmp) for cmp in txn.compare)
        branch = txn.success if succeeded else txn.failure
        revision = self.revision + 1
        wrote = False
        responses: list[TxnResponse] = []
        for item in branch:
            if item.put is not None:
                wrote = True
                prev = self._put(item.put.key, item.put.value, revision)
                responses.append(TxnResponse(put=PutResult(revision, prev)))
            elif item.delete is not None:
                key = item.delete.key
                prev = self._delete(key, revision) if key in self.data else None
                wrote = wrote or prev is not None
                responses.append(TxnResponse(delete=DeleteResult(revision, prev)))
            elif item.get is not None:
                responses.append(TxnResponse(get=GetResult(revision, self.data.get(item.get.key))))
            else:
                assert item.range is not None
                responses.append(TxnResponse(range=self._range(item.range, revision)))
        if wrote:
            self.revision = revision
        else:  # a read-only branch: answers carry the unchanged revision
            responses = [_at_revision(r, self.revision) for r in responses]
        return TxnResult(succeeded, self.revision, tuple(responses))

    def _holds(self, cmp: Compare) -> bool:
        kv = self.data.get(cmp.key)
        if cmp.target is Target.EXISTS:
            return (
                (kv is not None) == cmp.exists
                if cmp.op is CompareOp.EQUAL
                else ((kv is not None) != cmp.exists)
            )
        have: Any
        want: Any
        if cmp.target is Target.VALUE:
            if kv is None:
                return False
            have, want = kv.value, cmp.value
        else:
            want = cmp.number
            if kv is None:
                have = 0
            elif cmp.target is Target.VERSION:
                have = kv.version
            elif cmp.target is Target.CREATE_REVISION:
                have = kv.create_revision
            else:
                have = kv.mod_revision
        if cmp.op is CompareOp.EQUAL:
            return bool(have == want)
        if cmp.op is CompareOp.NOT_EQUAL:
            return bool(have != want)
        if cmp.op is CompareOp.LESS:
            return bool(have < want)
        return bool(have > want)

    # -- checks ---------------------------------------------------------------------------
    def _check_key(self, key: str) -> None:
        size = len(key.encode("utf-8", "surrogatepass"))
        if size > self.config.key_bytes_max:
            raise _Refused(
                "limit",
                f"key of {size} bytes (limit key_bytes_max={self.config.key_bytes_max})",
                "key_bytes_max",
            )

    def _check_value(self, value: bytes) -> None:
        if len(value) > self.config.value_bytes_max:
            raise _Refused(
                "limit",
                f"value of {len(value)} bytes (limit value_bytes_max="
                f"{self.config.value_bytes_max})",
                "value_bytes_max",
            )

    def _check_range(self, op: Range) -> None:
        self._check_key(op.start)
        if op.end is not None:
            self._check_key(op.end)
        if op.limit > self.config.range_limit_max:
            raise _Refused(
                "limit",
                f"range limit {op.limit} (limit range_limit_max={self.config.range_limit_max})",
                "range_limit_max",
            )

    def _check_op(self, item: TxnOp) -> None:
        op = item.op
        if isinstance(op, Range):
            self._check_range(op)
        else:
            self._check_key(op.key)
            if isinstance(op, Put):
                self._check_value(op.value)

    # -- the data -------------------------------------------------------------------------
    def _detach(self, key: str) -> None:
        lease_id = self._key_lease.pop(key, None)
        if lease_id is not None and lease_id in self.leases:
            self.leases[lease_id].keys.discard(key)

    def _put(
        self, key: str, value: bytes, revision: int | None = None, lease: int = 0
    ) -> KeyValue | None:
        """Write ``key``; attached to ``lease`` (0: to none; a plain put detaches it)."""
        rev = self.revision if revision is None else revision
        if self._key_lease:  # else no key has a lease to detach from
            self._detach(key)
        if lease:
            self._key_lease[key] = lease
            self.leases[lease].keys.add(key)
        prev = self.data.get(key)
        if prev is None:
            bisect.insort(self._keys, key)
            kv = KeyValue(key, value, rev, rev, 1)
        else:
            kv = KeyValue(key, value, prev.create_revision, rev, prev.version + 1)
        self.data[key] = kv
        self._changes.append(WatchEvent(rev, "put", kv))
        return prev

    def _delete(self, key: str, revision: int) -> KeyValue:
        keys = self._keys
        del keys[bisect.bisect_left(keys, key)]
        self._detach(key)
        prev = self.data.pop(key)
        self._changes.append(WatchEvent(revision, "delete", prev))
        return prev

    def _range(self, op: Range, revision: int) -> RangeResult:
        keys = self._keys
        limit = op.limit or self.config.range_limit_max
        lo = bisect.bisect_left(keys, op.start)
        out: list[KeyValue] = []
        more = False
        for i in range(lo, len(keys)):
            key = keys[i]
            if not op.contains(key):
                break
            if len(out) == limit:
                more = True
                break
            out.append(self.data[key])
        return RangeResult(revision, tuple(out), more)

    # -- queries --------------------------------------------------------------------------
    def query(self, request: bytes) -> bytes:
        try:
            query = KV_CODEC.decode(request)
        except DecodeError as exc:
            return _encode_error("bad-command", f"bad query: {exc}")
        try:
            if isinstance(query, Get):
                self._check_key(query.key)
                return KV_CODEC.encode(GetResult(self.revision, self.data.get(query.key)))
            if isinstance(query, Range):
                self._check_range(query)
                return KV_CODEC.encode(self._range(query, self.revision))
            if isinstance(query, Watch):
                return KV_CODEC.encode(self._watch(query))
        except _Refused as exc:
            return KV_CODEC.encode(exc.result)
        return _encode_error("bad-command", f"{type(query).__name__} is not a query")

    @property
    def oldest_watch_revision(self) -> int:
        """The oldest ``from_revision`` a :class:`Watch` is served from."""
        return self.revision - len(self.history) + 1

    def _watch(self, query: Watch) -> WatchResult | Compacted:
        self._check_key(query.key)
        most = self.config.watch_events_max
        if query.limit > most:
            raise _Refused(
                "limit",
                f"watch limit {query.limit} (limit watch_events_max={most})",
                "watch_events_max",
            )
        limit = query.limit or most
        if query.from_revision == 0:
            return WatchResult(self.revision, (), self.revision + 1, False)
        oldest = self.oldest_watch_revision
        if query.from_revision < oldest:
            return Compacted(self.revision, oldest)
        if query.from_revision > self.revision:
            return WatchResult(self.revision, (), query.from_revision, False)
        events: list[WatchEvent] = []
        examined = query.from_revision - 1
        start = query.from_revision - oldest
        for group in itertools.islice(self.history, start, None):
            if len(events) >= limit:
                break
            events.extend(e for e in group if query.matches(e.kv.key))
            examined = group[0].revision
        return WatchResult(self.revision, tuple(events), examined + 1, examined < self.revision)

    # -- snapshots ------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """Canonical CBOR of ``{version, applied, revision, data, sessions, leases}``;
        ``data`` is ``[[key, value, create_revision, mod_revision, version], ...]`` by key,
        ``leases`` ``[[id, ttl_ms, expires_ms, [key, ...sorted]], ...]`` by id."""
        image = {
            "version": SNAPSHOT_VERSION,
            "applied": self.applied_index,
            "revision": self.revision,
            "data": [
                [kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version]
                for kv in (self.data[k] for k in self._keys)
            ],
            "sessions": self.sessions.dump(),
            "leases": [
                [lid, lease.ttl_ms, lease.expires_ms, sorted(lease.keys)]
                for lid, lease in sorted(self.leases.items())
            ],
        }
        return bytes(cbor2.dumps(image, canonical=True))

    def restore(self, data: bytes) -> None:
        try:
            image = cbor2.loads(data)
        except Exception as exc:
            raise ValueError(f"KV snapshot is not valid CBOR: {exc}") from None
        if not isinstance(image, dict) or image.get("version") not in (2, SNAPSHOT_VERSION):
            raise ValueError("KV snapshot has an unknown format or version")
        fields = {"version", "applied", "revision", "data", "sessions"}
        if image["version"] == SNAPSHOT_VERSION:
            fields.add("leases")
        if set(image) != fields:
            raise ValueError("KV snapshot has missing or unknown fields")
        applied, revision, rows = image["applied"], image["revision"], image["data"]
        for name, value in (("applied", applied), ("revision", revision)):
            if type(value) is not int or value < 0:
                raise ValueError(f"KV snapshot {name} is not an integer >= 0")
        if not isinstance(rows, list):
            raise ValueError("KV snapshot data is not a list")
        table: dict[str, KeyValue] = {}
        keys: list[str] = []
        for row in rows:
            if (
                not isinstance(row, list)
                or len(row) != 5
                or type(row[0]) is not str
                or type(row[1]) is not bytes
                or not all(type(x) is int for x in row[2:])
            ):
                raise ValueError(f"KV snapshot has a malformed key entry: {row!r:.80}")
            kv = KeyValue(*row)
            if not 1 <= kv.create_revision <= kv.mod_revision <= revision or kv.version < 1:
                raise ValueError(f"KV snapshot metadata of {kv.key!r} is inconsistent")
            if keys and kv.key <= keys[-1]:
                raise ValueError("KV snapshot keys are not sorted and unique")
            keys.append(kv.key)
            table[kv.key] = kv
        sessions = SessionTable(
            self.config.session_timeout_ms,
            self.config.sessions_max,
            self.config.session_results_max,
        )
        sessions.load(image["sessions"])
        leases, key_lease = self._load_leases(image.get("leases", []), table)
        self.data, self._keys, self.revision = table, keys, revision
        self.sessions, self.applied_index = sessions, applied
        # The watch history is not in the image: served again from the next revision.
        self.history, self._changes = deque(), []
        self.leases, self._key_lease = leases, key_lease
        self._expiries = sorted((lease.expires_ms, lid) for lid, lease in leases.items())

    @staticmethod
    def _load_leases(
        rows: Any, table: dict[str, KeyValue]
    ) -> tuple[dict[int, _Lease], dict[str, int]]:
        if not isinstance(rows, list):
            raise ValueError("KV snapshot leases is not a list")
        leases: dict[int, _Lease] = {}
        key_lease: dict[str, int] = {}
        for row in rows:
            if (
                not isinstance(row, list)
                or len(row) != 4
                or not all(type(x) is int and x >= 0 for x in row[:3])
                or row[1] < 1
                or not isinstance(row[3], list)
                or not all(type(k) is str for k in row[3])
            ):
                raise ValueError(f"KV snapshot has a malformed lease: {row!r:.80}")
            lid, ttl_ms, expires_ms, keys = row
            if leases and lid <= max(leases):
                raise ValueError("KV snapshot lease ids are not sorted and unique")
            if keys != sorted(set(keys)):
                raise ValueError(f"KV snapshot keys of lease {lid} are not sorted and unique")
            for key in keys:
                if key not in table or key in key_lease:
                    raise ValueError(f"KV snapshot lease {lid} holds a missing or shared key")
                key_lease[key] = lid
            leases[lid] = _Lease(ttl_ms, expires_ms, set(keys))
        return leases, key_lease


def _at_revision(response: TxnResponse, revision: int) -> TxnResponse:
    if response.get is not None:
        return TxnResponse(get=GetResult(revision, response.get.kv))
    if response.range is not None:
        r = response.range
        return TxnResponse(range=RangeResult(revision, r.kvs, r.more))
    if response.delete is not None:
        return TxnResponse(delete=DeleteResult(revision, response.delete.prev))
    return response
