"""UNSAFE: leaderless last-write-wins replication on coordinators' clocks. LOSES DATA.

A test target for jepsen-lite (see :mod:`consensus.unsafe`), never for real data. The
model is Cassandra's default writes (no lightweight transactions) at quorum:

- **any node coordinates** a write: it stamps it with *its own clock* (``clock_ms``,
  the node's skewable clock, given to the core: the core reads no clock itself), keeps
  it, sends it to every other replica, and acknowledges it once ``W`` replicas (a
  majority, itself included) stored it. ``write_timeout_ticks`` without them and the
  proposal fails (``ProposalDropped``), though the write stays wherever it got to, as in
  Cassandra;
- every replica keeps, **per key, the write with the highest (timestamp, node)**
  (:mod:`statemachines.unsafe_kv` does the merge): a write stamped by a clock that runs
  ahead beats every later write until real time catches up, so acknowledged writes are
  silently lost; two clocks that agree within a millisecond still order concurrent
  writes arbitrarily;
- **reads** at ``R`` (a majority): ``read_index`` pulls from ``R - 1`` other replicas
  every write it lacks (a blocking read repair), then the store answers from the merge;
- **anti-entropy**: every ``repair_ticks`` a node pulls from the next peer in turn, so
  replicas converge after a partition heals.

Writes are named ``(origin, incarnation, seq)``: the incarnation is bumped durably at
every start (``HardState.term``), ``seq`` counts the origin's writes in it. A node holds
every write it ever stored in memory (test-sized data only) so it can answer pulls.
Every stored write is a local log entry (format in :mod:`.envelope`), applied once
persisted, except that entries after a write still waiting for its ``W`` replicas wait
with it (the driver applies in index order).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import attrs

from ..core import Ready, Recovered, Role, Status
from ..messages import Message
from ..quorum import majority
from ..types import Entry, EntryKind, HardState, Index, NodeId, ProposalTicket, ReadState
from .envelope import EnvelopeError, decode_lww, lww_entry
from .messages import LwwAck, LwwItem, LwwMark, LwwPull, LwwPullReply, LwwWrite

if TYPE_CHECKING:
    import random

OK_TERM = 1
"""The term of every LWW log entry; a write that timed out is committed with
:data:`TIMED_OUT_TERM` instead, so the driver fails its proposal."""
TIMED_OUT_TERM = 2


@attrs.frozen(slots=True)
class LwwConfig:
    """Knobs: ``write_timeout_ticks`` (50), ``read_timeout_ticks`` (200: a read that
    heard from too few replicas is dropped), ``repair_ticks`` (25, 0: no anti-entropy),
    ``items_per_reply`` (1000), ``w`` and ``r`` (None: a majority)."""

    write_timeout_ticks: int = 50
    read_timeout_ticks: int = 200
    repair_ticks: int = 25
    items_per_reply: int = 1000
    w: int | None = None
    r: int | None = None


class _Stream:
    """The writes of one ``(origin, incarnation)`` a node holds."""

    __slots__ = ("extras", "items")

    def __init__(self) -> None:
        self.items: list[LwwItem] = []  # seq 1..len, contiguous
        self.extras: dict[int, LwwItem] = {}  # beyond a gap

    def add(self, item: LwwItem) -> bool:
        """Keep ``item``; False if it was already held."""
        have = len(self.items)
        if item.seq <= have or item.seq in self.extras:
            return False
        if item.seq == have + 1:
            self.items.append(item)
            while len(self.items) + 1 in self.extras:
                self.items.append(self.extras.pop(len(self.items) + 1))
        else:
            self.extras[item.seq] = item
        return True


class _Waiting:
    __slots__ = ("acks", "deadline", "index", "mark")

    def __init__(self, index: Index, mark: LwwMark, deadline: int) -> None:
        self.index = index
        self.mark = mark
        self.acks: set[NodeId] = set()
        self.deadline = deadline


class _Read:
    __slots__ = ("context", "deadline", "replies", "round")

    def __init__(self, context: bytes, round_: int, deadline: int) -> None:
        self.context = context
        self.round = round_
        self.deadline = deadline
        self.replies: set[NodeId] = set()


class LwwCore:
    """See the module docstring. Unsafe by design."""

    def __init__(
        self,
        node_id: NodeId,
        voters: Sequence[NodeId],
        rng: random.Random,
        *,
        clock_ms: Callable[[], int] | None = None,
        config: LwwConfig | None = None,
        recovered: Recovered[HardState] | None = None,
    ) -> None:
        if node_id not in voters:
            raise ValueError(f"node {node_id} is not one of the voters {list(voters)}")
        self._id = node_id
        self.voters = tuple(sorted(voters))
        self.peers = tuple(v for v in self.voters if v != node_id)
        self.rng = rng
        self.config = config or LwwConfig()
        self.w = self.config.w or majority(len(self.voters))
        self.r = self.config.r or majority(len(self.voters))
        self.ticks = 0
        self.clock_ms = clock_ms or (lambda: self.ticks * 10)
        self.role = Role.LEADER  # every node coordinates
        self.streams: dict[tuple[int, int], _Stream] = {}
        self.incarnation = 1
        self.seq = 0
        self.last_index: Index = 0
        self.applied_to: Index = 0  # handed out as committed
        self._persist: list[Entry] = []
        self._unapplied: deque[Entry] = deque()
        self._waiting: dict[Index, _Waiting] = {}
        self._by_mark: dict[LwwMark, _Waiting] = {}
        self._timed_out: set[Index] = set()
        self._messages: list[Message] = []
        self._reads: list[_Read] = []
        self._read_states: list[ReadState] = []
        self._dropped: list[bytes] = []
        self._round = 0
        self._repair_peer = 0
        if recovered is not None:
            if recovered.hard_state is not None:
                self.incarnation = recovered.hard_state.term + 1
            if recovered.snapshot is not None:
                self.last_index = self.applied_to = recovered.snapshot.meta.index
            for entry in recovered.entries:  # the store restarts from the snapshot
                self.last_index = entry.index
                self._unapplied.append(entry)
                try:
                    self._hold(decode_lww(entry.data))
                except EnvelopeError:
                    continue
        self._hs_dirty = True  # the incarnation is durable before anything is written

    # -- what is held -----------------------------------------------------------------
    def _hold(self, item: LwwItem) -> bool:
        key = (item.origin, item.incarnation)
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = _Stream()
        return stream.add(item)

    def _store(self, item: LwwItem) -> Entry | None:
        """Keep ``item`` and log it (None if it was already held)."""
        if not self._hold(item):
            return None
        self.last_index += 1
        entry = Entry(self.last_index, OK_TERM, lww_entry(item), EntryKind.NORMAL)
        self._persist.append(entry)
        self._unapplied.append(entry)
        return entry

    def marks(self) -> tuple[LwwMark, ...]:
        return tuple(
            LwwMark(origin, inc, len(stream.items))
            for (origin, inc), stream in sorted(self.streams.items())
        )

    def _missing(self, have: Sequence[LwwMark]) -> tuple[tuple[LwwItem, ...], bool]:
        """The writes held here beyond ``have`` (at most a batch), and whether more."""
        theirs = {(m.origin, m.incarnation): m.seq for m in have}
        limit = self.config.items_per_reply
        out: list[LwwItem] = []
        for key, stream in sorted(self.streams.items()):
            start = theirs.get(key, 0)
            candidates = stream.items[start:] + [
                it for seq, it in sorted(stream.extras.items()) if seq > start
            ]
            for item in candidates:
                if len(out) >= limit:
                    return tuple(out), True
                out.append(item)
        return tuple(out), False

    # -- inputs -----------------------------------------------------------------------
    @property
    def id(self) -> NodeId:
        return self._id

    def tick(self) -> None:
        self.ticks += 1
        for waiting in list(self._waiting.values()):
            if self.ticks >= waiting.deadline:
                self._resolve(waiting, ok=False)
        for read in [r for r in self._reads if self.ticks >= r.deadline]:
            self._reads.remove(read)
            self._dropped.append(read.context)
        every = self.config.repair_ticks
        if every and self.peers and self.ticks % every == 0:
            peer = self.peers[self._repair_peer % len(self.peers)]
            self._repair_peer += 1
            self._messages.append(LwwPull(self._id, peer, 0, self.marks()))

    def propose(self, data: bytes) -> ProposalTicket:
        self.seq += 1
        item = LwwItem(self._id, self.incarnation, self.seq, self.clock_ms(), data)
        entry = self._store(item)
        assert entry is not None
        mark = LwwMark(self._id, self.incarnation, self.seq)
        waiting = _Waiting(entry.index, mark, self.ticks + self.config.write_timeout_ticks)
        waiting.acks.add(self._id)
        self._waiting[entry.index] = waiting
        self._by_mark[mark] = waiting
        for peer in self.peers:
            self._messages.append(LwwWrite(self._id, peer, (item,)))
        if len(waiting.acks) >= self.w:
            self._resolve(waiting, ok=True)
        return ProposalTicket(entry.index, OK_TERM)

    def _resolve(self, waiting: _Waiting, *, ok: bool) -> None:
        self._waiting.pop(waiting.index, None)
        self._by_mark.pop(waiting.mark, None)
        if not ok:
            self._timed_out.add(waiting.index)

    def read_index(self, context: bytes) -> None:
        if self.r <= 1 or not self.peers:
            self._read_states.append(ReadState(context, self.last_index))
            return
        self._round += 1
        deadline = self.ticks + self.config.read_timeout_ticks
        self._reads.append(_Read(context, self._round, deadline))
        marks = self.marks()
        for peer in self.peers:
            self._messages.append(LwwPull(self._id, peer, self._round, marks))

    def step(self, message: Message) -> None:
        if message.dst != self._id:
            return
        if isinstance(message, LwwWrite):
            for item in message.items:
                self._store(item)
            ids = tuple(LwwMark(i.origin, i.incarnation, i.seq) for i in message.items)
            self._messages.append(LwwAck(self._id, message.src, ids))
        elif isinstance(message, LwwAck):
            for mark in message.ids:
                waiting = self._by_mark.get(mark)
                if waiting is not None:
                    waiting.acks.add(message.src)
                    if len(waiting.acks) >= self.w:
                        self._resolve(waiting, ok=True)
        elif isinstance(message, LwwPull):
            items, more = self._missing(message.have)
            if items or message.round:
                self._messages.append(
                    LwwPullReply(self._id, message.src, message.round, items, more)
                )
        elif isinstance(message, LwwPullReply):
            for item in message.items:
                self._store(item)
            for read in self._reads:
                if read.round == message.round:
                    read.replies.add(message.src)
            done = [r for r in self._reads if len(r.replies) + 1 >= self.r]
            for read in done:
                self._reads.remove(read)
                self._read_states.append(ReadState(read.context, self.last_index))

    # -- output -----------------------------------------------------------------------
    def _committable(self) -> tuple[Entry, ...]:
        out: list[Entry] = []
        for entry in self._unapplied:
            if entry.index in self._waiting:
                break
            if entry.index in self._timed_out:
                entry = attrs.evolve(entry, term=TIMED_OUT_TERM)
            out.append(entry)
        return tuple(out)

    def has_ready(self) -> bool:
        return bool(
            self._hs_dirty
            or self._persist
            or self._messages
            or self._read_states
            or self._dropped
            or (self._unapplied and self._unapplied[0].index not in self._waiting)
        )

    def ready(self) -> Ready[HardState]:
        hs = HardState(self.incarnation, None, self.applied_to) if self._hs_dirty else None
        entries = tuple(self._persist)
        return Ready(
            hard_state=hs,
            entries=entries,
            must_sync=hs is not None or bool(entries),
            messages=tuple(self._messages),
            committed=self._committable(),
            read_states=tuple(self._read_states),
            dropped_reads=tuple(self._dropped),
        )

    def advance(self, ready: Ready[HardState]) -> None:
        if ready.hard_state is not None:
            self._hs_dirty = False
        del self._persist[: len(ready.entries)]
        del self._messages[: len(ready.messages)]
        del self._read_states[: len(ready.read_states)]
        del self._dropped[: len(ready.dropped_reads)]
        for entry in ready.committed:
            if self._unapplied and self._unapplied[0].index == entry.index:
                self._unapplied.popleft()
            self._timed_out.discard(entry.index)
            self.applied_to = entry.index

    def status(self) -> Status:
        return Status(
            id=self._id,
            role=self.role,
            term=self.incarnation,
            leader=self._id,
            commit_index=self.applied_to,
            applied_index=self.applied_to,
            last_index=self.last_index,
        )
