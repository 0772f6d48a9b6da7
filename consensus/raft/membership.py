"""Membership bookkeeping of a Raft core: the CONFIG entries it tracks, the configuration
in effect, and how a change is checked and appended (see ``docs/raft.md``).

Functions over a :class:`~consensus.raft.core.RaftCore`, as :mod:`.replication` and
:mod:`.follower` are. The core keeps ``_base_membership`` (the snapshot's configuration,
else the one it was built with), ``_configs`` (``(index, Membership)`` of every CONFIG
entry in its log, in index order), ``config_at`` (the index of the last one, 0 if none)
and ``_membership`` (the one in effect: the last CONFIG entry's, else the base).
Invariant: ``_configs`` lists exactly the CONFIG entries of the log above its snapshot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import Role
from ..errors import NotLeader, ProposalDropped
from ..membership import ChangeKind, ConfChange, Membership, MembershipError
from ..types import Entry, EntryKind, Index, ProposalTicket, SnapshotMeta
from . import replication
from .progress import Progress

if TYPE_CHECKING:
    from .core import RaftCore


def of_meta(meta: SnapshotMeta, fallback: Membership) -> Membership:
    """The configuration a snapshot records (``fallback`` for a meta without voters)."""
    if not meta.voters:
        return fallback
    return Membership(meta.voters, meta.learners, meta.addresses)


def at(core: RaftCore, index: Index) -> Membership:
    """The configuration as of ``index`` (see ``RaftCore.membership_at``)."""
    for where, membership in reversed(core._configs):
        if where <= index:
            return membership
    return core._base_membership


def propose_change(core: RaftCore, change: ConfChange) -> ProposalTicket:
    """``RaftCore.propose_change``: check the change, then append it as a CONFIG entry
    that takes effect here at once."""
    if core.role is not Role.LEADER:
        raise NotLeader(core.leader)
    if core.transfer_target is not None:
        raise ProposalDropped(f"leadership transfer to node {core.transfer_target} running")
    log = core.log
    what = change.describe()
    if not core._committed_in_term():
        raise MembershipError(
            f"cannot {what} yet: the leader has not committed an entry of its term "
            f"{core.term} (its no-op); retry shortly"
        )
    pending = core._uncommitted_change()
    if pending:
        raise MembershipError(
            f"cannot {what}: the change at index {pending} "
            f"({core._membership.describe()}) is not committed yet; one change at a time"
        )
    new = core._membership.apply(change)
    cfg = core.config
    if change.kind is ChangeKind.PROMOTE:
        match = core.progress[change.node].match
        lag = log.last_index() - match
        if lag > cfg.max_promote_lag:
            raise MembershipError(
                f"cannot {what}: it is {lag} entries behind the leader (match {match}, "
                f"last {log.last_index()}; max_promote_lag={cfg.max_promote_lag})"
            )
    uncommitted = log.last_index() - log.committed
    if uncommitted >= cfg.max_uncommitted_entries:
        raise ProposalDropped(
            f"{uncommitted} entries await commit (max_uncommitted_entries="
            f"{cfg.max_uncommitted_entries})"
        )
    entry = Entry(log.last_index() + 1, core.term, new.encode(), EntryKind.CONFIG)
    core._configs.append((entry.index, new))
    core.config_at = entry.index
    set_membership(core, new)  # new members' progress starts at this entry
    log.append(entry)
    replication.broadcast_append(core, send_if_empty=False)
    return ProposalTicket(entry.index, entry.term)


def set_membership(core: RaftCore, m: Membership) -> None:
    """Make ``m`` the configuration in effect: voters, peers, and a leader's progress."""
    me = core.id
    core._membership = m
    core.voters = m.voters
    core.peers = tuple(n for n in m.members if n != me)
    core.voter_peers = tuple(n for n in m.voters if n != me)
    core.is_voter = me in m.voters
    if core.role is Role.LEADER:
        # A lease was confirmed by a quorum of the old voters only: start over.
        core.lease_start = None
        progress = core.progress
        for n in core.peers:
            if n not in progress:
                progress[n] = Progress(core.log.last_index() + 1, core.config.max_inflight_msgs)
        for n in [n for n in progress if n != me and not m.is_member(n)]:
            del progress[n]


def refresh(core: RaftCore) -> None:
    """Recompute ``config_at`` and the configuration in effect from ``_configs``."""
    core.config_at = core._configs[-1][0] if core._configs else 0
    m = core._configs[-1][1] if core._configs else core._base_membership
    if m is not core._membership:
        set_membership(core, m)


def resync(core: RaftCore, from_index: Index) -> None:
    """The log may have changed from ``from_index`` on (appended or truncated): rebuild
    the CONFIG entries tracked from there and the configuration in effect."""
    configs = [c for c in core._configs if c[0] < from_index]
    log = core.log
    for index in range(max(from_index, log.first_index()), log.last_index() + 1):
        e = log.entry(index)
        if e.kind is EntryKind.CONFIG:
            configs.append((index, Membership.decode(e.data)))
    core._configs = configs
    refresh(core)


def restored_snapshot(core: RaftCore, meta: SnapshotMeta) -> None:
    """The log was replaced by ``meta``'s boundary (InstallSnapshot): its configuration
    is now the one in effect."""
    core._base_membership = of_meta(meta, core._base_membership)
    core._configs = []
    refresh(core)


def compacted(core: RaftCore, index: Index) -> None:
    """The log was compacted up to ``index``: the base becomes the configuration as of
    it, and the CONFIG entries it covers are forgotten."""
    core._base_membership = at(core, index)
    core._configs = [c for c in core._configs if c[0] > index]
    refresh(core)


def check_removed(core: RaftCore) -> None:
    """A leader that is no longer a voter steps down once its removal committed."""
    if core.role is Role.LEADER and not core.is_voter and core.config_at <= core.log.committed:
        replication.broadcast_heartbeat(core, None)  # the followers learn the commit
        core.become_follower(core.term, None)
