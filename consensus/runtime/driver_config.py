"""The driver's knobs (:class:`DriverConfig`) and its status report (:class:`NodeStatus`).

Plain records, re-exported by :mod:`consensus.runtime.driver` and
:mod:`consensus.runtime`.
"""

from __future__ import annotations

import attrs

from ..membership import Membership
from ..types import Index, NodeId, Term


@attrs.frozen(slots=True)
class DriverConfig:
    """Runtime knobs; times in seconds of Trio time.

    - ``tick_s``: one core tick (the core's election and heartbeat timeouts are in ticks).
    - ``proposals_waiting_max`` / ``reads_waiting_max``: back-pressure bounds.
    - ``read_round_timeout_s``: a read-index round unanswered this long is failed with
      ``Timeout`` so the reads queued behind it can go.
    - ``snapshot_entries``: snapshot the state machine and compact the log every this
      many applied entries (0: never).
    - ``sync_in_thread``: run ``storage.sync`` in a worker thread, so that the node
      keeps stepping messages and applying already-durable entries while the disk
      works. Off, the fsync runs in the Ready loop itself: less CPU and no thread
      hand-off latency (the node process uses that, see ``NodeConfig``), but the loop
      blocks for the fsync's duration; also off for in-memory storage under
      ``MockClock``, where a thread would let the clock jump.
    - ``compact_in_thread``: run ``storage.compact`` (which writes a whole snapshot) in
      a worker thread; None means the same as ``sync_in_thread``.
    - ``subscriber_entries_max``: a committed-entry subscriber this far behind is cut off.
    - ``yield_before_sync``: with ``sync_in_thread`` off, let other tasks run once
      before the inline fsync (what was just queued goes out while the disk works). Off
      where a fsync takes no time (the sim environment's virtual disks): one scheduler
      pass less per fsync, the same order of events in virtual time.
    - ``external_ticks``: start no ticker task; whoever runs the driver calls
      :meth:`Driver.tick` every ``tick_s / clock.rate`` instead (the sim environment
      ticks all its nodes from one timer). Off (the default), the driver ticks itself.
    """

    tick_s: float = 0.01
    proposals_waiting_max: int = 16384
    reads_waiting_max: int = 16384
    read_round_timeout_s: float = 2.0
    snapshot_entries: int = 20_000
    sync_in_thread: bool = True
    compact_in_thread: bool | None = None
    subscriber_entries_max: int = 4096
    inbox_batch_max: int = 4096
    yield_before_sync: bool = True
    external_ticks: bool = False

    def __attrs_post_init__(self) -> None:
        if self.tick_s <= 0:
            raise ValueError(f"DriverConfig.tick_s must be > 0, got {self.tick_s}")
        for name in (
            "proposals_waiting_max",
            "reads_waiting_max",
            "subscriber_entries_max",
            "inbox_batch_max",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"DriverConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.snapshot_entries < 0:
            raise ValueError(
                f"DriverConfig.snapshot_entries must be >= 0, got {self.snapshot_entries}"
            )


@attrs.frozen(slots=True)
class NodeStatus:
    """What ``status`` reports: the core's view plus the driver's applied index."""

    id: NodeId
    role: str
    term: Term
    leader: NodeId | None
    commit_index: Index
    applied_index: Index
    last_index: Index
    snapshot_index: Index
    membership: Membership | None = None
    """The configuration in effect on this node (the core's: its latest, committed or
    not); None for a core without membership."""
    applied_membership: Membership | None = None
    """The configuration as of the applied index (the last committed CONFIG entry
    applied here, or the snapshot's)."""
    progress: tuple[tuple[NodeId, Index], ...] = ()
    """On a leader: ``(member, match index)`` for every member (see ``Status``)."""
