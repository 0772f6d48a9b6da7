"""RaftCore: the state of one Raft node and the transitions between roles.

The core is pure and deterministic (see :mod:`consensus.core` for the contract). Message
handling is split by role: :mod:`.election` (votes, campaigns), :mod:`.replication`
(the leader side of log replication, heartbeats, snapshots), :mod:`.follower` (the
follower side). ``become_*`` swaps ``self._step_role``; :meth:`RaftCore.step` first applies
the term rules every role shares, then calls it.

Lease reads (``RaftConfig.lease_reads``, etcd's ``ReadOnlyLeaseBased`` with an explicit
lease): a read-index round that a quorum confirms proves that, from the tick the round
started on, every node of that quorum ignores vote requests for ``election_ticks`` of its
own ticks (check-quorum, :meth:`RaftCore._in_lease`), so no other leader can be elected
before then. The leader keeps the start tick of the newest confirmed round and, for
``RaftConfig.lease_ticks`` of its ticks from it (``(election_ticks - 1)`` less the drift
bound), :meth:`RaftCore.lease_read_index` answers its commit index at once. Not before an
entry of its term has committed, and not for the rest of a term in which it started a
leadership transfer (the target campaigns with votes that ignore the lease). A node that
starts ignores vote requests for ``election_ticks`` ticks (what it promised before a
restart is forgotten otherwise). What it assumes: tick rates within the drift bound of
each other, and a leader's ticks that keep up with its clock (a paused leader process
resumes believing its lease still runs).

Membership (single-server changes, dissertation chapter 4; see ``docs/raft.md``): the
configuration in effect is the last CONFIG entry in the log, committed or not, else the
snapshot's, else the one the core was built with; it reverts when that entry is truncated
away. A node that is not a voter in it (a learner, a joiner not yet added, a removed node)
never campaigns, but still follows a leader of a current term and still answers vote
requests by the usual rules (a learner promoted in the candidate's log, not yet in its
own, must be able to vote, or a one-voter cluster that promotes a second could deadlock;
etcd/raft lets learners vote for the same reason). Messages are not filtered by
membership: Raft's rules are safe whoever sends them, and a leader added after a node
was built must still reach it. The leader appends a change only after an entry of its
term has committed and while no other change is uncommitted; a leader that removes
itself leads until that entry commits among the new voters, then steps down.

Proposals and reads on a non-leader are refused with ``NotLeader(leader_hint)``, never
forwarded (the client library follows the hint). Read-index requests on a follower *are*
forwarded to the leader, since a read is harmless to repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..core import Ready, Recovered, Role, Status
from ..errors import InvariantViolation, NotLeader, ProposalDropped
from ..membership import ConfChange, Membership
from ..messages import (
    AppendEntries,
    Heartbeat,
    InstallSnapshot,
    Message,
    RaftMessage,
    ReadIndex,
    ReadIndexResponse,
    RequestVote,
    RequestVoteResponse,
    TimeoutNow,
)
from ..types import (
    Entry,
    EntryKind,
    HardState,
    Index,
    NodeId,
    ProposalTicket,
    ReadState,
    Snapshot,
    SnapshotMeta,
    Term,
)
from . import election, follower, membership, replication
from .config import RaftConfig
from .log import RaftLog
from .progress import Progress
from .readindex import ReadIndexQueue

if TYPE_CHECKING:
    import random

_LEADER_EARLY = frozenset(
    {AppendEntries, Heartbeat, InstallSnapshot, TimeoutNow, ReadIndexResponse}
)
"""What a leader may send before its own batch is on disk (see ``Ready.early_messages``):
its log, commit index and reads vouch for nothing that only its local disk holds."""


class RaftCore:
    """One Raft node. See the module docstring and :class:`consensus.core.ProtocolCore`."""

    def __init__(
        self,
        id: NodeId,
        voters: Sequence[NodeId] | Membership,
        rng: random.Random,
        config: RaftConfig | None = None,
        recovered: Recovered[HardState] | None = None,
    ) -> None:
        """``voters``: the configuration to start from when neither the recovered log nor
        its snapshot names one (a bare id sequence means no learners). ``id`` need not be
        a member: a node joining a cluster is built with the cluster's voters."""
        if isinstance(voters, Membership):
            initial = voters
        else:
            if len(set(voters)) != len(voters):
                raise ValueError(f"voters must be distinct, got {list(voters)}")
            initial = Membership.of(voters)
        self._id = id
        self.initial_membership = initial
        """The configuration this core was built with (before its log and snapshot)."""
        self.voters: tuple[NodeId, ...] = ()
        """The voters of the configuration in effect (see the module docstring)."""
        self.peers: tuple[NodeId, ...] = ()
        """Every other member (voters and learners): whom a leader replicates to."""
        self.voter_peers: tuple[NodeId, ...] = ()
        """Every other voter: whom a candidate asks for votes."""
        self.is_voter = False
        self._membership = initial
        self.rng = rng
        self.config = config or RaftConfig()
        rec = recovered or Recovered()
        hs = rec.hard_state or HardState()
        self.snapshot: Snapshot | None = rec.snapshot
        self.log = RaftLog(rec.snapshot.meta if rec.snapshot else None, rec.entries, hs.commit)
        self.term: Term = hs.term
        self.vote: NodeId | None = hs.vote
        self.leader: NodeId | None = None
        self.role = Role.FOLLOWER
        self._prev_hard_state = HardState(hs.term, hs.vote, self.log.committed)
        # timers
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_ticks = self.config.election_ticks
        self.ticks = 0
        """Ticks since this core was made (every role): the leader's lease clock."""
        self.boot_ticks_left = self.config.election_ticks if self.config.lease_reads else 0
        """With lease reads: ticks left during which a just-started node ignores votes."""
        # lease reads: the start tick of the newest round a quorum confirmed this term
        self.lease_start: int | None = None
        self.lease_revoked = False
        # leader state
        self.progress: dict[NodeId, Progress] = {}
        self.reads = ReadIndexQueue()
        self.reads_before_commit: list[tuple[bytes, NodeId]] = []
        self.transfer_target: NodeId | None = None
        # membership: the base (snapshot's, else initial) and the CONFIG entries after it
        self._base_membership = initial
        if rec.snapshot is not None:
            self._base_membership = membership.of_meta(rec.snapshot.meta, initial)
        self._configs: list[tuple[Index, Membership]] = [
            (e.index, Membership.decode(e.data)) for e in rec.entries if e.kind is EntryKind.CONFIG
        ]
        self.config_at: Index = self._configs[-1][0] if self._configs else 0
        """The index of the CONFIG entry in effect (0: snapshot's or initial)."""
        membership.set_membership(
            self, self._configs[-1][1] if self._configs else self._base_membership
        )
        # candidate state
        self.votes = election.empty_tally(self)
        # follower state
        self.forwarded_reads: set[bytes] = set()
        self.incoming_snapshot: tuple[Snapshot, bytearray] | None = None
        self.pending_snapshot: Snapshot | None = None
        # outputs, drained by ready()/advance()
        self.msgs: list[Message] = []
        self.early_msgs: list[Message] = []
        self.read_states: list[ReadState] = []
        self.dropped_reads: list[bytes] = []
        self._step_role: Callable[[RaftCore, RaftMessage], None] = follower.step_follower
        self._tick_role: Callable[[], None] = self._tick_election
        self._reset_election_timer()

    # -- identity and inspection --------------------------------------------------------
    @property
    def id(self) -> NodeId:
        return self._id

    def status(self) -> Status:
        return Status(
            id=self._id,
            role=self.role,
            term=self.term,
            leader=self.leader,
            commit_index=self.log.committed,
            applied_index=self.log.applied,
            last_index=self.log.last_index(),
            membership=self._membership,
            progress=(
                tuple(sorted((n, pr.match) for n, pr in self.progress.items()))
                if self.role is Role.LEADER
                else ()
            ),
        )

    def quorum_size(self) -> int:
        return len(self.voters) // 2 + 1

    # -- membership -----------------------------------------------------------------------
    def membership(self) -> Membership:
        """The configuration in effect (see the module docstring)."""
        return self._membership

    def config_index(self) -> Index:
        """The index of the CONFIG entry in effect; 0 when the configuration comes from
        the snapshot or the constructor (also kept in ``config_at``)."""
        return self.config_at

    def membership_at(self, index: Index) -> Membership:
        """The configuration as of ``index``: that of the last CONFIG entry at or before
        it, else the snapshot's (also for an index the snapshot covers), else the
        initial one. What a snapshot taken at ``index`` must record."""
        return membership.at(self, index)

    def snapshot_meta(self, index: Index, term: Term) -> SnapshotMeta:
        """The meta of a snapshot of the state machine at (``index``, ``term``), with the
        configuration as of ``index`` (:meth:`membership_at`)."""
        m = membership.at(self, index)
        return SnapshotMeta(index, term, m.voters, m.learners, m.addresses)

    def propose_change(self, change: ConfChange) -> ProposalTicket:
        """Append a single-step configuration change; it takes effect here at once.

        Raises ``NotLeader`` off the leader; ``ProposalDropped`` during a leadership
        transfer or past ``max_uncommitted_entries``; ``MembershipError`` when the leader
        has not yet committed an entry of its term, another change is uncommitted, the
        change does not apply to the configuration in effect, or a PROMOTE names a
        learner more than ``RaftConfig.max_promote_lag`` entries behind.
        """
        return membership.propose_change(self, change)

    def _committed_in_term(self) -> bool:
        """Whether an entry of this leader's term has committed (the fix for the
        single-server bug: before it, an uncommitted change of an earlier leader may
        still be in the log, and a second change would not overlap with it)."""
        return self.log.term(self.log.committed) == self.term

    def _uncommitted_change(self) -> Index:
        """The index of the CONFIG entry in effect if it is not committed yet, else 0."""
        pending = self.config_index()
        return pending if pending > self.log.committed else 0

    # -- role transitions ---------------------------------------------------------------
    def _reset(self, term: Term) -> None:
        if term != self.term:
            self.term = term
            self.vote = None
        self.leader = None
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self._reset_election_timer()
        self.transfer_target = None
        self.lease_start = None
        self.lease_revoked = False
        if self.role is Role.LEADER:
            self._abort_leader_reads()
        self.progress = {}
        self.forwarded_reads_drop()

    def _reset_election_timer(self) -> None:
        n = self.config.election_ticks
        self.randomized_election_ticks = self.rng.randrange(n, 2 * n)

    def become_follower(self, term: Term, leader: NodeId | None) -> None:
        self._reset(term)
        self.leader = leader
        self.role = Role.FOLLOWER
        self._step_role = follower.step_follower
        self._tick_role = self._tick_election

    def become_pre_candidate(self) -> None:
        if self.role is Role.LEADER:
            raise InvariantViolation("a leader cannot become a pre-candidate")
        # a pre-candidate keeps its term and vote: a pre-vote changes no one's state
        self._step_role = election.step_candidate
        self._tick_role = self._tick_election
        self.forwarded_reads_drop()
        self.leader = None
        self.role = Role.PRE_CANDIDATE
        self.votes = election.empty_tally(self)

    def become_candidate(self) -> None:
        if self.role is Role.LEADER:
            raise InvariantViolation("a leader cannot become a candidate")
        self._reset(self.term + 1)
        self.vote = self._id
        self.role = Role.CANDIDATE
        self._step_role = election.step_candidate
        self._tick_role = self._tick_election
        self.votes = election.empty_tally(self)

    def become_leader(self) -> None:
        if self.role is Role.FOLLOWER:
            raise InvariantViolation("a follower cannot become leader without an election")
        self._reset(self.term)
        self.leader = self._id
        self.role = Role.LEADER
        self._step_role = replication.step_leader
        self._tick_role = self._tick_heartbeat
        last = self.log.last_index()
        cfg = self.config
        self.progress = {v: Progress(last + 1, cfg.max_inflight_msgs) for v in self.peers}
        me = self.progress[self._id] = Progress(last + 1, cfg.max_inflight_msgs)
        me.recent_active = True
        me.become_replicate()
        # The leader's own copy counts towards commit only once it is persisted.
        me.acknowledged(self.log.stable)
        # A no-op of the new term lets the leader commit (and so serve reads) at once.
        self.log.append(Entry(last + 1, self.term, b"", EntryKind.NOOP))
        replication.broadcast_append(self)
        replication.maybe_commit(self)

    # -- time -----------------------------------------------------------------------------
    def tick(self) -> None:
        self.ticks += 1
        if self.boot_ticks_left:
            self.boot_ticks_left -= 1
        self._tick_role()
        if not self.is_voter and self.role is Role.LEADER:
            membership.check_removed(self)

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if not self.is_voter:
            return  # a learner, a joiner or a removed node never campaigns
        if self.election_elapsed >= self.randomized_election_ticks:
            self.election_elapsed = 0
            election.start(self, transfer=False)

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.config.election_ticks:
            self.election_elapsed = 0
            if self.config.check_quorum and not replication.quorum_active(self):
                self.become_follower(self.term, None)
                return
            self.transfer_target = None  # a transfer that took this long has failed
        if self.heartbeat_elapsed >= self.config.heartbeat_ticks:
            self.heartbeat_elapsed = 0
            replication.broadcast_heartbeat(self, self.reads.last_round())

    # -- messages -------------------------------------------------------------------------
    def send(self, msg: Message) -> None:
        if self.role is Role.LEADER and type(msg) in _LEADER_EARLY:
            self.early_msgs.append(msg)
        else:
            self.msgs.append(msg)

    def step(self, message: Message) -> None:
        if not isinstance(message, RaftMessage) or message.dst != self._id:
            return
        if message.src == self._id:
            return
        m = message
        if m.term > self.term:
            if isinstance(m, RequestVote):
                if not m.transfer and self._in_lease():
                    return  # a leader is alive: do not let a stray candidate depose it
                if m.pre_vote:
                    election.handle_vote_request(self, m)
                    return
                self.become_follower(m.term, None)
            elif isinstance(m, RequestVoteResponse) and m.pre_vote and m.granted:
                pass  # a granted pre-vote carries the proposed term, not the voter's
            elif isinstance(m, AppendEntries | Heartbeat | InstallSnapshot):
                self.become_follower(m.term, m.src)
            else:
                self.become_follower(m.term, None)
        elif m.term < self.term:
            if isinstance(m, AppendEntries | Heartbeat) and (
                self.config.check_quorum or self.config.pre_vote
            ):
                # A stale leader: tell it our term so it steps down. (Without this, a
                # node that bumped its term in a partition could stall the cluster.)
                replication.reply_stale(self, m)
            elif isinstance(m, RequestVote) and m.pre_vote:
                self.send(RequestVoteResponse(self._id, m.src, self.term, False, True))
            return
        if isinstance(m, RequestVote):
            election.handle_vote_request(self, m)
            return
        self._step_role(self, m)
        if not self.is_voter and self.role is Role.LEADER:
            membership.check_removed(self)

    def _in_lease(self) -> bool:
        """Whether vote requests (other than a transfer's) are ignored: with check-quorum,
        for ``election_ticks`` after hearing from a leader, and (lease reads) after start."""
        if not self.config.check_quorum:
            return False
        if self.boot_ticks_left > 0:
            return True
        return self.leader is not None and self.election_elapsed < self.config.election_ticks

    # -- lease reads ----------------------------------------------------------------------
    def renew_lease(self, round_tick: int) -> None:
        """A quorum confirmed the read round started at tick ``round_tick`` (leader only)."""
        if self.lease_start is None or round_tick > self.lease_start:
            self.lease_start = round_tick

    def lease_holds(self) -> bool:
        """Whether this leader holds a read lease now (see the module docstring)."""
        cfg = self.config
        if self.role is not Role.LEADER or not cfg.lease_reads or self.lease_revoked:
            return False
        if self.transfer_target is not None:
            return False
        if self.voters == (self._id,):
            return True
        start = self.lease_start
        return start is not None and self.ticks < start + cfg.lease_ticks

    def lease_read_index(self) -> Index | None:
        """The index a lease read may be served at, now, without a read-index round: the
        commit index, when this node leads, holds its lease and has committed an entry of
        its term; else ``None`` (the caller runs :meth:`read_index` instead, whose
        confirmation also renews the lease). Changes nothing."""
        if not self.lease_holds() or self.log.term(self.log.committed) != self.term:
            return None
        return self.log.committed

    # -- client requests ----------------------------------------------------------------
    def propose(self, data: bytes) -> ProposalTicket:
        """Append ``data`` as a new entry; only a leader accepts proposals.

        Raises ``NotLeader`` on other roles, ``ProposalDropped`` during a leadership
        transfer or when ``max_uncommitted_entries`` entries already await commit.
        """
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader)
        if self.transfer_target is not None:
            raise ProposalDropped(f"leadership transfer to node {self.transfer_target} running")
        uncommitted = self.log.last_index() - self.log.committed
        if uncommitted >= self.config.max_uncommitted_entries:
            raise ProposalDropped(
                f"{uncommitted} entries await commit (max_uncommitted_entries="
                f"{self.config.max_uncommitted_entries})"
            )
        entry = Entry(self.log.last_index() + 1, self.term, data)
        self.log.append(entry)
        replication.broadcast_append(self, send_if_empty=False)
        return ProposalTicket(entry.index, entry.term)

    def propose_batch(self, datas: Sequence[bytes]) -> list[ProposalTicket]:
        """Append ``datas`` as that many :meth:`propose` calls would, but replicate them
        together: one AppendEntries per follower (more only past ``max_entries_per_msg``
        and within the in-flight window), instead of one per proposal.

        Takes the longest prefix that :meth:`propose` would take, one by one, and returns
        its tickets. Raises what :meth:`propose` raises only when it takes none (so a
        caller offering the rest again learns why they were refused).
        """
        if not datas:
            return []
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader)
        if self.transfer_target is not None:
            raise ProposalDropped(f"leadership transfer to node {self.transfer_target} running")
        log = self.log
        room = self.config.max_uncommitted_entries - (log.last_index() - log.committed)
        if room <= 0:
            raise ProposalDropped(
                f"{log.last_index() - log.committed} entries await commit "
                f"(max_uncommitted_entries={self.config.max_uncommitted_entries})"
            )
        term = self.term
        tickets: list[ProposalTicket] = []
        for data in datas[:room]:
            entry = Entry(log.last_index() + 1, term, data)
            log.append(entry)
            tickets.append(ProposalTicket(entry.index, term))
        replication.broadcast_new_entries(self)
        return tickets

    def read_index(self, context: bytes) -> None:
        """Start a linearizable read identified by ``context`` (unique per request).

        On the leader it completes once a quorum confirms leadership; a follower forwards
        it to the leader it knows, and drops it (``dropped_reads``) when it knows none.
        Beyond ``max_pending_reads`` waiting reads, new ones are dropped at once.
        """
        if self.role is Role.LEADER:
            replication.leader_read(self, context, self._id)
        elif self.leader is not None and len(self.forwarded_reads) < self.config.max_pending_reads:
            self.forwarded_reads.add(context)
            self.send(ReadIndex(self._id, self.leader, self.term, context))
        else:
            self.dropped_reads.append(context)

    def transfer_leadership(self, to: NodeId) -> None:
        """Hand leadership to ``to`` (dissertation section 3.10).

        The leader stops taking proposals, brings ``to`` up to date, then sends it
        ``TimeoutNow``. The transfer is abandoned after ``election_ticks`` ticks.
        """
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader)
        if to not in self.voters:
            role = " (a learner)" if self._membership.is_member(to) else ""
            raise ValueError(f"cannot transfer leadership to node {to}: not a voter{role}")
        if to == self._id:
            return
        self.transfer_target = to
        self.lease_revoked = True  # the target's campaign ignores the followers' leases
        self.election_elapsed = 0
        replication.continue_transfer(self)

    def compact(self, snapshot: Snapshot) -> None:
        """The driver took ``snapshot`` of the state machine at an applied index: keep it
        (to send to followers) and forget the entries it covers."""
        meta = snapshot.meta
        if self.snapshot is not None and meta.index <= self.snapshot.meta.index:
            return
        self.log.compact(meta.index, meta.term)
        self.snapshot = snapshot
        membership.compacted(self, meta.index)

    def forwarded_reads_drop(self) -> None:
        if self.forwarded_reads:
            self.dropped_reads.extend(sorted(self.forwarded_reads))
            self.forwarded_reads.clear()

    def _abort_leader_reads(self) -> None:
        for read in self.reads.drain():
            self.fail_read(read.context, read.origin)
        for context, origin in self.reads_before_commit:
            self.fail_read(context, origin)
        self.reads_before_commit = []

    def fail_read(self, context: bytes, origin: NodeId) -> None:
        if origin == self._id:
            self.dropped_reads.append(context)
        else:
            self.send(ReadIndexResponse(self._id, origin, self.term, context, 0, False))

    # -- Ready ----------------------------------------------------------------------------
    def has_ready(self) -> bool:
        log = self.log
        prev = self._prev_hard_state
        return bool(
            self.msgs
            or self.early_msgs
            or log.committed != prev.commit
            or log.stable < log.snapshot_index + len(log.entries)
            or log.committed > log.applied
            or self.term != prev.term
            or self.vote != prev.vote
            or self.read_states
            or self.dropped_reads
            or self.pending_snapshot is not None
        )

    def ready(self) -> Ready[HardState]:
        log = self.log
        prev = self._prev_hard_state
        term = self.term
        vote = self.vote
        commit = log.committed
        vouched_changed = term != prev.term or vote != prev.vote
        hs = HardState(term, vote, commit) if vouched_changed or commit != prev.commit else None
        entries = tuple(log.unstable()) if log.stable < log.last_index() else ()
        snap = self.pending_snapshot
        must_sync = bool(entries) or snap is not None or vouched_changed
        committed: tuple[Entry, ...] = ()
        if snap is None and commit > log.applied:
            committed = tuple(log.next_committed(self.config.max_committed_per_ready))
        return Ready(
            hard_state=hs,
            entries=entries,
            snapshot=snap,
            must_sync=must_sync,
            early_messages=tuple(self.early_msgs) if self.early_msgs else (),
            messages=tuple(self.msgs) if self.msgs else (),
            committed=committed,
            read_states=tuple(self.read_states) if self.read_states else (),
            dropped_reads=tuple(self.dropped_reads) if self.dropped_reads else (),
        )

    def advance(self, ready: Ready[HardState]) -> None:
        log = self.log
        if ready.hard_state is not None:
            self._prev_hard_state = ready.hard_state
        if ready.snapshot is not None:
            meta = ready.snapshot.meta
            if self.pending_snapshot is ready.snapshot:
                self.pending_snapshot = None
            if meta.index > log.applied:
                log.applied = meta.index
        if ready.entries:
            last = ready.entries[-1]
            log.stable_to(last.index, last.term)
            if self.role is Role.LEADER:
                replication.self_persisted(self)
                if not self.is_voter:
                    membership.check_removed(self)
        if ready.committed:
            log.applied_to(ready.committed[-1].index)
        if ready.messages:
            del self.msgs[: len(ready.messages)]
        if ready.early_messages:
            del self.early_msgs[: len(ready.early_messages)]
        if ready.read_states:
            del self.read_states[: len(ready.read_states)]
        if ready.dropped_reads:
            del self.dropped_reads[: len(ready.dropped_reads)]
        if log.applied > log.committed or log.committed > log.last_index():
            raise InvariantViolation(
                f"node {self._id}: applied {log.applied} <= committed {log.committed} "
                f"<= last {log.last_index()} does not hold"
            )
