"""The fault schedule: partitions that come and go, nodes that crash and restart.

Driven by its own seeded random stream and the run's :class:`FaultOptions`:

- partitions start at exponential intervals of mean ``partition_every_us``; each has a
  random shape (:mod:`.partitions`) and lasts a uniform time up to ``partition_us_max``;
  one partition at a time.
- crashes come at exponential intervals of mean ``crash_every_us``; a random node that is
  up crashes and restarts a uniform time up to ``downtime_us_max`` later. Any number of
  nodes may be down at once (a majority down is a fine safety test).
- torn crashes: with probability ``torn_crash_rate``, a node that has just sent a batch's
  ``early_messages`` crashes before that batch reaches its disk (see ``Cluster``).
- targeted strategies (see ``FaultOptions``): leader, reply, sync and churn crashes,
  deposed leaders, fsync latency.
- membership changes (``membership_every_us``, ``consensus sim --membership``): at
  exponential intervals the leader of the highest term is asked for one single-step
  change, drawn from the configuration in effect on it: promote a learner (or remove
  it), remove a voter (the leader itself a third of the time) when there are more voters
  than at the start, else add a non-member (a spare, or a node removed earlier, with
  whatever its storage holds) as a learner, or remove a voter (never below
  ``min(3, initial voters)``). Add, promote, remove is a replacement. A third of the
  requests are followed by another one to 1-3 ticks later, which usually finds the
  first still uncommitted and must be refused (``MembershipError``); and half of the
  new leaders are asked for one at once, before their no-op commits (refused too: the
  fix for the single-server bug). Generic over
  :class:`~consensus.core.ReconfigurableCore`: only ``status()``, ``membership()`` and
  ``propose_change()`` are used. Crashes and partitions pick among every node.

:meth:`Nemesis.heal` ends the fault phase: every link restored, every crashed node
restarted, and nothing more scheduled. Events: ``NEMESIS`` with payload ``(action, arg)``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import cast

from ..core import Ready, Role
from ..errors import NotLeader, ProposalDropped
from ..membership import ChangeKind, ConfChange, Membership, MembershipError
from ..storage.fs import CrashMode
from ..types import NodeId
from .cluster import Cluster
from .events import NEMESIS, SYNC, Clock, EventQueue
from .network import SimNetwork
from .options import FaultOptions
from .partitions import draw_partition
from .protocols import SimDisk

PARTITION = "partition"
UNPARTITION = "unpartition"
CRASH = "crash"
RESTART = "restart"
FSYNC_FAIL = "fsync-fail"
SYNC_CRASH = "sync-crash"
DEPOSE = "depose"
UNDEPOSE = "undepose"
MEMBER = "member"
MEMBER_AGAIN = "member-again"

DEPOSED_SLOWDOWN = 8
"""How much slower a deposed leader's clock runs while it is cut off."""
QUICK_RESTART_US = 3_000
"""Reply crashes restart within this: the node is back while the election goes on."""

CRASH_MODES = (CrashMode.POWER_LOSS, CrashMode.TORN, CrashMode.SCRAMBLED, CrashMode.PROCESS)
"""What a crash keeps of the unsynced bytes, when disk faults are on (one drawn per
crash); without them the storage's own model applies (MemoryStorage: power loss)."""
GARBLE_MODES = (CrashMode.TORN, CrashMode.SCRAMBLED)
"""The crash modes that write back unsynced bytes, which ``corrupt_rate`` garbles."""


