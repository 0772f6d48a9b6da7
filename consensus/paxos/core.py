"""PaxosCore: one Multi-Paxos node (acceptor, learner, and proposer when distinguished).

The core is pure and deterministic (see :mod:`consensus.core` for the contract). Message
handling is split by side: :mod:`.follower` (acceptor and learner, every role),
:mod:`.election` (phase 1), :mod:`.leader` (the distinguished proposer). ``become_*``
swaps the tick behaviour; :meth:`PaxosCore.step` dispatches on the message type.

Contract choices (documented in ``docs/paxos.md``):

- Proposals on a non-leader are refused with ``NotLeader(leader_hint)``, as in Raft.
  Read-index requests on a follower are forwarded to the leader it knows and dropped if it
  knows none, if the leader refuses, or after ``2 * election_ticks`` ticks without answer.
- ``ProposalTicket(index, term)``: ``index`` is the slot, ``term`` the proposer's ballot as
  an integer (``Ballot.as_term``). Entries keep the ``term`` they were first proposed with
  when a later leader adopts them, so ``(index, term)`` names one proposal.
- ``Ready.early_messages`` carries the leader's Accepts and Commits (see :mod:`.outbox`);
  ``Ready.messages`` everything else.
- ``Ready.hard_state`` is a :class:`PaxosHardState` delta: the promised ballot, the commit
  index and the votes changed in this batch (``must_sync`` when the promise or a vote
  changed; Promises and Accepteds leave only after it is durable). ``Ready.entries`` are
  newly learned chosen values, stored by slot (they may arrive out of slot order; a slot's
  chosen value never changes, so storing one again is a no-op). ``Ready.committed``
  delivers chosen values strictly in slot order.
- On restart the node re-delivers committed entries from its snapshot (or slot 1) on.
- ``compact(snapshot)``: the driver snapshotted the state machine at an applied index;
  the core forgets the chosen values it covers and sends the snapshot
  in chunks (``SnapshotChunk``, :mod:`.snapshot_chunks`) to nodes that ask for them.
- Membership (:mod:`.membership`): the configuration travels in the log as CONFIG
  entries, changed stop-the-world; ``membership()``, ``propose_change()``,
  ``membership_at()``. Learners store the leader's proposals and learn chosen values but
  never promise, never count towards a quorum and never campaign.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..core import Ready, Recovered, Role, Status
from ..errors import InvariantViolation, NotLeader, ProposalDropped
from ..membership import ConfChange, Membership
from ..messages import (
    ZERO_BALLOT,
    Accept,
    Accepted,
    Ballot,
    CatchUp,
    Chosen,
    ChosenSnapshot,
    Commit,
    Message,
    Nack,
    PaxosHardState,
    PaxosHeartbeat,
    PaxosHeartbeatAck,
    PaxosMessage,
    Prepare,
    Promise,
    ReadForward,
    ReadForwardReply,
)
from ..messages.paxos import (
    NODE_ID_LIMIT,
    PaxosTimeoutNow,
    PrePrepare,
    PrePromise,
    SnapshotChunk,
    SnapshotChunkRequest,
)
from ..types import (
    Entry,
    EntryKind,
    Index,
    NodeId,
    ProposalTicket,
    ReadState,
    Snapshot,
    SnapshotMeta,
    Term,
)
from . import election, follower, leader, membership, preprepare, snapshot_chunks, transfer
from .acceptor_log import AcceptorLog
from .chosen_log import ChosenLog
from .config import PaxosConfig
from .leader import LeaderState
from .membership import ConfigHistory, PendingChange
from .outbox import Outbox
from .preprepare import Probe
from .proposer import RangePhaseOne
from .reads import ForwardedReads, ReadRounds
from .snapshot_chunks import Incoming
from .transfer import TransferState

if TYPE_CHECKING:
    import random

_Handler = Callable[["PaxosCore", Any], None]
_HANDLERS: dict[type, _Handler] = {
    Prepare: follower.on_prepare,
    Accept: follower.on_accept,
    Commit: follower.on_commit,
    PaxosHeartbeat: follower.on_heartbeat,
    CatchUp: snapshot_chunks.on_catch_up,
    Chosen: follower.on_chosen,
    ChosenSnapshot: follower.on_chosen_snapshot,
    ReadForwardReply: follower.on_read_reply,
    Promise: election.on_promise,
    Nack: election.on_nack,
    Accepted: leader.on_accepted,
    PaxosHeartbeatAck: transfer.on_heartbeat_ack,
    ReadForward: leader.on_read_forward,
    PaxosTimeoutNow: transfer.on_timeout_now,
    PrePrepare: preprepare.on_pre_prepare,
    PrePromise: preprepare.on_pre_promise,
    SnapshotChunk: snapshot_chunks.on_chunk,
    SnapshotChunkRequest: snapshot_chunks.on_chunk_request,
}


class PaxosCore:
    """One Multi-Paxos node. See the module docstring and :class:`ProtocolCore`."""

    def __init__(
        self,
        id: NodeId,
        voters: Sequence[NodeId] | Membership,
        rng: random.Random,
        config: PaxosConfig | None = None,
        recovered: Recovered[PaxosHardState] | None = None,
    ) -> None:
        """``voters``: the initial configuration (plain ids: voters only). ``id`` need not
        be in it: a node outside its configuration (a spare about to be added, a removed
        node) only stores and learns what a leader sends it. A recovered snapshot's
        configuration and the recovered chosen CONFIG entries take precedence over it."""
        initial = membership.as_membership(voters)
        if any(not 0 < v < NODE_ID_LIMIT for v in (*initial.members, id)):
            raise ValueError(
                f"Paxos node ids must be in [1, {NODE_ID_LIMIT}), got {list(initial.members)}"
            )
        self._id = id
        self.rng = rng
        self.config = config or PaxosConfig()
        rec = recovered or Recovered()
        hs = rec.hard_state or PaxosHardState()
        base = rec.snapshot.meta.index if rec.snapshot is not None else 0
        self.chosen = ChosenLog(base, rec.entries)
        if rec.snapshot is not None:
            initial = membership.of_meta(rec.snapshot.meta)
        self.configs = ConfigHistory(base, initial)
        for entry in rec.entries:
            self.configs.learn(entry)
        self.config_now = Membership((id,))  # replaced at once by refresh()
        self.voters: tuple[NodeId, ...] = ()
        self.peers: tuple[NodeId, ...] = ()  # every other member: replication, heartbeats
        self.voter_peers: tuple[NodeId, ...] = ()  # every other voter: phase 1
        membership.refresh(self)
        self.pending_change: PendingChange | None = None
        self.campaign_voters: tuple[NodeId, ...] = ()
        self.snapshot: Snapshot | None = rec.snapshot  # the latest, sent to laggards
        self.pending_snapshot: Snapshot | None = None  # received, for the driver to install
        if self.chosen.commit < hs.commit:
            raise InvariantViolation(
                f"node {id}: recovered commit index {hs.commit} but chosen values only "
                f"up to {self.chosen.commit}"
            )
        self.acceptor = AcceptorLog(hs.promised, hs.accepted)
        self.acceptor.forget_through(self.chosen.commit)
        self.seen: Ballot = hs.promised
        self.role = Role.FOLLOWER
        self.leader: NodeId | None = None
        self.phase1: RangePhaseOne | None = None
        self.lead: LeaderState | None = None
        self.known_commit = self.chosen.commit
        self.catchup_wait = 0
        self.election_elapsed = 0
        self.randomized_election_ticks = self.config.election_ticks
        self.transfer: TransferState | None = None  # leader: a leadership transfer running
        self.probe: Probe | None = None  # the pre-vote guard's probe in progress
        self.incoming: Incoming | None = None  # a chunked snapshot being reassembled
        self.forwarded = ForwardedReads(
            self.config.max_pending_reads, 2 * self.config.election_ticks
        )
        # outputs, drained by ready()/advance()
        self.outbox = Outbox()
        self.read_states: list[ReadState] = []
        self.dropped_reads: list[bytes] = []
        self._handed_promised = hs.promised
        self._handed_commit = self.chosen.commit
        self._tick_role: Callable[[], None] = self._tick_election
        self.reset_election_timer()

    # -- identity and inspection --------------------------------------------------------
    @property
    def id(self) -> NodeId:
        return self._id

    def status(self) -> Status:
        last = max(self.chosen.last_slot(), self.acceptor.last_slot())
        if self.lead is not None:
            last = max(last, self.lead.next_slot - 1)
        return Status(
            id=self._id,
            role=Role.PRE_CANDIDATE if self.probe is not None else self.role,
            term=self.acceptor.promised.as_term(),
            leader=self.leader,
            commit_index=self.chosen.commit,
            applied_index=self.chosen.applied,
            last_index=last,
            membership=membership.current(self),
            progress=membership.progress(self),
        )

    # -- membership (ReconfigurableCore) --------------------------------------------------
    def membership(self) -> Membership:
        """On the leader, the configuration governing its next unproposed slot (its change
        in flight included); elsewhere ``config(commit + 1)``, the one governing the first
        slot this node has not learned (see :mod:`.membership`)."""
        return membership.current(self)

    def membership_at(self, index: Index) -> Membership:
        """The configuration as of slot ``index`` (the last CONFIG entry chosen at or
        before it, else the snapshot's or the initial one): what a snapshot at ``index``
        records in its meta. Exact for ``index <= commit``."""
        return self.configs.at(index)

    def snapshot_meta(self, index: Index, term: Term) -> SnapshotMeta:
        """The meta of a state-machine snapshot at ``index`` (its entry's ``term``): the
        membership as of ``index`` (what the runtime's driver asks for)."""
        m = self.configs.at(index)
        return SnapshotMeta(index, term, m.voters, m.learners, m.addresses)

    def propose_change(self, change: ConfChange) -> ProposalTicket:
        """Propose one single-step change (:mod:`consensus.membership`) on the leader.

        The change goes into the next slot ``s`` once every slot below ``s`` is chosen
        (the drain) and, until it is chosen, the leader takes nothing else. Answered like a
        proposal: ``ProposalTicket(s, ballot)``. Raises ``NotLeader`` off the leader,
        ``ProposalDropped`` under back-pressure, ``MembershipError`` when the change does
        not apply to the current configuration, another change is in flight, or a PROMOTE
        names a learner more than ``learner_max_lag`` slots behind the leader's commit.
        """
        if self.transfer is not None:
            raise ProposalDropped(f"leadership transfer to node {self.transfer.target} running")
        return membership.propose_change(self, change)

    def own_ballot(self) -> Ballot:
        """The ballot this node proposes in (candidate or leader), else the zero ballot."""
        if self.role is Role.LEADER and self.lead is not None:
            return self.lead.ballot
        if self.role is Role.CANDIDATE and self.phase1 is not None:
            return self.phase1.ballot
        return ZERO_BALLOT

    def in_lease(self) -> bool:
        """Whether a live leader holds the lease here (``check_quorum``): then Prepares of
        other nodes are ignored."""
        if not self.config.check_quorum:
            return False
        if self.role is Role.LEADER:
            return True
        return self.leader is not None and self.election_elapsed < self.config.election_ticks

    # -- role transitions ---------------------------------------------------------------
    def _leave_role(self) -> None:
        if self.role is Role.LEADER:
            leader.abort_reads(self)
        self.lead = None
        self.pending_change = None
        self.phase1 = None
        self.transfer = None
        self.probe = None
        self.election_elapsed = 0
        self.reset_election_timer()

    def reset_election_timer(self) -> None:
        n = self.config.election_ticks
        self.randomized_election_ticks = self.rng.randrange(n, 2 * n)

    def set_leader(self, leader_id: NodeId | None) -> None:
        if leader_id != self.leader:
            self.dropped_reads.extend(self.forwarded.drain())
            self.leader = leader_id

    def become_follower(self, leader_id: NodeId | None) -> None:
        self._leave_role()
        self.role = Role.FOLLOWER
        self.set_leader(leader_id)
        self._tick_role = self._tick_election

    def become_candidate(self) -> None:
        self._leave_role()
        self.role = Role.CANDIDATE
        self.set_leader(None)
        self._tick_role = self._tick_election

    def become_leader(self, fetch_until: int, frontier: int) -> None:
        p1 = self.phase1
        if self.role is not Role.CANDIDATE or p1 is None:
            raise InvariantViolation(f"node {self._id} became leader without phase 1")
        if self.acceptor.promised != p1.ballot:
            raise InvariantViolation(
                f"node {self._id} won {p1.ballot} but promised {self.acceptor.promised}"
            )
        reads = ReadRounds(self._id, self.voters, self.config.max_pending_reads)
        self.phase1 = None
        self.lead = LeaderState(p1.ballot, fetch_until, frontier, reads)
        self.role = Role.LEADER
        self.set_leader(self._id)
        self._tick_role = lambda: leader.tick(self)

    # -- time -----------------------------------------------------------------------------
    def tick(self) -> None:
        if self.catchup_wait > 0:
            self.catchup_wait -= 1
        self.dropped_reads.extend(self.forwarded.tick())
        if self.transfer is not None:
            transfer.tick(self)
        self._tick_role()

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.election_elapsed >= self.randomized_election_ticks:
            if membership.is_voter(self):
                preprepare.on_election_timeout(self)  # probe, then phase 1
            else:  # learners and removed nodes never run phase 1
                self.election_elapsed = 0

    # -- messages -------------------------------------------------------------------------
    def send(self, msg: PaxosMessage) -> None:
        self.outbox.send(msg)

    def step(self, message: Message) -> None:
        """Handle one message; stale, duplicated and foreign messages never raise."""
        m = message
        if not isinstance(m, PaxosMessage) or m.dst != self._id:
            return
        if m.src == self._id:
            return
        if type(m) is Prepare and not (
            membership.is_voter(self) and self.config_now.is_voter(m.src)
        ):
            # only voters promise, and only to voters (removed nodes cannot disrupt); but a
            # candidate ahead of us may know a configuration that makes us (or it) a voter
            if m.first_slot > self.chosen.commit + 1:
                follower.request_catch_up(self, m.src)
            return
        handler = _HANDLERS.get(type(m))
        if handler is not None:
            handler(self, m)
        self._check_promise()

    def _check_promise(self) -> None:
        """A candidate or leader whose acceptor promised a higher ballot has lost."""
        if self.role is not Role.FOLLOWER and self.acceptor.promised > self.own_ballot():
            self.become_follower(None)

    def learn(self, entry: Entry) -> None:
        """``entry`` is chosen (raises ``InvariantViolation`` if another value was)."""
        before = self.chosen.commit
        if not self.chosen.learn(entry):
            return
        if entry.kind is EntryKind.CONFIG:
            self.configs.learn(entry)
        if self.role is Role.LEADER and not leader.on_learned(self, entry):
            self.become_follower(None)  # a higher ballot chose values: deposed
        if self.chosen.commit > before:
            self.acceptor.forget_through(self.chosen.commit)
            self.known_commit = max(self.known_commit, self.chosen.commit)
            if self.role is Role.LEADER and self.config.announce_commit:
                leader.announce(self)
            membership.on_commit(self)

    # -- client requests ----------------------------------------------------------------
    def propose(self, data: bytes) -> ProposalTicket:
        """Put ``data`` in the next slot; only the distinguished proposer takes proposals.

        Raises ``NotLeader`` on other roles, ``ProposalDropped`` during a leadership
        transfer or when ``max_uncommitted_entries`` slots above the commit index are
        already taken.
        """
        lead = self.lead
        if self.role is not Role.LEADER or lead is None:
            raise NotLeader(self.leader)
        if self.transfer is not None:
            raise ProposalDropped(f"leadership transfer to node {self.transfer.target} running")
        membership.refuse_proposal(self)
        uncommitted = lead.next_slot - 1 - self.chosen.commit
        if uncommitted >= self.config.max_uncommitted_entries:
            raise ProposalDropped(
                f"{uncommitted} slots await commit (max_uncommitted_entries="
                f"{self.config.max_uncommitted_entries})"
            )
        entry = Entry(lead.next_slot, lead.ballot.as_term(), data)
        leader.propose_entry(self, entry)
        return ProposalTicket(entry.index, entry.term)

    def read_index(self, context: bytes) -> None:
        """Start a linearizable read identified by ``context`` (unique per request).

        On the leader it completes once a majority confirms its ballot; a follower
        forwards it to the leader it knows, and drops it when it knows none.
        """
        if self.role is Role.LEADER:
            leader.leader_read(self, context, self._id)
        elif self.leader is not None and self.forwarded.add(context):
            self.send(ReadForward(self._id, self.leader, context))
        else:
            self.dropped_reads.append(context)

    def transfer_leadership(self, to: NodeId) -> None:
        """Hand leadership to ``to``, as :meth:`RaftCore.transfer_leadership` does: stop
        taking proposals, bring ``to`` up to date, then order it to start phase 1 at once
        (``PaxosTimeoutNow``); abandoned after ``election_ticks`` ticks. Raises
        ``NotLeader`` off the leader, ``ValueError`` if ``to`` is not a voter. See
        :mod:`.transfer`."""
        transfer.start(self, to)

    def compact(self, snapshot: Snapshot) -> None:
        """The driver took ``snapshot`` of the state machine at an applied index: keep it
        (to send to laggards) and forget the chosen values it covers."""
        if snapshot.meta.index <= self.chosen.base:
            return
        self.chosen.compact(snapshot.meta.index)
        # the meta records the membership as of its index as this node knows it
        snapshot = Snapshot(membership.snapshot_meta(self, snapshot.meta), snapshot.data)
        self.configs.rebase(snapshot.meta.index, membership.of_meta(snapshot.meta))
        self.snapshot = snapshot

    def install_snapshot(self, snapshot: Snapshot) -> None:
        """A peer's snapshot covers slots above our commit index: take it."""
        index = snapshot.meta.index
        if self.role is Role.LEADER and not leader.may_install(self, index):
            self.become_follower(None)  # it covers our own proposals: deposed
        self.chosen.install(index)
        self.configs.rebase(index, membership.of_meta(snapshot.meta))
        self.acceptor.forget_through(self.chosen.commit)
        self.known_commit = max(self.known_commit, self.chosen.commit)
        self.snapshot = snapshot
        self.pending_snapshot = snapshot
        membership.on_commit(self)

    # -- Ready ----------------------------------------------------------------------------
    def _hard_state_changed(self) -> bool:
        return bool(
            self.acceptor.changes
            or self.acceptor.promised != self._handed_promised
            or self.chosen.commit != self._handed_commit
        )

    def has_ready(self) -> bool:
        return bool(
            self.outbox
            or self._hard_state_changed()
            or self.chosen.unstable
            or self.pending_snapshot is not None
            or self.chosen.commit > self.chosen.applied
            or self.read_states
            or self.dropped_reads
        )

    def ready(self) -> Ready[PaxosHardState]:
        acc = self.acceptor
        hs = None
        if self._hard_state_changed():
            hs = PaxosHardState(acc.promised, self.chosen.commit, tuple(acc.changes))
        self.outbox.close()
        snap = self.pending_snapshot
        committed: tuple[Entry, ...] = ()
        if snap is None:
            committed = tuple(self.chosen.next_committed(self.config.max_committed_per_ready))
        return Ready(
            hard_state=hs,
            entries=tuple(self.chosen.unstable),
            snapshot=snap,
            must_sync=bool(acc.changes) or acc.promised != self._handed_promised or bool(snap),
            early_messages=tuple(self.outbox.early),
            messages=tuple(self.outbox.msgs),
            committed=committed,
            read_states=tuple(self.read_states),
            dropped_reads=tuple(self.dropped_reads),
        )

    def advance(self, ready: Ready[PaxosHardState]) -> None:
        hs = ready.hard_state
        if hs is not None:
            self._handed_promised = hs.promised
            self._handed_commit = hs.commit
            del self.acceptor.changes[: len(hs.accepted)]
        del self.chosen.unstable[: len(ready.entries)]
        if ready.snapshot is not None:
            if self.pending_snapshot is ready.snapshot:
                self.pending_snapshot = None
            if ready.snapshot.meta.index > self.chosen.applied:
                self.chosen.applied_to(ready.snapshot.meta.index)
        if ready.committed:
            self.chosen.applied_to(ready.committed[-1].index)
        self.outbox.taken(len(ready.early_messages), len(ready.messages))
        del self.read_states[: len(ready.read_states)]
        del self.dropped_reads[: len(ready.dropped_reads)]
