"""A deliberately simple protocol core for testing the simulator itself.

Node 1 leads term 1 forever (``leaders`` can name more, to build a broken cluster). The
leader appends proposals, pushes its log to followers from what each acknowledged, and
commits what a majority holds. It is correct as long as nobody else claims leadership: no
elections, so every log is a prefix of the leader's. Durable state: the log (synced before
any message, via ``must_sync``) and the commit index.

It exposes ``role``, ``term`` and ``log`` (``term``, ``entry``, ``first_index``,
``last_index``) like ``RaftCore``, so ``RaftInvariants`` can check it too.
"""

from __future__ import annotations

import random
from typing import Any

import attrs

from consensus.core import Ready, Role, Status
from consensus.errors import NotLeader
from consensus.messages import Message
from consensus.quorum import committed_index
from consensus.sim.protocols import ProtocolSpec
from consensus.sim.raft_spec import RaftInvariants
from consensus.storage.base import Recovered
from consensus.storage.memory import MemoryStorage
from consensus.types import Entry, HardState, NodeId, ProposalTicket, ReadState


@attrs.frozen(slots=True)
class Push(Message):
    """Leader -> follower: entries after ``prev`` and the leader's commit index."""

    prev: int
    entries: tuple[Entry, ...]
    commit: int


@attrs.frozen(slots=True)
class Ack(Message):
    """Follower -> leader: my log is the leader's up to ``last``."""

    last: int


class FakeLog:
    def __init__(self, entries: tuple[Entry, ...]) -> None:
        self.entries = list(entries)

    def first_index(self) -> int:
        return 1

    def last_index(self) -> int:
        return len(self.entries)

    def term(self, index: int) -> int | None:
        if index == 0:
            return 0
        return self.entries[index - 1].term if 0 < index <= len(self.entries) else None

    def entry(self, index: int) -> Entry:
        return self.entries[index - 1]


class FixedLeaderCore:
    def __init__(
        self,
        id: NodeId,
        voters: tuple[NodeId, ...],
        rng: random.Random,
        recovered: Recovered[HardState] | None = None,
        leaders: tuple[NodeId, ...] = (1,),
    ) -> None:
        rec = recovered or Recovered()
        self._id = id
        self.voters = voters
        self.rng = rng
        self.term = 1
        self.role = Role.LEADER if id in leaders else Role.FOLLOWER
        self.log = FakeLog(rec.entries)
        self.stable = len(self.log.entries)
        self.commit = min(rec.hard_state.commit if rec.hard_state else 0, self.stable)
        self.persisted_commit = self.commit
        self.applied = 0
        self.match = {v: 0 for v in voters}
        self.msgs: list[Message] = []
        self.reads: list[ReadState] = []

    @property
    def id(self) -> NodeId:
        return self._id

    # -- inputs --------------------------------------------------------------------------
    def tick(self) -> None:
        if self.role is Role.LEADER:
            for v in self.voters:
                if v != self._id:
                    self._push(v)

    def _push(self, to: NodeId) -> None:
        start = self.match[to]
        entries = tuple(self.log.entries[start : start + 32])
        self.msgs.append(Push(self._id, to, start, entries, self.commit))

    def step(self, message: Message) -> None:
        if isinstance(message, Push) and self.role is Role.FOLLOWER:
            last = self.log.last_index()
            if message.prev <= last:
                for e in message.entries:
                    if e.index > len(self.log.entries):
                        self.log.entries.append(e)
                last = max(last, message.prev + len(message.entries))
                self.commit = max(self.commit, min(message.commit, last))
            self.msgs.append(Ack(self._id, message.src, min(last, self.log.last_index())))
        elif isinstance(message, Ack) and self.role is Role.LEADER:
            self.match[message.src] = max(self.match[message.src], message.last)
            self.match[self._id] = self.log.last_index()
            self.commit = max(self.commit, committed_index(self.match, self.voters))

    def propose(self, data: bytes) -> ProposalTicket:
        if self.role is not Role.LEADER:
            raise NotLeader(1)
        entry = Entry(self.log.last_index() + 1, self.term, data)
        self.log.entries.append(entry)
        self.match[self._id] = entry.index
        if len(self.voters) == 1:
            self.commit = entry.index
        return ProposalTicket(entry.index, entry.term)

    def read_index(self, context: bytes) -> None:
        if self.role is Role.LEADER:
            self.reads.append(ReadState(context, self.commit))
        # a follower silently ignores reads; the client times out

    # -- Ready -----------------------------------------------------------------------------
    def has_ready(self) -> bool:
        return bool(
            self.msgs
            or self.stable < len(self.log.entries)
            or self.applied < self.commit
            or self.reads
            or self.persisted_commit != self.commit
        )

    def ready(self) -> Ready[HardState]:
        entries = tuple(self.log.entries[self.stable :])
        hs = (
            HardState(self.term, None, self.commit)
            if self.persisted_commit != self.commit
            else None
        )
        return Ready(
            hard_state=hs,
            entries=entries,
            must_sync=bool(entries),
            messages=tuple(self.msgs),
            committed=tuple(self.log.entries[self.applied : self.commit]),
            read_states=tuple(self.reads),
        )

    def advance(self, ready: Ready[HardState]) -> None:
        self.stable += len(ready.entries)
        if ready.hard_state is not None:
            self.persisted_commit = ready.hard_state.commit
        self.applied += len(ready.committed)
        del self.msgs[: len(ready.messages)]
        del self.reads[: len(ready.read_states)]

    def status(self) -> Status:
        return Status(
            self._id,
            self.role,
            self.term,
            1,
            self.commit,
            self.applied,
            self.log.last_index(),
        )


def make_fake(leaders: tuple[NodeId, ...] = (1,)) -> ProtocolSpec:
    def make_core(
        node: NodeId, voters: tuple[NodeId, ...], rng: random.Random, recovered: Any
    ) -> FixedLeaderCore:
        return FixedLeaderCore(node, voters, rng, recovered, leaders)

    return ProtocolSpec(
        name="fixed-leader",
        make_core=make_core,
        make_storage=MemoryStorage,
        make_invariants=RaftInvariants,
    )


FAKE_SPEC = make_fake()