class Nemesis:
    def __init__(
        self,
        cluster: Cluster,
        network: SimNetwork,
        queue: EventQueue,
        clock: Clock,
        rng: random.Random,
        faults: FaultOptions,
        tick_interval_us: int,
    ) -> None:
        self._cluster = cluster
        self._network = network
        self._queue = queue
        self._clock = clock
        self._rng = rng
        self._faults = faults
        self._min_us = tick_interval_us
        self._partitioned = False
        self._down: list[int] = []  # crashed nodes, in crash order
        self.active = True
        self.partitions = 0
        self.crashes = 0
        self.fsync_failures = 0
        self.changes = 0
        self.changes_refused = 0
        if faults.partition_every_us and len(cluster.nodes) > 1:
            self._later(self._exp(faults.partition_every_us), PARTITION, 0)
        if faults.crash_every_us:
            self._later(self._exp(faults.crash_every_us), CRASH, 0)
        if faults.torn_crash_rate or faults.leader_crash_rate or faults.churn_rate:
            cluster.crash_point = self.crash_point
        if faults.reply_crash_rate and cluster.spec.vouches is not None:
            cluster.reply_crash = self.reply_crash
        if faults.fsync_us_max:
            cluster.defer_sync = self.defer_sync
        if faults.deposed_every_us and len(cluster.nodes) > 2:
            self._later(self._exp(faults.deposed_every_us), DEPOSE, 0)
        self.slow_clock: Callable[[NodeId, int], None] | None = None
        """Set by the simulation: make a node's ticks this many times slower (1: normal)."""
        self.pin_clients: Callable[[NodeId | None], None] | None = None
        """Set by the simulation: send one client's operations to this node (None: stop)."""
        self._deposed: NodeId | None = None
        self._churned: dict[NodeId, int] = {}  # node -> last term it was asked to churn in
        if faults.fsync_fail_every_us:
            self._later(self._exp(faults.fsync_fail_every_us), FSYNC_FAIL, 0)
        if faults.membership_every_us:
            self._later(self._exp(faults.membership_every_us), MEMBER, 0)
            cluster.new_leader = self._new_leader_elected
        cluster.storage_failed = self.storage_failed

    def _exp(self, mean_us: int) -> int:
        return int(self._rng.expovariate(1.0 / mean_us))

    def _span(self, max_us: int) -> int:
        return self._min_us + int(self._rng.random() * max(max_us - self._min_us, 0))

    def _later(self, delay_us: int, action: str, arg: int) -> None:
        self._queue.push(self._clock.now_us + delay_us, NEMESIS, (action, arg))

    def fire(self, action: str, arg: int) -> str:
        """Carry out a scheduled action; returns what happened (for the trace)."""
        if not self.active and action != RESTART:
            return f"{action} skipped: healed"
        faults = self._faults
        if action == PARTITION:
            self._later(self._exp(faults.partition_every_us), PARTITION, 0)
            if self._partitioned:
                return "partition skipped: one is active"
            partition = draw_partition(self._rng, self._cluster.nodes)
            self._network.partition(partition.cut)
            self._partitioned = True
            self.partitions += 1
            self._later(self._span(faults.partition_us_max), UNPARTITION, 0)
            return f"partition {partition.describe()}"
        if action == UNPARTITION:
            if self._deposed is not None:
                return "unpartition skipped: a deposed leader is cut off"
            self._network.heal()
            self._partitioned = False
            return "partition healed"
        if action == CRASH:
            self._later(self._exp(faults.crash_every_us), CRASH, 0)
            up = [n for n in self._cluster.nodes if self._cluster.is_up(n)]
            if not up:
                return "crash skipped: every node is down"
            node = up[self._rng.randrange(len(up))]
            if faults.corrupt_rate:
                # Aim at a node with unsynced bytes on its disk: what garbling needs.
                dirty = [n for n in up if self._cluster.host(n).dirty]
                if dirty and self._rng.random() < faults.corrupt_rate:
                    node = dirty[self._rng.randrange(len(dirty))]
            mode = self._pick_crash_mode(node)
            self._cluster.crash(node)
            self._down.append(node)
            self.crashes += 1
            self._later(self._span(faults.downtime_us_max), RESTART, node)
            return f"crash node {node}{mode}"
        if action == RESTART:
            if arg not in self._down:
                return f"restart node {arg} skipped: already up"
            self._down.remove(arg)
            self._cluster.restart(arg)
            return f"restart node {arg}"
        if action == SYNC_CRASH:
            host = self._cluster.host(arg)
            if host.core is None or host.syncing is None:
                return f"crash node {arg} in its fsync skipped: not syncing"
            self._pick_crash_mode(arg)
            self._cluster.crash(arg)
            self._down.append(arg)
            self.crashes += 1
            self._later(self._span(faults.downtime_us_max), RESTART, arg)
            return f"crash node {arg} in its fsync"
        if action == DEPOSE:
            self._later(self._exp(faults.deposed_every_us), DEPOSE, 0)
            if self._partitioned:
                return "depose skipped: a partition is active"
            leader = self._leader()
            if leader is None:
                return "depose skipped: no leader"
            others = [n for n in self._cluster.nodes if n != leader]
            cut = frozenset((leader, n) for n in others) | frozenset((n, leader) for n in others)
            self._network.partition(cut)
            self._partitioned = True
            self._deposed = leader
            self.partitions += 1
            if self.slow_clock is not None:
                self.slow_clock(leader, DEPOSED_SLOWDOWN)
            if self.pin_clients is not None:
                self.pin_clients(leader)
            window_us = max(faults.partition_us_max, 100 * self._min_us)
            self._later(self._span(window_us), UNDEPOSE, 0)
            return f"depose leader {leader}: cut off from its peers, clock slowed, reads pinned"
        if action == UNDEPOSE:
            self._undepose()
            return "deposed leader reconnected"
        if action == FSYNC_FAIL:
            self._later(self._exp(faults.fsync_fail_every_us), FSYNC_FAIL, 0)
            up = [n for n in self._cluster.nodes if self._cluster.is_up(n)]
            if not up:
                return "fsync failure skipped: every node is down"
            node = up[self._rng.randrange(len(up))]
            self._disk(node).fs.fail_next_fsync()
            return f"node {node}'s next fsync fails"
        if action == MEMBER:
            self._later(self._exp(faults.membership_every_us), MEMBER, 0)
            return self._change()
        if action == MEMBER_AGAIN:
            return self._change()
        raise ValueError(f"unknown nemesis action {action!r}")

    # -- membership -----------------------------------------------------------------------
    def _change(self) -> str:
        """Ask the leader for one membership change (see the module docstring)."""
        leader = self._leader()
        if leader is None:
            return "membership change skipped: no leader"
        membership = self._cluster.membership(leader)
        if membership is None:
            return "membership change skipped: the core has no membership"
        change = self._pick_change(membership, leader)
        if change is None:
            return f"membership change skipped: nothing to change in {membership.describe()}"
        try:
            ticket = self._cluster.propose_change(leader, change)
        except (NotLeader, ProposalDropped, MembershipError) as exc:
            self.changes_refused += 1
            return f"membership {change.describe()} at node {leader} refused: {exc}"
        self.changes += 1
        if self._rng.random() < 1 / 3:
            self._later((1 + self._rng.randrange(3)) * self._min_us, MEMBER_AGAIN, 0)
        return f"membership {change.describe()} at node {leader} -> ({ticket.index}, {ticket.term})"

    def _new_leader_elected(self, node: NodeId) -> None:
        """Half of the time, ask a new leader for a change at once: before its no-op
        commits, which it must refuse (the fix for the single-server bug)."""
        if self.active and self._rng.random() < 0.5:
            self._later(0, MEMBER_AGAIN, 0)

    def _pick_change(self, m: Membership, leader: NodeId) -> ConfChange | None:
        rng = self._rng
        base = len(self._cluster.voters)
        floor = min(3, base)
        outsiders = [n for n in self._cluster.nodes if not m.is_member(n)]

        def remove_voter() -> ConfChange:
            if rng.random() < 1 / 3:
                return ConfChange(ChangeKind.REMOVE, leader)
            return ConfChange(ChangeKind.REMOVE, m.voters[rng.randrange(len(m.voters))])

        if m.learners:
            node = m.learners[rng.randrange(len(m.learners))]
            kind = ChangeKind.PROMOTE if rng.random() < 0.85 else ChangeKind.REMOVE
            return ConfChange(kind, node)
        if len(m.voters) > base:
            return remove_voter()
        if outsiders and (len(m.voters) <= floor or rng.random() < 0.7):
            return ConfChange(ChangeKind.ADD_LEARNER, outsiders[rng.randrange(len(outsiders))])
        if len(m.voters) > floor:
            return remove_voter()
        return None

    def crash_point(
        self, node: int, early: int, durable: bool, commits: bool
    ) -> tuple[int, bool] | None:
        """Asked by the cluster before a node's early send of a batch that must sync
        (``durable``) or commits entries: None goes on; ``(k, synced)`` sends k of the
        ``early`` messages and crashes the node, after the batch is on disk if
        ``synced``, else before any of it is."""
        if not self.active:
            return None
        faults = self._faults
        rng = self._rng
        churn = faults.churn_rate
        if faults.churn_until_us and self._clock.now_us >= faults.churn_until_us:
            churn = 0.0
        if churn and (commits or (durable and self._new_leader(node))) and rng.random() < churn:
            # Churn: the messages that follow a commit the leader just learned of reach
            # only some peers (possibly none); or a new leader's first appends, on its
            # own disk, reach at most a minority. It crashes and is back within a few
            # ticks.
            self._crashed_at_point(node, self._span(5 * self._min_us))
            if commits:
                return rng.randrange(early // 2 + 1), False
            return rng.randrange(max(1, early // 2)), True
        if not durable:
            return None
        if faults.torn_crash_rate and rng.random() < faults.torn_crash_rate:
            self._crashed_at_point(node, self._span(faults.downtime_us_max))
            return early, False
        if faults.leader_crash_rate and rng.random() < faults.leader_crash_rate:
            # Partial replication: fewer than half of the messages get out (a minority
            # of the followers), and the node is back after a few ticks.
            sent = rng.randrange(max(1, early // 2))
            self._crashed_at_point(node, self._span(5 * self._min_us))
            return sent, False
        return None

    def _new_leader(self, node: int) -> bool:
        """Is ``node`` a leader in a term in which it has not yet been asked about?"""
        core = self._cluster.host(node).core
        if core is None:
            return False
        st = core.status()
        if st.role is not Role.LEADER or self._churned.get(node) == st.term:
            return False
        self._churned[node] = st.term
        return True

    def reply_crash(self, node: int, rd: Ready[object]) -> bool:
        """Asked by the cluster when a node has just sent messages while holding
        unsynced state: crash now, if one of them vouches for durable state?"""
        vouches = self._cluster.spec.vouches
        if not self.active or vouches is None or not any(vouches(m) for m in rd.messages):
            return False
        if self._rng.random() >= self._faults.reply_crash_rate:
            return False
        self._crashed_at_point(node, 1 + int(self._rng.random() * QUICK_RESTART_US))
        return True

    def defer_sync(self, node: int, seq: int) -> bool:
        """A node starts a slow fsync: schedule its end (and maybe a crash inside it)."""
        faults = self._faults
        delay = 1 + int(self._rng.random() * faults.fsync_us_max)
        self._queue.push(self._clock.now_us + delay, SYNC, (node, seq))
        if self.active and faults.sync_crash_rate and self._rng.random() < faults.sync_crash_rate:
            self._later(int(self._rng.random() * delay), SYNC_CRASH, node)
        return True

    def _crashed_at_point(self, node: int, downtime_us: int) -> None:
        self._pick_crash_mode(node)
        self._down.append(node)
        self.crashes += 1
        self._later(downtime_us, RESTART, node)

    def _leader(self) -> NodeId | None:
        best: tuple[int, NodeId] | None = None
        for host in self._cluster.hosts:
            if host.core is not None:
                st = host.core.status()
                if st.role is Role.LEADER and (best is None or st.term > best[0]):
                    best = (st.term, host.id)
        return None if best is None else best[1]

    def _undepose(self) -> None:
        node = self._deposed
        if node is None:
            return
        self._deposed = None
        self._network.heal()
        self._partitioned = False
        if self.slow_clock is not None:
            self.slow_clock(node, 1)
        if self.pin_clients is not None:
            self.pin_clients(None)

    def storage_failed(self, node: int) -> None:
        """A node stops on a storage error (the cluster crashes it right after this):
        an operator restarts it later (at once if the fault phase is over)."""
        self.fsync_failures += 1
        self._down.append(node)
        self._pick_crash_mode(node)
        downtime = self._span(self._faults.downtime_us_max) if self.active else self._min_us
        self._later(downtime, RESTART, node)

    def _disk(self, node: int) -> SimDisk:
        # Disk faults are only drawn for a spec with make_disk_storage, whose storages
        # the simulation then uses: they are SimDisks.
        return cast(SimDisk, self._cluster.host(node).storage)

    def _pick_crash_mode(self, node: int) -> str:
        if not self._faults.disk:
            return ""
        mode = CRASH_MODES[self._rng.randrange(len(CRASH_MODES))]
        disk = self._disk(node)
        rate = self._faults.corrupt_rate
        if rate and mode is not CrashMode.PROCESS and self._rng.random() < rate:
            mode = GARBLE_MODES[self._rng.randrange(len(GARBLE_MODES))]
            disk.crash_mode = mode
            disk.garble = True
            return f" ({mode.value}, garbled)"
        disk.crash_mode = mode
        return f" ({mode.value})"

    def heal(self) -> str:
        """End the fault phase: restore every link, restart every crashed node."""
        self.active = False
        self._undepose()
        self._network.heal()
        self._partitioned = False
        restarted = list(self._down)
        self._down.clear()
        for node in restarted:
            self._cluster.restart(node)
        return f"healed; restarted {restarted}" if restarted else "healed"
