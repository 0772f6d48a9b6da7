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

:meth:`Nemesis.heal` ends the fault phase: every link restored, every crashed node
restarted, and nothing more scheduled. Events: ``NEMESIS`` with payload ``(action, arg)``.
"""

from __future__ import annotations

import random
from typing import cast

from ..storage.fs import CrashMode
from .cluster import Cluster
from .events import NEMESIS, Clock, EventQueue
from .network import SimNetwork
from .options import FaultOptions
from .partitions import draw_partition
from .protocols import SimDisk

PARTITION = "partition"
UNPARTITION = "unpartition"
CRASH = "crash"
RESTART = "restart"
FSYNC_FAIL = "fsync-fail"

CRASH_MODES = (CrashMode.POWER_LOSS, CrashMode.TORN, CrashMode.SCRAMBLED, CrashMode.PROCESS)
"""What a crash keeps of the unsynced bytes, when disk faults are on (one drawn per
crash); without them the storage's own model applies (MemoryStorage: power loss)."""


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
        if faults.partition_every_us and len(cluster.voters) > 1:
            self._later(self._exp(faults.partition_every_us), PARTITION, 0)
        if faults.crash_every_us:
            self._later(self._exp(faults.crash_every_us), CRASH, 0)
        if faults.torn_crash_rate:
            cluster.crash_point = self.crash_point
        if faults.fsync_fail_every_us:
            self._later(self._exp(faults.fsync_fail_every_us), FSYNC_FAIL, 0)
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
            partition = draw_partition(self._rng, self._cluster.voters)
            self._network.partition(partition.cut)
            self._partitioned = True
            self.partitions += 1
            self._later(self._span(faults.partition_us_max), UNPARTITION, 0)
            return f"partition {partition.describe()}"
        if action == UNPARTITION:
            self._network.heal()
            self._partitioned = False
            return "partition healed"
        if action == CRASH:
            self._later(self._exp(faults.crash_every_us), CRASH, 0)
            up = [n for n in self._cluster.voters if self._cluster.is_up(n)]
            if not up:
                return "crash skipped: every node is down"
            node = up[self._rng.randrange(len(up))]
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
        if action == FSYNC_FAIL:
            self._later(self._exp(faults.fsync_fail_every_us), FSYNC_FAIL, 0)
            up = [n for n in self._cluster.voters if self._cluster.is_up(n)]
            if not up:
                return "fsync failure skipped: every node is down"
            node = up[self._rng.randrange(len(up))]
            self._disk(node).fs.fail_next_fsync()
            return f"node {node}'s next fsync fails"
        raise ValueError(f"unknown nemesis action {action!r}")

    def crash_point(self, node: int) -> bool:
        """Asked by the cluster between a node's early send and its fsync: crash now?"""
        if not self.active or self._rng.random() >= self._faults.torn_crash_rate:
            return False
        self._pick_crash_mode(node)
        self._down.append(node)
        self.crashes += 1
        self._later(self._span(self._faults.downtime_us_max), RESTART, node)
        return True

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
        self._disk(node).crash_mode = mode
        return f" ({mode.value})"

    def heal(self) -> str:
        """End the fault phase: restore every link, restart every crashed node."""
        self.active = False
        self._network.heal()
        self._partitioned = False
        restarted = list(self._down)
        self._down.clear()
        for node in restarted:
            self._cluster.restart(node)
        return f"healed; restarted {restarted}" if restarted else "healed"
