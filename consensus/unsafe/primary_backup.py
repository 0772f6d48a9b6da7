"""UNSAFE: asynchronous primary-backup with last-promoted-wins failover. LOSES DATA.

A test target for jepsen-lite (see :mod:`consensus.unsafe`), never for real data. The
model is Redis Cluster's replication without ``WAIT``:

- the **primary** takes a write, appends it to its history and applies it at once: the
  client's answer goes out before any backup has the write; it ships its history to the
  backups asynchronously (every heartbeat, and right after each write);
- a **backup** applies what its primary ships, in order; one that hears nothing from a
  primary for an election timeout promotes itself, with a new epoch above every epoch it
  knows (epochs are unique per node: ``k * n + position``). There is no vote: the last
  promoted (highest epoch) wins;
- a node that hears of a higher epoch follows its primary. If its history is not a
  prefix of the new primary's (it was a primary, or followed one, whose writes the new
  primary never got) the new primary sends it a **full resync** and what it had is
  discarded, acknowledged writes included.

History and log. The *history* is the sequence of commands a replica's state reflects,
numbered 1, 2, ... by the primary that created them; each item keeps the epoch that
created it, so ``(position, epoch)`` identifies a prefix (a primary only appends in its
own epoch). The *log* is the node's local, append-only record of what it applied, in
the driver's index space: command entries and resync entries (formats in
:mod:`.envelope`). Every local entry is committed (applied) as soon as it is persisted.
A full resync carries the primary's whole history (after its latest snapshot image, if
it restarted from one), so it is only for test-sized data.

Reads are served by the primary from its own state (``read_index`` answers at once).

Core contract: :mod:`consensus.core`; hard state: ``HardState(term=epoch, commit=last
local index)`` (the Raft storage keeps it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from ..core import Ready, Recovered, Role, Status
from ..errors import NotLeader
from ..messages import Message
from ..types import Entry, EntryKind, HardState, Index, NodeId, ProposalTicket, ReadState, Snapshot
from .envelope import EnvelopeError, decode_pb, decode_pb_image, pb_command, pb_reset
from .messages import PbAck, PbAppend, PbItem, PbReset

if TYPE_CHECKING:
    import random


@attrs.frozen(slots=True)
class PbConfig:
    """Knobs in ticks: ``election_ticks`` (a backup promotes after a random silence of
    ``election_ticks`` to ``2 * election_ticks``), ``heartbeat_ticks``,
    ``items_per_message`` (history items per :class:`PbAppend`)."""

    election_ticks: int = 10
    heartbeat_ticks: int = 2
    items_per_message: int = 512


class PrimaryBackupCore:
    """See the module docstring. Unsafe by design."""

    def __init__(
        self,
        node_id: NodeId,
        voters: Sequence[NodeId],
        rng: random.Random,
        *,
        config: PbConfig | None = None,
        recovered: Recovered[HardState] | None = None,
    ) -> None:
        if node_id not in voters:
            raise ValueError(f"node {node_id} is not one of the voters {list(voters)}")
        self._id = node_id
        self.voters = tuple(sorted(voters))
        self.rng = rng
        self.config = config or PbConfig()
        self.epoch = 0
        self.role = Role.FOLLOWER
        self.primary: NodeId | None = None
        # The history: an optional image (base_pos, base_term, bytes) and items after it.
        self.base_pos = 0
        self.base_term = 0
        self.image: bytes | None = None
        self.items: list[PbItem] = []
        self.last_index: Index = 0
        self._entries: list[Entry] = []  # to persist and commit
        self._replayed: list[Entry] = []  # recovered: to apply again (already durable)
        self._messages: list[Message] = []
        self._reads: list[ReadState] = []
        self._hs_dirty = False
        self._silence = 0
        self._timeout = self._new_timeout()
        self._since_heartbeat = 0
        self._sent: dict[NodeId, int] = {}  # primary: what each backup was sent up to
        self._match: dict[NodeId, int] = {}  # primary: what each backup last said it has
        if recovered is not None:
            self._recover(recovered)

    # -- recovery ---------------------------------------------------------------------
    def _recover(self, recovered: Recovered[HardState]) -> None:
        if recovered.hard_state is not None:
            self.epoch = recovered.hard_state.term
        snap = recovered.snapshot
        if snap is not None:
            pos, term, _ = decode_pb_image(snap.data)
            self.base_pos, self.base_term, self.image = pos, term, snap.data
            self.last_index = snap.meta.index
        for entry in recovered.entries:
            self._replay(entry)
            self.last_index = entry.index
        self._replayed = list(recovered.entries)  # the store restarts from the snapshot

    def _replay(self, entry: Entry) -> None:
        try:
            decoded = decode_pb(entry.data)
        except EnvelopeError:
            return  # not an entry this core wrote: nothing in the history
        if len(decoded) == 2:
            pos, command = decoded
            del self.items[max(pos - self.base_pos - 1, 0) :]
            self.items.append(PbItem(entry.term, command))
            return
        self.base_pos, self.base_term, self.image, items = decoded
        self.items = list(items)

    # -- the history ------------------------------------------------------------------
    @property
    def position(self) -> int:
        return self.base_pos + len(self.items)

    def _term_at(self, pos: int) -> int | None:
        if pos == self.base_pos:
            return self.base_term
        if self.base_pos < pos <= self.position:
            return self.items[pos - self.base_pos - 1].term
        return None

    def _append_local(self, term: int, data: bytes) -> Entry:
        self.last_index += 1
        entry = Entry(self.last_index, term, data, EntryKind.NORMAL)
        self._entries.append(entry)
        self._hs_dirty = True
        return entry

    # -- roles ------------------------------------------------------------------------
    def _new_timeout(self) -> int:
        e = self.config.election_ticks
        return self.rng.randint(e, 2 * e)

    def _next_epoch(self) -> int:
        n = len(self.voters)
        position = self.voters.index(self._id)
        epoch = (self.epoch // n + 1) * n + position
        return epoch if epoch > self.epoch else epoch + n

    def _promote(self) -> None:
        self.epoch = self._next_epoch()
        self.role = Role.LEADER
        self.primary = self._id
        self._hs_dirty = True
        peers = [peer for peer in self.voters if peer != self._id]
        self._sent = {peer: self.position for peer in peers}
        self._match = dict(self._sent)
        self._broadcast()

    def _follow(self, epoch: int, primary: NodeId | None) -> None:
        if epoch > self.epoch:
            self.epoch = epoch
            self._hs_dirty = True
        self.role = Role.FOLLOWER
        self.primary = primary
        self._silence = 0
        self._timeout = self._new_timeout()

    # -- inputs -----------------------------------------------------------------------
    @property
    def id(self) -> NodeId:
        return self._id

    def tick(self) -> None:
        if self.role is Role.LEADER:
            self._since_heartbeat += 1
            if self._since_heartbeat >= self.config.heartbeat_ticks:
                self._broadcast()
            return
        self._silence += 1
        if self._silence >= self._timeout:
            self._promote()

    def _broadcast(self) -> None:
        """A heartbeat: every backup is sent what it has not confirmed."""
        self._since_heartbeat = 0
        for peer in self.voters:
            if peer != self._id:
                self._sent[peer] = self._match.get(peer, self.position)
                self._ship(peer)

    def _ship(self, peer: NodeId) -> None:
        sent = min(self._sent.get(peer, self.position), self.position)
        if sent < self.base_pos:
            self._reset(peer)
            return
        start = sent - self.base_pos
        items = tuple(self.items[start : start + self.config.items_per_message])
        prev_term = self._term_at(sent)
        assert prev_term is not None
        self._messages.append(PbAppend(self._id, peer, self.epoch, sent, prev_term, items))
        self._sent[peer] = sent + len(items)

    def _reset(self, peer: NodeId) -> None:
        self._messages.append(
            PbReset(
                self._id,
                peer,
                self.epoch,
                self.base_pos,
                self.base_term,
                self.image,
                tuple(self.items),
            )
        )
        self._sent[peer] = self._match[peer] = self.position

    def step(self, message: Message) -> None:
        if message.dst != self._id:
            return
        if isinstance(message, PbAppend | PbReset):
            self._from_primary(message)
        elif isinstance(message, PbAck):
            self._ack(message)

    def _from_primary(self, m: PbAppend | PbReset) -> None:
        if m.epoch < self.epoch:
            self._messages.append(PbAck(self._id, m.src, self.epoch, self.position, False))
            return
        if m.epoch > self.epoch or self.role is not Role.FOLLOWER or self.primary != m.src:
            self._follow(m.epoch, m.src)
        self._silence = 0
        if isinstance(m, PbReset):
            self.base_pos, self.base_term, self.image = m.base_pos, m.base_term, m.image
            self.items = list(m.items)
            self._append_local(self.epoch, pb_reset(m.base_pos, m.base_term, m.image, m.items))
            self._messages.append(PbAck(self._id, m.src, self.epoch, self.position, True))
            return
        if m.prev_pos > self.position:  # a gap: ask for what is missing
            self._messages.append(PbAck(self._id, m.src, self.epoch, self.position, True))
            return
        if self._term_at(m.prev_pos) != m.prev_term:
            self._messages.append(PbAck(self._id, m.src, self.epoch, self.position, False))
            return
        pos = m.prev_pos
        for item in m.items:
            pos += 1
            mine = self._term_at(pos)
            if mine is not None:
                if mine == item.term:
                    continue
                # diverged after a matching prefix: a full resync puts it right
                self._messages.append(PbAck(self._id, m.src, self.epoch, self.position, False))
                return
            self.items.append(item)
            self._append_local(item.term, pb_command(pos, item.data))
        if m.items or m.prev_pos != self.position:
            self._messages.append(PbAck(self._id, m.src, self.epoch, self.position, True))

    def _ack(self, m: PbAck) -> None:
        if m.epoch > self.epoch:
            self._follow(m.epoch, None)
            return
        if self.role is not Role.LEADER or m.epoch != self.epoch:
            return
        if not m.ok or m.pos > self.position:
            # diverged, or holding items this primary never had (a backup is never
            # legitimately ahead of its primary): replace its state with ours
            self._reset(m.src)
        else:
            self._match[m.src] = m.pos  # the next heartbeat ships whatever is beyond

    def propose(self, data: bytes) -> ProposalTicket:
        if self.role is not Role.LEADER:
            raise NotLeader(self.primary)
        item = PbItem(self.epoch, data)
        self.items.append(item)
        entry = self._append_local(self.epoch, pb_command(self.position, data))
        for peer in self.voters:  # shipped at once, acknowledged without waiting
            if peer != self._id:
                self._ship(peer)
        return ProposalTicket(entry.index, entry.term)

    def read_index(self, context: bytes) -> None:
        if self.role is not Role.LEADER:
            raise NotLeader(self.primary)
        self._reads.append(ReadState(context, self.last_index))

    # -- output -----------------------------------------------------------------------
    def has_ready(self) -> bool:
        return bool(
            self._entries or self._replayed or self._messages or self._reads or self._hs_dirty
        )

    def ready(self) -> Ready[HardState]:
        hs = HardState(self.epoch, None, self.last_index) if self._hs_dirty else None
        entries = tuple(self._entries)
        return Ready(
            hard_state=hs,
            entries=entries,
            must_sync=hs is not None or bool(entries),
            messages=tuple(self._messages),
            committed=(*self._replayed, *entries),
            read_states=tuple(self._reads),
        )

    def advance(self, ready: Ready[HardState]) -> None:
        self._replayed.clear()
        del self._entries[: len(ready.entries)]
        del self._messages[: len(ready.messages)]
        del self._reads[: len(ready.read_states)]
        if ready.hard_state is not None and ready.hard_state == HardState(
            self.epoch, None, self.last_index
        ):
            self._hs_dirty = False

    def compact(self, snapshot: Snapshot) -> None:
        """Keep the driver's latest snapshot as the image a full resync starts from."""
        try:
            pos, term, _ = decode_pb_image(snapshot.data)
        except EnvelopeError:
            return
        if self.base_pos <= pos <= self.position and self._term_at(pos) == term:
            del self.items[: pos - self.base_pos]
            self.base_pos, self.base_term, self.image = pos, term, snapshot.data

    def status(self) -> Status:
        return Status(
            id=self._id,
            role=self.role,
            term=self.epoch,
            leader=self.primary,
            commit_index=self.last_index,
            applied_index=self.last_index,
            last_index=self.last_index,
        )
