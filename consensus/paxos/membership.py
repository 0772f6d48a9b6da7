"""Multi-Paxos membership: the configuration carried in the log, stop-the-world changes.

The rule (see ``docs/paxos.md``, "Membership", for the safety argument):

- ``config(t)``, the configuration *governing* slot ``t``, is the one of the last CONFIG
  entry chosen at a slot ``< t`` (or the snapshot's, or the one the node was built with).
  :meth:`ConfigHistory.at` ``(i)`` is the configuration *as of* slot ``i``: the one
  governing ``i + 1``. A node's own configuration (who it sends to, whether it may
  campaign or promise) is ``config(commit + 1)``: it knows every chosen value below it.
- Stop-the-world with a drain. A leader proposes a fresh CONFIG at slot ``s`` only once
  every slot below ``s`` is chosen and known to it (``commit == s - 1``: so the entry is
  exactly ``config(s)`` with one change applied), and proposes nothing above ``s`` until
  ``s`` is chosen. Then, if the voters changed, it runs phase 1 again (a new ballot)
  with the new configuration's quorum for the slots above ``s``; if it removed itself, it
  steps down instead.
- A new leader's phase 1 uses ``config(commit + 1)`` and is good only for slots that
  configuration governs: it first fetches the chosen values below the highest commit
  index a promise reported, and starts over if that changed its configuration; among
  the votes it re-proposes it stops at the first CONFIG one (as for a fresh change).

This module holds the bookkeeping (:class:`ConfigHistory`, :class:`PendingChange`) and the
hooks the core, :mod:`.election` and :mod:`.leader` call; the protocol code stays there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from ..core import Role
from ..errors import InvariantViolation, NotLeader, ProposalDropped
from ..membership import ChangeKind, ConfChange, Membership, MembershipError
from ..messages import AcceptedRecord, CatchUp
from ..quorum import VoteResult
from ..types import Entry, EntryKind, Index, NodeId, ProposalTicket, SnapshotMeta

if TYPE_CHECKING:
    from .core import PaxosCore


def as_membership(voters: Sequence[NodeId] | Membership) -> Membership:
    """The constructor's ``voters`` argument as a configuration."""
    if isinstance(voters, Membership):
        return voters
    ids = list(voters)
    if len(set(ids)) != len(ids):
        raise MembershipError(f"voters must be distinct, got {ids}")
    return Membership.of(ids)


def of_meta(meta: SnapshotMeta) -> Membership:
    """The configuration a snapshot's meta records (as of its index)."""
    return Membership(meta.voters, meta.learners, meta.addresses)


def decode_entry(entry: Entry) -> Membership:
    """The configuration a CONFIG entry carries (``InvariantViolation`` if malformed:
    chosen values come from leaders of this code)."""
    try:
        return Membership.decode(entry.data)
    except MembershipError as exc:
        raise InvariantViolation(f"slot {entry.index}: bad CONFIG entry: {exc}") from None


class ConfigHistory:
    """Known configurations by slot: ``base`` (as of the snapshot index, or the initial
    one as of slot 0) and every chosen CONFIG entry above it, learned in any order."""

    __slots__ = ("_at", "base_index")

    def __init__(self, base_index: Index, base: Membership) -> None:
        self.base_index = base_index
        self._at: dict[Index, Membership] = {base_index: base}

    def learn(self, entry: Entry) -> None:
        """Record a chosen entry if it is a CONFIG one (idempotent)."""
        if entry.kind is EntryKind.CONFIG and entry.index > self.base_index:
            self._at[entry.index] = decode_entry(entry)

    def at(self, index: Index) -> Membership:
        """The configuration as of slot ``index`` (it governs ``index + 1``), from the
        CONFIG entries known; below the base, the base's."""
        best = self.base_index
        for slot in self._at:
            if best < slot <= index:
                best = slot
        return self._at[best]

    def latest(self) -> Membership:
        """The configuration of the highest CONFIG slot known (chosen, maybe above the
        commit index)."""
        return self._at[max(self._at)]

    def slots(self) -> list[Index]:
        """Slots of the known CONFIG entries above the base, ascending."""
        return sorted(s for s in self._at if s > self.base_index)

    def rebase(self, index: Index, membership: Membership) -> None:
        """A snapshot now stands for every slot up to ``index``: forget what it covers."""
        if index <= self.base_index:
            return
        self._at = {s: m for s, m in self._at.items() if s > index}
        self._at[index] = membership
        self.base_index = index


