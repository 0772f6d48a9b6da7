"""A tiny synchronous harness for the pure Raft core: cores joined by a fake link.

:class:`Network` holds one :class:`RaftCore` per node, each with its own seeded
``random.Random`` and :class:`MemoryStorage`, and a list of messages in flight. It handles
``Ready`` batches exactly as the contract in :mod:`consensus.core` says (persist, sync when
``must_sync``, send, apply, advance), and gives tests the knobs of a hostile network:
deliver all / some / one message, drop, duplicate, partition and heal, crash (unsynced
writes are lost) and restart from what storage recovers.

The state machine of every node is the list of entries it applied, from index 1; a
snapshot's data is that list up to the snapshot's index, encoded, so installing one
restores the whole list. Every apply is checked against a cluster-wide record, so two
nodes applying different entries at one index fails at once.

Nothing here reads a clock or global randomness: a test is a pure function of its inputs.

The module also holds the few helpers the single-core "paper" tests share
(:func:`make_core`, :func:`take`, :func:`elect`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from consensus.core import Ready, Role, Status
from consensus.messages import Message, RequestVote, RequestVoteResponse
from consensus.raft import RaftConfig, RaftCore
from consensus.storage.memory import MemoryStorage
from consensus.types import (
    Entry,
    EntryKind,
    HardState,
    NodeId,
    ProposalTicket,
    ReadState,
    Snapshot,
)

MessageFilter = Callable[[Message], bool]


# -- the state machine and its snapshots ---------------------------------------------------
def encode_entries(entries: Iterable[Entry]) -> bytes:
    """A snapshot's data: one ``index:term:kind:hexdata`` line per applied entry."""
    return b"".join(f"{e.index}:{e.term}:{int(e.kind)}:{e.data.hex()}\n".encode() for e in entries)


def decode_entries(data: bytes) -> list[Entry]:
    out: list[Entry] = []
    for line in data.decode().splitlines():
        index, term, kind, hexdata = line.split(":")
        out.append(Entry(int(index), int(term), bytes.fromhex(hexdata), EntryKind(int(kind))))
    return out


# -- single-core helpers ------------------------------------------------------------------
def make_core(
    id: NodeId = 1,
    voters: Sequence[NodeId] = (1, 2, 3),
    seed: int = 1,
    **config: Any,
) -> RaftCore:
    """A fresh core with ``RaftConfig(**config)`` (pre-vote and check-quorum default off
    here, so single-core tests see the plain paper algorithm unless they ask)."""
    config.setdefault("pre_vote", False)
    config.setdefault("check_quorum", False)
    return RaftCore(id, voters, random.Random(seed), RaftConfig(**config))


def take(core: RaftCore) -> Ready[HardState]:
    """The core's next batch, acknowledged at once (a driver with a perfect disk).

    The copy returned lists ``early_messages`` first in ``messages`` (and leaves
    ``early_messages`` empty), so tests read one list in the order it is sent."""
    rd = core.ready()
    core.advance(rd)
    return attrs.evolve(rd, messages=rd.early_messages + rd.messages, early_messages=())


def drain(core: RaftCore) -> list[Message]:
    """Acknowledge every pending batch; the messages they held, in order."""
    out: list[Message] = []
    while core.has_ready():
        out.extend(take(core).messages)
    return out


def time_out(core: RaftCore) -> None:
    """Tick ``core`` exactly until its randomized election timeout fires."""
    for _ in range(core.randomized_election_ticks - core.election_elapsed):
        core.tick()


def elect(core: RaftCore) -> None:
    """Make ``core`` leader by timing it out and granting it every vote it asks for.

    The batch that announces the new leader (its no-op and the appends carrying it) is
    left for the caller to take."""
    time_out(core)
    for _ in range(2):  # a pre-vote round, then the real one
        for m in drain(core):
            if isinstance(m, RequestVote):
                core.step(RequestVoteResponse(m.dst, core.id, m.term, True, m.pre_vote))
        if core.role is Role.LEADER:
            return
    raise AssertionError(f"node {core.id} did not win: {core.status()}")


def pump(
    cores: Sequence[RaftCore], drop: MessageFilter | None = None, rounds_max: int = 100
) -> list[Message]:
    """Join ``cores`` by a perfect link (h11 style): drain their batches and step each
    message into its destination until nothing is left. Messages to nodes not in
    ``cores``, and those ``drop`` selects, are lost. Returns every message sent."""
    by_id = {c.id: c for c in cores}
    sent: list[Message] = []
    for _ in range(rounds_max):
        batch = [m for c in cores for m in drain(c)]
        if not batch:
            return sent
        sent.extend(batch)
        for m in batch:
            if m.dst in by_id and not (drop is not None and drop(m)):
                by_id[m.dst].step(m)
    raise AssertionError(f"still talking after {rounds_max} rounds")


