"""Deliberately broken protocols, to prove the simulator's checks can fail."""

from __future__ import annotations

import random
from typing import Any

import attrs

from consensus.core import Ready
from consensus.messages import Message, RequestVote
from consensus.raft import RaftCore
from consensus.sim.protocols import ProtocolSpec
from consensus.sim.raft_spec import RAFT_SPEC, SIM_RAFT_CONFIG
from consensus.storage.memory import MemoryStorage
from consensus.types import Entry, NodeId

from .fake_core import make_fake


class Wrapped:
    """A RaftCore whose Ready batches (or inputs) a subclass tampers with."""

    def __init__(self, inner: RaftCore) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def id(self) -> NodeId:
        return self.inner.id

    def ready(self) -> Ready[Any]:
        return self.tamper(self.inner.ready())

    def tamper(self, rd: Ready[Any]) -> Ready[Any]:
        return rd


class CorruptsApplied(Wrapped):
    """Node 2 hands its state machine a different command at index 5."""

    def tamper(self, rd: Ready[Any]) -> Ready[Any]:
        if self.inner.id != 2 or not any(e.index == 5 for e in rd.committed):
            return rd
        committed = tuple(
            Entry(e.index, e.term, b"corrupt") if e.index == 5 else e for e in rd.committed
        )
        return attrs.evolve(rd, committed=committed)


class NeverSyncs(Wrapped):
    """Claims nothing ever needs an fsync: a crash then forgets votes and entries."""

    def tamper(self, rd: Ready[Any]) -> Ready[Any]:
        return attrs.evolve(rd, must_sync=False) if rd.must_sync else rd


class StaleReads(Wrapped):
    """Answers every read at index 0."""

    def tamper(self, rd: Ready[Any]) -> Ready[Any]:
        if not rd.read_states:
            return rd
        states = tuple(attrs.evolve(s, index=0) for s in rd.read_states)
        return attrs.evolve(rd, read_states=states)


class NeverCampaigns(Wrapped):
    """Drops every vote request it would receive: no leader is ever elected."""

    def step(self, message: Message) -> None:
        if not isinstance(message, RequestVote):
            self.inner.step(message)


class Explodes(Wrapped):
    """Raises out of ``step`` on the 100th message."""

    steps = 0

    def step(self, message: Message) -> None:
        self.steps += 1
        if self.steps == 100:
            raise KeyError("boom")
        self.inner.step(message)


def wrapped_raft(wrapper: type[Wrapped]) -> ProtocolSpec:
    def make_core(
        node: NodeId, voters: tuple[NodeId, ...], rng: random.Random, recovered: Any
    ) -> Any:
        return wrapper(RaftCore(node, voters, rng, SIM_RAFT_CONFIG, recovered))

    return attrs.evolve(RAFT_SPEC, name=f"raft+{wrapper.__name__}", make_core=make_core)


class AmnesiacStorage(MemoryStorage):
    """Loses even synced state in a crash (a disk that lies about fsync)."""

    def crash(self) -> None:
        super().crash()
        self.__init__()  # type: ignore[misc]


AMNESIA = attrs.evolve(RAFT_SPEC, name="raft+amnesia", make_storage=AmnesiacStorage)
TWO_LEADERS = make_fake(leaders=(1, 2))
NO_LEADER = make_fake(leaders=())
