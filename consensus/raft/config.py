"""Raft's knobs, validated once, with the defaults a three-to-seven node cluster wants."""

from __future__ import annotations

import math

import attrs


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"RaftConfig.{attribute.name} must be >= 1, got {value}")


def _non_negative(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"RaftConfig.{attribute.name} must be >= 0, got {value}")


@attrs.frozen(slots=True)
class RaftConfig:
    """Timing is in ticks; sizes in entries, messages or bytes.

    - ``election_ticks``: a follower that hears no leader for a random number of ticks in
      ``[election_ticks, 2 * election_ticks)`` campaigns. A leader with ``check_quorum``
      steps down when a quorum has not answered within ``election_ticks``.
    - ``heartbeat_ticks``: a leader sends heartbeats this often; must be < election_ticks.
    - ``pre_vote``: campaign in two phases so a partitioned node cannot disrupt a healthy
      leader when it rejoins (dissertation section 9.6).
    - ``check_quorum``: leader lease; a node that heard from a leader within
      ``election_ticks`` ignores vote requests, and a leader without a quorum steps down.
    - ``max_entries_per_msg`` / ``max_bytes_per_msg``: batching bounds of one AppendEntries
      (at least one entry is always sent, however large).
    - ``max_inflight_msgs``: AppendEntries in flight to one follower before the leader
      waits for acknowledgements.
    - ``max_uncommitted_entries``: proposals beyond this many uncommitted entries are
      refused with ``ProposalDropped`` (back-pressure), never queued.
    - ``max_committed_per_ready``: entries handed to the driver to apply in one batch.
    - ``snapshot_chunk_bytes``: size of one InstallSnapshot chunk.
    - ``max_pending_reads``: read-index requests waiting on one node; more are dropped.
    - ``lease_reads``: the leader serves lease reads (:meth:`RaftCore.lease_read_index`,
      see :mod:`.lease`); needs ``check_quorum``. It also makes every node ignore vote
      requests for ``election_ticks`` ticks after it starts (a node that restarts may have
      acknowledged a leader's heartbeat just before, and that leader counts on it not to
      vote for ``election_ticks`` ticks). Give every node of a cluster the same setting.
    - ``lease_drift_max``: the clock drift bound lease reads assume, as a fraction: lease
      reads are linearizable only if no node's clock (its tick rate) runs more than this
      fraction slower or faster than another's. The lease lasts
      :attr:`lease_ticks` = ``floor((election_ticks - 1) * (1 - lease_drift_max))``
      ticks of the leader from the start of the heartbeat round a quorum acknowledged.
    - ``max_promote_lag``: a PROMOTE change (:meth:`RaftCore.propose_change`) is refused
      while the learner's match index is more than this many entries behind the leader's
      last index (a voter that cannot keep up would stall commits).
    """

    election_ticks: int = attrs.field(default=10, validator=_positive)
    heartbeat_ticks: int = attrs.field(default=1, validator=_positive)
    pre_vote: bool = True
    check_quorum: bool = True
    max_entries_per_msg: int = attrs.field(default=256, validator=_positive)
    max_bytes_per_msg: int = attrs.field(default=1 << 20, validator=_positive)
    max_inflight_msgs: int = attrs.field(default=64, validator=_positive)
    max_uncommitted_entries: int = attrs.field(default=8192, validator=_positive)
    max_committed_per_ready: int = attrs.field(default=4096, validator=_positive)
    snapshot_chunk_bytes: int = attrs.field(default=256 * 1024, validator=_positive)
    max_pending_reads: int = attrs.field(default=4096, validator=_positive)
    lease_reads: bool = False
    lease_drift_max: float = 0.1
    max_promote_lag: int = attrs.field(default=64, validator=_non_negative)

    @property
    def lease_ticks(self) -> int:
        """How many of its own ticks a leader's read lease lasts from the start of the
        heartbeat round that a quorum acknowledged (see the class docstring)."""
        return math.floor((self.election_ticks - 1) * (1.0 - self.lease_drift_max))

    def __attrs_post_init__(self) -> None:
        if self.heartbeat_ticks >= self.election_ticks:
            raise ValueError(
                f"RaftConfig.heartbeat_ticks ({self.heartbeat_ticks}) must be less than "
                f"election_ticks ({self.election_ticks})"
            )
        drift = self.lease_drift_max
        if isinstance(drift, bool) or not isinstance(drift, int | float) or not 0 <= drift < 1:
            raise ValueError(f"RaftConfig.lease_drift_max must be in [0, 1), got {drift!r}")
        if self.lease_reads and not self.check_quorum:
            raise ValueError("RaftConfig.lease_reads needs check_quorum")
        if self.lease_reads and self.lease_ticks < 1:
            raise ValueError(
                f"RaftConfig.lease_reads: a lease of floor((election_ticks - 1) * "
                f"(1 - lease_drift_max)) = {self.lease_ticks} ticks is too short; raise "
                f"election_ticks ({self.election_ticks}) or lower lease_drift_max ({drift})"
            )