# -- the network ------------------------------------------------------------------------
@attrs.define
class Node:
    """One node: its storage (kept across crashes) and, while it is up, its core."""

    id: NodeId
    storage: MemoryStorage
    core: RaftCore | None
    incarnation: int = 0
    applied: list[Entry] = attrs.field(factory=list)  # the state machine
    read_states: list[ReadState] = attrs.field(factory=list)
    dropped_reads: list[bytes] = attrs.field(factory=list)

    @property
    def up(self) -> bool:
        return self.core is not None


class Network:
    """Raft cores joined by an in-memory link that only moves when the test says so."""

    def __init__(
        self,
        voters: Sequence[NodeId] = (1, 2, 3),
        config: RaftConfig | None = None,
        seed: int = 0,
        msgs_max: int = 10_000,
    ) -> None:
        self.voters = tuple(voters)
        self.config = config or RaftConfig()
        self.seed = seed
        self.msgs_max = msgs_max
        self.nodes: dict[NodeId, Node] = {}
        self.inflight: list[Message] = []
        self.groups: dict[NodeId, int] | None = None
        self.applied_at: dict[int, Entry] = {}  # every entry any node ever applied
        self.observers: list[Callable[[Message], None]] = []  # see every message sent
        for v in self.voters:
            node = Node(v, MemoryStorage(), None)
            node.core = self._make_core(node)
            self.nodes[v] = node

    def _make_core(self, node: Node) -> RaftCore:
        rng = random.Random(f"{self.seed}-{node.id}-{node.incarnation}")
        rec = node.storage.recover()
        return RaftCore(node.id, self.voters, rng, self.config, rec)

    # -- inspection ---------------------------------------------------------------------
    def core(self, id: NodeId) -> RaftCore:
        core = self.nodes[id].core
        if core is None:
            raise AssertionError(f"node {id} is down")
        return core

    def up(self) -> list[NodeId]:
        return [v for v, n in self.nodes.items() if n.up]

    def status(self, id: NodeId) -> Status:
        return self.core(id).status()

    def leaders(self) -> list[NodeId]:
        return [v for v in self.up() if self.core(v).role is Role.LEADER]

    def leader(self) -> NodeId:
        """The leader of the highest term among live nodes; fails if there is none."""
        leaders = sorted(self.leaders(), key=lambda v: self.core(v).term)
        if not leaders:
            raise AssertionError("no leader")
        return leaders[-1]

    def log(self, id: NodeId) -> list[Entry]:
        return list(self.core(id).log.entries)

    # -- Ready handling -------------------------------------------------------------------
    def process_ready(self, id: NodeId) -> list[Ready[HardState]]:
        """Handle every batch ``id`` has, in the contract's order. Returns the batches."""
        node = self.nodes[id]
        core = node.core
        handled: list[Ready[HardState]] = []
        if core is None:
            return handled
        while core.has_ready():
            rd = core.ready()
            # 0. a leader's replication traffic may leave before its own fsync
            self.send(rd.early_messages)
            # 1. persist, and fsync before anything else leaves the node
            node.storage.persist(rd.hard_state, rd.entries, rd.snapshot)
            if rd.must_sync:
                node.storage.sync()
            # 2. send
            self.send(rd.messages)
            # 3. apply (the snapshot first), answer reads
            if rd.snapshot is not None:
                self._restore(node, rd.snapshot)
            for e in rd.committed:
                self._apply(node, e)
            node.read_states.extend(rd.read_states)
            node.dropped_reads.extend(rd.dropped_reads)
            # 4. acknowledge
            core.advance(rd)
            handled.append(rd)
        return handled

    def process_all(self) -> None:
        for v in self.up():
            self.process_ready(v)

    def _apply(self, node: Node, e: Entry) -> None:
        last = node.applied[-1].index if node.applied else 0
        if e.index != last + 1:
            raise AssertionError(f"node {node.id} applies {e.index} after {last}")
        self._record_applied(node.id, e)
        node.applied.append(e)

    def _record_applied(self, id: NodeId, e: Entry) -> None:
        seen = self.applied_at.setdefault(e.index, e)
        if seen != e:
            raise AssertionError(
                f"state machine safety: node {id} applied {e} at {e.index}, another node "
                f"applied {seen}"
            )

    def _restore(self, node: Node, snapshot: Snapshot) -> None:
        entries = decode_entries(snapshot.data)
        for e in entries:
            self._record_applied(node.id, e)
        if not entries or entries[-1].index != snapshot.meta.index:
            raise AssertionError(f"snapshot {snapshot.meta} does not end at its index")
        node.applied = entries

    # -- the link -----------------------------------------------------------------------
    def send(self, msgs: Sequence[Message]) -> None:
        for observe in self.observers:
            for m in msgs:
                observe(m)
        self.inflight.extend(msgs)
        if len(self.inflight) > self.msgs_max:
            del self.inflight[: len(self.inflight) - self.msgs_max]  # the oldest are lost

    def reachable(self, m: Message) -> bool:
        """Whether ``m`` can arrive now: its destination is up and on the sender's side."""
        node = self.nodes.get(m.dst)
        if node is None or not node.up:  # down, or a node not started (yet)
            return False
        groups = self.groups
        return groups is None or groups.get(m.src, -m.src) == groups.get(m.dst, -m.dst)

    def deliver(
        self, which: MessageFilter | None = None, drop: MessageFilter | None = None
    ) -> list[tuple[Message, bool]]:
        """Take every in-flight message that ``which`` selects (all by default) off the
        link, and step it into its destination unless ``drop`` says to lose it or it
        cannot arrive. Returns ``(message, delivered)`` pairs, in order. Messages the
        receivers send are queued, not delivered (they leave with ``process_ready``)."""
        taken = [m for m in self.inflight if which is None or which(m)]
        self.inflight = [m for m in self.inflight if not (which is None or which(m))]
        out: list[tuple[Message, bool]] = []
        for m in taken:
            ok = self.reachable(m) and not (drop is not None and drop(m))
            if ok:
                self.core(m.dst).step(m)
            out.append((m, ok))
        return out

    def deliver_one(self, k: int, keep: bool = False) -> Message:
        """Deliver the ``k``-th in-flight message; ``keep`` leaves a copy (duplication)."""
        m = self.inflight[k] if keep else self.inflight.pop(k)
        if self.reachable(m):
            self.core(m.dst).step(m)
        return m

    def drop(self, which: MessageFilter | None = None) -> list[Message]:
        """Lose every in-flight message ``which`` selects (all by default)."""
        lost = [m for m in self.inflight if which is None or which(m)]
        self.inflight = [m for m in self.inflight if not (which is None or which(m))]
        return lost

    def partition(self, *groups: Iterable[NodeId]) -> None:
        """Only nodes of one group reach each other; an unlisted node is cut off alone."""
        self.groups = {v: g for g, members in enumerate(groups) for v in members}

    def heal(self) -> None:
        self.groups = None

    def stabilize(self, rounds_max: int = 1000) -> None:
        """Process every Ready and deliver every message until nothing moves."""
        for _ in range(rounds_max):
            self.process_all()
            if not self.inflight:
                return
            self.deliver()
        raise AssertionError(f"not stable after {rounds_max} rounds")

    # -- node control -------------------------------------------------------------------
    def tick(self, id: NodeId, n: int = 1) -> None:
        core = self.core(id)
        for _ in range(n):
            core.tick()

    def run_ticks(self, n: int, ids: Iterable[NodeId] | None = None) -> None:
        """``n`` rounds of: tick every live node (or ``ids``), then stabilize."""
        for _ in range(n):
            for v in self.up() if ids is None else ids:
                self.core(v).tick()
            self.stabilize()

    def campaign(self, id: NodeId) -> None:
        """Force an election: tick ``id`` until its election timeout fires."""
        time_out(self.core(id))

    def elect(self, id: NodeId) -> None:
        """Campaign on ``id`` and run the network until it leads (fails otherwise)."""
        self.campaign(id)
        self.stabilize()
        if self.core(id).role is not Role.LEADER:
            raise AssertionError(f"node {id} did not win: {self.status(id)}")

    def propose(self, id: NodeId, data: bytes) -> ProposalTicket:
        return self.core(id).propose(data)

    def crash(self, id: NodeId) -> None:
        """Power cut: unsynced writes and all volatile state are lost."""
        node = self.nodes[id]
        node.storage.crash()
        node.core = None
        node.applied = []
        node.read_states = []
        node.dropped_reads = []

    def add_node(self, id: NodeId) -> RaftCore:
        """Start ``id`` as a joiner: empty storage, built with the initial voters (its own
        id outside them). A membership change then makes it a learner, a voter."""
        if id in self.nodes:
            raise AssertionError(f"node {id} exists")
        node = Node(id, MemoryStorage(), None)
        node.core = self._make_core(node)
        self.nodes[id] = node
        return node.core

    def restart(self, id: NodeId) -> None:
        """Bring ``id`` back from what its storage recovers (a new rng incarnation)."""
        node = self.nodes[id]
        if node.up:
            raise AssertionError(f"node {id} is up")
        node.incarnation += 1
        rec = node.storage.recover()
        node.applied = []
        if rec.snapshot is not None:
            self._restore(node, rec.snapshot)
        node.core = self._make_core(node)

    def compact(self, id: NodeId, index: int) -> Snapshot:
        """Snapshot ``id``'s state machine at ``index`` (applied) into core and storage."""
        node = self.nodes[id]
        core = self.core(id)
        image = [e for e in node.applied if e.index <= index]
        if not image or image[-1].index != index:
            raise AssertionError(f"node {id} has not applied {index}")
        meta = core.snapshot_meta(index, image[-1].term)  # the configuration as of index
        snapshot = Snapshot(meta, encode_entries(image))
        core.compact(snapshot)
        node.storage.compact(snapshot)
        return snapshot


def between(src: NodeId, dst: NodeId) -> MessageFilter:
    """Selects the messages from ``src`` to ``dst``."""
    return lambda m: m.src == src and m.dst == dst


def of_type(*kinds: type[Message]) -> MessageFilter:
    return lambda m: isinstance(m, kinds)
