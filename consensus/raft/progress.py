"""What a leader knows about one follower's log, and how it paces replication to it.

States (as in etcd/raft):
- PROBE: the leader does not know where the follower's log matches; it sends one
  AppendEntries and waits for the answer (or a heartbeat answer) before the next.
- REPLICATE: the logs match up to ``match``; the leader streams entries optimistically,
  at most ``max_inflight`` messages ahead of the acknowledgements.
- SNAPSHOT: the follower needs entries the leader compacted away; the leader sends
  InstallSnapshot chunks one at a time from ``snapshot_offset``.

Invariant: ``match < next_index``.
"""

from __future__ import annotations

import enum
from collections import deque

from ..types import Index


class ProgressState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


class Progress:
    __slots__ = (
        "acked_since_heartbeat",
        "inflight",
        "match",
        "max_inflight",
        "next_index",
        "paused",
        "recent_active",
        "snapshot_index",
        "snapshot_offset",
        "state",
    )

    def __init__(self, next_index: Index, max_inflight: int) -> None:
        self.match: Index = 0
        self.next_index: Index = next_index
        self.state = ProgressState.PROBE
        self.paused = False
        self.recent_active = False
        self.acked_since_heartbeat = False
        self.max_inflight = max_inflight
        self.inflight: deque[Index] = deque()  # last index of each message in flight
        self.snapshot_index: Index = 0
        self.snapshot_offset = 0

    def is_paused(self) -> bool:
        if self.state is ProgressState.PROBE:
            return self.paused
        if self.state is ProgressState.REPLICATE:
            return len(self.inflight) >= self.max_inflight
        return True

    def become_probe(self) -> None:
        if self.state is ProgressState.SNAPSHOT:
            self.next_index = max(self.match + 1, self.snapshot_index + 1)
        else:
            self.next_index = self.match + 1
        self._reset(ProgressState.PROBE)

    def become_replicate(self) -> None:
        self.next_index = self.match + 1
        self._reset(ProgressState.REPLICATE)

    def become_snapshot(self, snapshot_index: Index) -> None:
        self._reset(ProgressState.SNAPSHOT)
        self.snapshot_index = snapshot_index

    def _reset(self, state: ProgressState) -> None:
        self.state = state
        self.paused = False
        self.inflight.clear()
        self.snapshot_index = 0
        self.snapshot_offset = 0

    def sent(self, last_index: Index | None) -> None:
        """Record an AppendEntries just sent, whose last entry is ``last_index``."""
        if self.state is ProgressState.REPLICATE:
            if last_index is not None:
                self.next_index = last_index + 1
                self.inflight.append(last_index)
        elif self.state is ProgressState.PROBE:
            self.paused = True

    def acknowledged(self, index: Index) -> bool:
        """The follower matches up to ``index``. Returns whether ``match`` moved."""
        inflight = self.inflight
        while inflight and inflight[0] <= index:
            inflight.popleft()
        self.paused = False
        self.acked_since_heartbeat = True
        if index > self.match:
            self.match = index
            self.next_index = max(self.next_index, index + 1)
            return True
        return False

    def rejected(self, rejected: Index, probe_from: Index) -> bool:
        """The follower refused ``prev_index = rejected``. Back off to ``probe_from + 1``
        (never below ``match + 1``). Returns False for a stale rejection."""
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False  # an old message overtaken by acknowledgements
            self.next_index = self.match + 1
            return True
        if self.next_index - 1 != rejected:
            return False  # answers a probe other than the latest
        self.next_index = max(min(rejected, probe_from + 1), self.match + 1)
        self.paused = False
        return True