@attrs.define(slots=True)
class PendingChange:
    """The leader's configuration change in flight: ``entry`` (CONFIG, carrying
    ``membership``) at ``entry.index``. ``sent`` once proposed (phase 2 started; before
    that the leader drains the slots below it); ``adopted`` when phase 1 found it (a vote
    of an earlier leader) rather than a client asking."""

    entry: Entry
    membership: Membership
    sent: bool = False
    adopted: bool = False


# -- the node's own configuration -------------------------------------------------------
def refresh(core: PaxosCore) -> bool:
    """Set ``core.config_now`` (and the voter and peer lists) to ``config(commit + 1)``;
    True iff that changed the voters."""
    now = core.configs.at(core.chosen.commit)
    if now == core.config_now and core.voters:
        return False
    changed = now.voters != core.config_now.voters
    core.config_now = now
    core.voters = now.voters
    core.peers = tuple(n for n in now.members if n != core.id)
    core.voter_peers = tuple(n for n in now.voters if n != core.id)
    return changed


def is_voter(core: PaxosCore) -> bool:
    return core.config_now.is_voter(core.id)


def current(core: PaxosCore) -> Membership:
    """``membership()``: on a leader, the configuration governing its next unproposed
    slot (its change in flight included); elsewhere ``config(commit + 1)``."""
    pending = core.pending_change
    if core.role is Role.LEADER and pending is not None:
        return pending.membership
    return core.config_now


def progress(core: PaxosCore) -> tuple[tuple[NodeId, Index], ...]:
    """On the leader: each member's commit index as last reported (its own: its commit
    index), for every member of :func:`current`; empty elsewhere."""
    lead = core.lead
    if core.role is not Role.LEADER or lead is None:
        return ()
    out = []
    for node in current(core).members:
        index = core.chosen.commit if node == core.id else lead.peer_commit.get(node, 0)
        out.append((node, index))
    return tuple(out)


# -- leader: proposing a change ---------------------------------------------------------
def propose_change(core: PaxosCore, change: ConfChange) -> ProposalTicket:
    """See :meth:`PaxosCore.propose_change`."""
    lead = core.lead
    if core.role is not Role.LEADER or lead is None:
        raise NotLeader(core.leader)
    pending = core.pending_change
    if pending is not None:
        raise MembershipError(
            f"another configuration change is in flight at slot {pending.entry.index} "
            f"({pending.membership.describe()}); retry once it is chosen"
        )
    ahead = unapplied_config(core)
    if ahead is not None:
        raise MembershipError(
            f"a configuration change chosen at slot {ahead} is not applied here yet "
            f"(commit index {core.chosen.commit}); retry once it is"
        )
    base = core.config_now  # exact: nothing below the next slot can change it now
    new = base.apply(change)  # MembershipError when it does not apply
    if change.kind is ChangeKind.PROMOTE:
        lag = core.config.learner_max_lag
        at = lead.peer_commit.get(change.node, 0)
        if core.chosen.commit - at > lag:
            raise MembershipError(
                f"node {change.node} has not caught up: it reported slot {at}, the leader "
                f"is at {core.chosen.commit} (learner_max_lag={lag}); retry later"
            )
    uncommitted = lead.next_slot - 1 - core.chosen.commit
    if uncommitted >= core.config.max_uncommitted_entries:
        raise ProposalDropped(
            f"{uncommitted} slots await commit (max_uncommitted_entries="
            f"{core.config.max_uncommitted_entries})"
        )
    slot = lead.next_slot
    entry = Entry(slot, lead.ballot.as_term(), new.encode(), EntryKind.CONFIG)
    lead.next_slot = slot + 1  # reserved: nothing else goes at or above it
    core.pending_change = PendingChange(entry, new)
    _maybe_send(core)
    return ProposalTicket(entry.index, entry.term)


def refuse_proposal(core: PaxosCore) -> None:
    """A leader with a change in flight takes no proposals (stop-the-world)."""
    pending = core.pending_change
    if pending is not None:
        raise ProposalDropped(
            f"a configuration change is in flight at slot {pending.entry.index}; "
            "proposals resume once it is chosen"
        )


