"""A cluster of pure cores, each driven exactly by the Ready contract of ``consensus.core``.

:class:`Cluster` knows nothing about time or network faults: it turns inputs (a tick, a
delivered message, a proposal, a read, a crash, a restart) into calls on one node's core,
then drains that node's ``Ready`` batches in the contract's order:

1. send ``early_messages``; if ``crash_point`` says so, crash part-way (the power cut
   the early send exposes: some messages out, the batch not on disk, or on disk with
   the rest of it never sent);
2. persist hard state, entries and snapshot; sync when ``must_sync``. A ``StorageError``
   stops the node (a failed fsync is never retried) and ``storage_failed`` hears of it;
3. the protocol's invariant checker observes the batch: it is now durable (if it had to
   be) and none of its ``messages`` has left;
4. send the messages (hand them to ``send``: the simulated network, or a test's mailbox);
5. install a snapshot, apply committed entries, hand out ``results``, answer reads (the
   generic checks of :class:`~consensus.sim.history.History` run here);
6. ``advance``; then, when the node has applied enough, take a state-machine snapshot.

A batch the node does not survive is observed only as far as it took effect: after a torn
crash, a batch holding just the early messages sent (and the commits the core claimed);
after a crash once the batch is on disk, the batch without its messages; after a storage
failure, nothing. So an
invariant checker may take whatever it observes as sent, and a must-sync state it
observes as durable.

A crashed node keeps only its storage's synced state (``storage.crash()``); its core,
state machine and pending requests are gone. ``restart`` rebuilds the core from
``storage.recover()`` with a fresh random stream derived from the cluster's.

Membership (``spares`` > 0): nodes ``nodes+1..nodes+spares`` start as non-members with
empty storage (their cores are built with the initial voters, their own id outside
them); :meth:`Cluster.propose_change` asks a node's core (a
:class:`~consensus.core.ReconfigurableCore`) for a configuration change, and
:meth:`Cluster.members` tells who is in the configuration the cluster converges on.
State-machine snapshots record the configuration as of their index
(``core.membership_at(index)``, for a core that has it).

The simulator drives a Cluster from its event queue; the Hypothesis state machine in
``tests/sim`` drives the same class one rule at a time.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import attrs

from ..core import ProtocolCore, Ready, ReconfigurableCore, Role
from ..errors import ConsensusError
from ..membership import ConfChange, Membership
from ..messages import Message
from ..storage.base import StorageError
from ..types import NodeId, ProposalTicket, Snapshot, SnapshotMeta, Term
from .history import History, Replica, Resolved
from .protocols import ProtocolInvariants, ProtocolSpec, SimStorage

CrashPoint = Callable[[NodeId, int, bool, bool], "tuple[int, bool] | None"]
"""See ``Cluster.crash_point``."""


class NodeDown(Exception):
    """The node asked to do something is crashed."""

    def __init__(self, node: NodeId) -> None:
        self.node = node
        super().__init__(f"node {node} is down")


class Host:
    """One node: its durable storage (outlives crashes) and, while up, core and replica."""

    __slots__ = (
        "core",
        "dirty",
        "id",
        "leader_term",
        "replica",
        "snapshot_index",
        "storage",
        "sync_seq",
        "syncing",
    )

    def __init__(self, node: NodeId, storage: SimStorage, record: bool) -> None:
        self.id = node
        self.storage = storage
        self.core: ProtocolCore[object] | None = None
        self.replica = Replica(node, record)
        self.leader_term: Term = -1  # the term in which this node last was leader
        self.snapshot_index = 0
        self.dirty = False  # persisted state that is not yet synced
        self.syncing: Ready[object] | None = None  # the batch a deferred fsync holds
        self.sync_seq = 0


class Cluster:
    """Nodes ``1..nodes`` of protocol ``spec`` (the initial voters), plus ``spares``
    non-members ``nodes+1..nodes+spares`` that a membership change may add.

    ``send`` receives every message a node emits. ``snapshot_every_entries`` > 0 makes each
    node snapshot its state machine whenever it has applied that many entries since its
    last snapshot (only if the protocol can compact). ``record_applied`` keeps every
    applied entry per node (for tests).
    """

    def __init__(
        self,
        spec: ProtocolSpec,
        nodes: int,
        rng: random.Random,
        send: Callable[[Message], None],
        *,
        history: History | None = None,
        invariants: ProtocolInvariants | None = None,
        snapshot_every_entries: int = 0,
        record_applied: bool = False,
        make_storage: Callable[[], SimStorage] | None = None,
        tune: Callable[[object], None] | None = None,
        spares: int = 0,
    ) -> None:
        if nodes < 1:
            raise ValueError(f"a cluster needs at least one node, got {nodes}")
        if spares < 0:
            raise ValueError(f"spares must be >= 0, got {spares}")
        self.spec = spec
        self.voters: tuple[NodeId, ...] = tuple(range(1, nodes + 1))
        """The initial voters (every core is built with them)."""
        self.nodes: tuple[NodeId, ...] = tuple(range(1, nodes + spares + 1))
        """Every node id of the run: the initial voters and the spares."""
        self.history = history or History(spec.term_text)
        self.invariants = invariants or spec.make_invariants()
        self._rng = rng
        self._send = send
        self._snapshot_every = snapshot_every_entries if spec.compact is not None else 0
        self._record = record_applied
        self._tune = tune
        self.crash_point: CrashPoint | None = None
        """Asked before a node sends the ``early_messages`` of a batch that must sync or
        commits entries (node, how many messages, ``must_sync``, whether it commits):
        None goes on; ``(k, synced)`` sends the first ``k`` and crashes the node, before
        the batch reaches its disk, or (``synced``) once it is on disk and before the rest
        of the batch leaves. Its commits are observed either way: the core claimed them."""
        self.reply_crash: Callable[[NodeId, Ready[object]], bool] | None = None
        """Asked right after a batch's messages left a node that holds persisted but
        unsynced state; True crashes the node there."""
        self.defer_sync: Callable[[NodeId, int], bool] | None = None
        """Asked for the fsync of a batch with ``early_messages`` (node, sync number):
        True means the fsync takes time, and the caller will call ``sync_done`` with the
        same number when it ends. Meanwhile the node takes inputs but drains nothing."""
        self.storage_failed: Callable[[NodeId], None] | None = None
        """Told when a node's storage raised ``StorageError``, just before the node stops
        (a failed fsync is never retried: only a restart brings the node back)."""
        self.storage_failures = 0
        self.new_leader: Callable[[NodeId], None] | None = None
        """Told when a node is first seen leading a term (after its durable batch)."""
        self._proposed_hook = getattr(self.invariants, "proposed", None)
        new_storage = make_storage or spec.make_storage
        self.hosts: list[Host] = [Host(n, new_storage(), record_applied) for n in self.nodes]
        self.elections = 0
        self.messages = 0
        self.readies = 0
        for host in self.hosts:
            self._start(host, None)

    # -- inspection -----------------------------------------------------------------------
    def host(self, node: NodeId) -> Host:
        if not 1 <= node <= len(self.hosts):
            raise ValueError(f"no node {node} in a cluster of {len(self.hosts)}")
        return self.hosts[node - 1]

    def is_up(self, node: NodeId) -> bool:
        return self.host(node).core is not None

    def core(self, node: NodeId) -> ProtocolCore[object]:
        core = self.host(node).core
        if core is None:
            raise NodeDown(node)
        return core

    def up_cores(self) -> Iterator[ProtocolCore[object]]:
        for host in self.hosts:
            if host.core is not None:
                yield host.core

    def leader_hint(self, node: NodeId) -> NodeId | None:
        """Who ``node`` believes leads (itself included), or None (also when down)."""
        core = self.host(node).core
        return None if core is None else core.status().leader

    # -- inputs ---------------------------------------------------------------------------
    def tick(self, node: NodeId) -> None:
        host = self.hosts[node - 1]
        core = host.core
        if core is None:
            return
        core.tick()
        if core.has_ready():
            self.drain(host, core)

    def deliver(self, msg: Message) -> bool:
        """Step ``msg`` into its destination; False (dropped) when that node is down."""
        host = self.hosts[msg.dst - 1]
        core = host.core
        if core is None:
            return False
        core.step(msg)
        if core.has_ready():
            self.drain(host, core)
        return True

    def propose(self, node: NodeId, data: bytes, done: Resolved | None = None) -> ProposalTicket:
        """Propose ``data`` at ``node``; raises ``NotLeader``/``ProposalDropped`` as the
        core does, ``NodeDown`` when the node is down. ``done`` hears the outcome."""
        host = self.host(node)
        core = host.core
        if core is None:
            raise NodeDown(node)
        ticket = core.propose(data)
        self.history.proposed(node, ticket, data, done)
        if self._proposed_hook is not None:
            self._proposed_hook(node, ticket, data)
        if core.has_ready():
            self.drain(host, core)
        return ticket

    def read_index(self, node: NodeId, context: bytes, done: Resolved | None = None) -> None:
        """Start a linearizable read at ``node``; ``done`` hears whether it completed."""
        host = self.host(node)
        core = host.core
        if core is None:
            raise NodeDown(node)
        self.history.read_started(node, context, done)
        try:
            core.read_index(context)
        except ConsensusError:
            self.history.read_dropped(node, context)
            return
        if core.has_ready():
            self.drain(host, core)

    def propose_change(self, node: NodeId, change: ConfChange) -> ProposalTicket:
        """Ask ``node`` for a membership change; raises what ``propose_change`` raises
        (``NotLeader``, ``ProposalDropped``, ``MembershipError``), ``NodeDown`` when the
        node is down, ``TypeError`` when its core cannot change its membership."""
        host = self.host(node)
        core = host.core
        if core is None:
            raise NodeDown(node)
        reconfigurable = _reconfigurable(core)
        ticket = reconfigurable.propose_change(change)
        if core.has_ready():
            self.drain(host, core)
        return ticket

    def membership(self, node: NodeId) -> Membership | None:
        """The configuration in effect on ``node`` (None when down or not reconfigurable)."""
        core = self.host(node).core
        if core is None or not hasattr(core, "membership"):
            return None
        return _reconfigurable(core).membership()

    def members(self) -> tuple[NodeId, ...] | None:
        """The members (voters and learners) of the configuration of the up leader of the
        highest term; None when no such leader is up (or no core has a membership)."""
        best: tuple[Term, Membership] | None = None
        for host in self.hosts:
            core = host.core
            if core is None or not hasattr(core, "membership"):
                continue
            st = core.status()
            if st.role is Role.LEADER and (best is None or st.term > best[0]):
                best = (st.term, _reconfigurable(core).membership())
        return None if best is None else best[1].members

    def crash(self, node: NodeId) -> None:
        """Power cut: unsynced writes, the core and the state machine are lost."""
        host = self.host(node)
        if host.core is None:
            raise NodeDown(node)
        host.core = None
        host.syncing = None
        host.dirty = False
        host.storage.crash()
        host.replica = Replica(node, self._record)
        host.leader_term = -1
        self.history.forget(node)

    def restart(self, node: NodeId) -> None:
        """Rebuild a crashed node's core from what its storage recovers."""
        host = self.host(node)
        if host.core is not None:
            raise ValueError(f"node {node} is not down")
        self._start(host, host.storage.recover())

    def _start(self, host: Host, recovered: object) -> None:
        core_rng = random.Random(self._rng.getrandbits(64))
        core = self.spec.make_core(host.id, self.voters, core_rng, recovered)
        if self._tune is not None:
            self._tune(core)
        snapshot = getattr(recovered, "snapshot", None)
        if isinstance(snapshot, Snapshot):
            self.history.install(host.replica, snapshot)
            host.snapshot_index = snapshot.meta.index
        else:
            host.snapshot_index = 0
        host.core = core
        if recovered is not None:
            self.invariants.restarted(host.id, core)
        if core.has_ready():
            self.drain(host, core)

    # -- the Ready loop -------------------------------------------------------------------
    def drain(self, host: Host, core: ProtocolCore[object]) -> None:
        """The hot path: every batch of every node goes through here. The caller (this
        class, or the simulation's run loop, which inlines ``deliver`` and ``tick``) has
        just given the node an input and seen ``core.has_ready()`` be true."""
        if host.syncing is not None:
            return  # a deferred fsync is in flight: new inputs wait in the core
        node = host.id
        storage = host.storage
        observe = self.invariants.observe
        send = self._send
        finish = self._finish
        crash_point = self.crash_point
        durable = False
        readies = 0
        while True:
            rd = core.ready()
            readies += 1
            early = rd.early_messages
            must_sync = rd.must_sync
            if early:
                if crash_point is not None and (must_sync or rd.committed):
                    point = crash_point(node, len(early), must_sync, bool(rd.committed))
                    if point is not None:
                        self._cut_short(host, core, rd, *point)
                        break
                self.messages += len(early)
                for msg in early:
                    send(msg)
            if must_sync or rd.hard_state is not None or rd.entries or rd.snapshot is not None:
                try:
                    if rd.hard_state is not None or rd.entries or rd.snapshot is not None:
                        storage.persist(rd.hard_state, rd.entries, rd.snapshot)
                        host.dirty = True
                    if must_sync:
                        if early and self.defer_sync is not None:
                            host.sync_seq += 1
                            if self.defer_sync(node, host.sync_seq):
                                # Observed now as far as it took effect: its entries
                                # written and its early messages sent. Its hard state
                                # (votes, promises) counts once durable, with its
                                # messages.
                                observe(node, core, attrs.evolve(rd, hard_state=None, messages=()))
                                host.syncing = rd
                                break
                        storage.sync()
                        host.dirty = False
                        durable = True
                except StorageError:
                    self._stop(host)
                    break
            observe(node, core, rd)
            if not finish(host, core, rd):
                break
            if not core.has_ready():
                if durable:
                    self._note_leader(host, core)
                break
        self.readies += readies

    def _note_leader(self, host: Host, core: ProtocolCore[object]) -> None:
        # A node becomes leader in a durable batch (its new term, vote or first entry):
        # only then can the answer change, so only then ask for status().
        status = core.status()
        if status.role is Role.LEADER and status.term != host.leader_term:
            host.leader_term = status.term
            self.elections += 1
            if self.new_leader is not None:
                self.new_leader(host.id)

    def _finish(self, host: Host, core: ProtocolCore[object], rd: Ready[object]) -> bool:
        """Steps 4-6 of a batch that is durable (if it had to be): from ``drain``, or
        after a deferred fsync. False: the node crashed or stopped."""
        history = self.history
        replica = host.replica
        if rd.messages:
            self.messages += len(rd.messages)
            send = self._send
            for msg in rd.messages:
                send(msg)
            if host.dirty and self.reply_crash is not None and self.reply_crash(host.id, rd):
                self.crash(host.id)
                return False
        if rd.snapshot is not None:
            history.install(replica, rd.snapshot)
            host.snapshot_index = rd.snapshot.meta.index
        if rd.committed:
            apply = history.apply
            for entry in rd.committed:
                apply(replica, entry)
        if rd.results:
            for result in rd.results:
                history.answered(host.id, result)
        if rd.read_states:
            for state in rd.read_states:
                history.read_state(host.id, state)
        if rd.dropped_reads:
            for context in rd.dropped_reads:
                history.read_dropped(host.id, context)
        core.advance(rd)
        if self._snapshot_every and replica.applied - host.snapshot_index >= self._snapshot_every:
            try:
                self._take_snapshot(host, core)
            except StorageError:
                self._stop(host)
                return False
        return True

    def sync_done(self, node: NodeId, seq: int) -> None:
        """A deferred fsync (see ``defer_sync``) completes: finish its batch, go on."""
        host = self.hosts[node - 1]
        rd = host.syncing
        core = host.core
        if rd is None or core is None or seq != host.sync_seq:
            return  # the node crashed meanwhile
        host.syncing = None
        try:
            host.storage.sync()
        except StorageError:
            self._stop(host)
            return
        host.dirty = False
        if rd.messages or rd.hard_state is not None:
            durable: Ready[object] = Ready(
                hard_state=rd.hard_state, must_sync=True, messages=rd.messages
            )
            self.invariants.observe(node, core, durable)
        if not self._finish(host, core, rd):
            return
        self._note_leader(host, core)
        if core.has_ready():
            self.drain(host, core)

    def _stop(self, host: Host) -> None:
        """The node's storage failed: the node stops (a crash, as far as the disk goes)."""
        self.storage_failures += 1
        if self.storage_failed is not None:
            self.storage_failed(host.id)  # before the crash: it may pick the crash mode
        self.crash(host.id)

    def _cut_short(
        self, host: Host, core: ProtocolCore[object], rd: Ready[object], sent: int, synced: bool
    ) -> None:
        """Power cut during the early send: only the first ``sent`` early messages ever
        happened. Without ``synced`` nothing of the batch reached the disk; with it, the
        batch is on disk (its fsync done) but its ``messages`` never left."""
        early = rd.early_messages[:sent]
        self.messages += len(early)
        for msg in early:
            self._send(msg)
        done: Ready[object] = Ready(early_messages=early, committed=rd.committed)
        if synced:
            try:
                if rd.hard_state is not None or rd.entries or rd.snapshot is not None:
                    host.storage.persist(rd.hard_state, rd.entries, rd.snapshot)
                if rd.must_sync:
                    host.storage.sync()
                done = attrs.evolve(rd, early_messages=early, messages=())
            except StorageError:
                pass  # the node is going down anyway: as if the power cut came first
        self.invariants.observe(host.id, core, done)
        self.crash(host.id)

    def _take_snapshot(self, host: Host, core: ProtocolCore[object]) -> None:
        replica = host.replica
        entry = self.history.entry_at(replica.applied)
        assert entry is not None and self.spec.compact is not None
        membership_at = getattr(core, "membership_at", None)
        if membership_at is None:
            meta = SnapshotMeta(entry.index, entry.term, self.voters)
        else:  # the configuration as of the snapshot's index, not the latest one
            m: Membership = membership_at(entry.index)
            meta = SnapshotMeta(entry.index, entry.term, m.voters, m.learners, m.addresses)
        snapshot = Snapshot(meta, replica.image())
        host.storage.compact(snapshot)
        self.spec.compact(core, snapshot)
        host.snapshot_index = entry.index


def _reconfigurable(core: ProtocolCore[object]) -> ReconfigurableCore[object]:
    if not (hasattr(core, "propose_change") and hasattr(core, "membership")):
        raise TypeError(f"{type(core).__name__} cannot change its membership")
    return core  # type: ignore[return-value]