def _maybe_send(core: PaxosCore) -> None:
    """Drain done (every slot below the change is chosen): start its phase 2."""
    from . import leader

    pending = core.pending_change
    if pending is None or pending.sent or core.chosen.commit < pending.entry.index - 1:
        return
    pending.sent = True
    leader.propose_entry(core, pending.entry)


def unapplied_config(core: PaxosCore) -> Index | None:
    """The first CONFIG slot known chosen above the commit index (learned out of order):
    until the commit index passes it, this node's configuration is not exact."""
    commit = core.chosen.commit
    ahead = [s for s in core.configs.slots() if s > commit]
    return min(ahead) if ahead else None


# -- phase 1 ----------------------------------------------------------------------------
def may_win(core: PaxosCore) -> bool:
    """Called by ``election.win`` with a won phase 1: True iff the phase 1 is good for
    the slots it is about to propose at. Otherwise it fetches the chosen values below
    the highest reported commit index first (they may hold a CONFIG entry), or starts
    over when they changed this node's configuration."""
    from . import election, follower

    p1 = core.phase1
    if p1 is None:
        return False
    if p1.max_commit > core.chosen.commit:
        core.known_commit = max(core.known_commit, p1.max_commit)
        if p1.max_commit_node is not None:
            follower.request_catch_up(core, p1.max_commit_node)
        return False
    ahead = unapplied_config(core)
    if ahead is not None:
        # a CONFIG known chosen above the commit index: learn the slots below it first
        # (every slot below a chosen CONFIG was chosen before it: the drain), asking
        # every voter, since none of the promises reported them
        core.known_commit = max(core.known_commit, ahead)
        if core.catchup_wait == 0:
            core.catchup_wait = core.config.election_ticks
            for peer in core.voter_peers:
                core.send(CatchUp(core.id, peer, core.chosen.commit + 1))
        return False
    if core.campaign_voters != core.voters:
        if is_voter(core):
            election.campaign(core)
        else:
            core.become_follower(None)
        return False
    return True


def frontier_stop(
    core: PaxosCore, votes: dict[Index, AcceptedRecord], lo: Index, hi: Index
) -> Index:
    """The last slot a new leader re-proposes at in ``lo..hi``: the first one whose
    adopted vote is a CONFIG entry (it becomes the change in flight), else ``hi``."""
    for slot in sorted(s for s in votes if lo <= s <= hi):
        entry = votes[slot].entry
        if entry.kind is EntryKind.CONFIG and not core.chosen.knows(slot):
            core.pending_change = PendingChange(entry, decode_entry(entry), True, True)
            return slot
    return hi


# -- commit moved -----------------------------------------------------------------------
def on_commit(core: PaxosCore) -> None:
    """The commit index moved: follow the configuration, finish a phase 1 that waited
    for chosen values, send a drained change, act on a chosen one."""
    from . import election, leader

    old_members = core.config_now.members
    voters_changed = refresh(core)
    if core.role is Role.CANDIDATE:
        p1 = core.phase1
        if not is_voter(core):
            core.become_follower(None)
        elif p1 is not None and p1.result() is VoteResult.WON:
            election.win(core)
        elif voters_changed:
            election.campaign(core)
        return
    if core.role is not Role.LEADER:
        return
    pending = core.pending_change
    if pending is None:
        if not is_voter(core):
            core.become_follower(None)
        elif voters_changed:  # not expected (see the module doc), but never lead on a stale quorum
            election.campaign(core)
        return
    slot = pending.entry.index
    if core.chosen.commit < slot:
        _maybe_send(core)
        return
    # the change is chosen (learn() already checked it is our value, else we stepped down)
    core.pending_change = None
    lead = core.lead
    if lead is not None:
        for peer in sorted(set(old_members) | set(core.config_now.members)):
            if peer != core.id:  # tell old and new members at once, whatever announce_commit
                core.outbox.announce(core.id, peer, lead.ballot, core.chosen.commit)
    if not is_voter(core):
        core.become_follower(None)  # removed itself: step down
    elif voters_changed or pending.adopted:
        election.campaign(core)  # phase 1 again, with the new quorum, above the change
    else:
        leader.broadcast_heartbeat(core)  # learners only changed: carry on


def snapshot_meta(core: PaxosCore, meta: SnapshotMeta) -> SnapshotMeta:
    """``meta`` with the membership as of its index, as this node knows it."""
    m = core.configs.at(meta.index)
    return attrs.evolve(meta, voters=m.voters, learners=m.learners, addresses=m.addresses)
