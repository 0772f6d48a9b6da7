"""Multi-Paxos's knobs, validated once. Timing defaults match :class:`RaftConfig` so the
two protocols compare like for like."""

from __future__ import annotations

import attrs


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"PaxosConfig.{attribute.name} must be >= 1, got {value}")


@attrs.frozen(slots=True)
class PaxosConfig:
    """Timing is in ticks; sizes in entries, messages or reads.

    - ``election_ticks``: a follower that hears no distinguished proposer (leader) for a
      random number of ticks in ``[election_ticks, 2 * election_ticks)`` starts phase 1;
      a candidate that has not won by then retries with a higher ballot. A leader with
      ``check_quorum`` steps down when a majority has not answered within
      ``election_ticks``.
    - ``heartbeat_ticks``: the leader's heartbeat period; must be < election_ticks.
    - ``check_quorum``: leader lease. A node that heard from its leader within
      ``election_ticks`` ignores other nodes' Prepares, and a leader without a quorum
      steps down. Prepares of a leadership transfer (``Prepare.transfer``) are answered
      regardless.
    - ``pre_prepare``: the pre-vote guard (Raft's ``pre_vote``; on by default, as there).
      A node whose election timeout expires first asks every voter whether it would
      promise (``PrePrepare``; nobody changes state) and raises its ballot only when a
      majority, itself included, says yes; a node that heard from a live leader within
      ``election_ticks`` (or leads) says no. So a node back from a partition cannot
      depose a healthy leader, nor make it re-run phase 1.
    - ``snapshot_chunk_bytes``: catch-up snapshots travel in chunks of this many bytes
      (``SnapshotChunk``), reassembled by the receiver and installed once complete.
    - ``accept_resend_ticks``: an Accept not yet acknowledged by an acceptor is sent to it
      again after this many ticks.
    - ``max_entries_per_msg``: entries in one Accept or Chosen message.
    - ``max_uncommitted_entries``: proposals beyond this many slots above the commit index
      are refused with ``ProposalDropped`` (back-pressure), never queued.
    - ``max_committed_per_ready``: entries handed to the driver to apply in one batch.
    - ``max_pending_reads``: read-index requests waiting at a leader; more are dropped.
    - ``announce_commit``: when the commit index moves, the leader tells the followers at
      once (a ``Commit`` message, merged per batch). Off by default: the commit index then
      rides on the leader's next Accept or heartbeat (at most ``heartbeat_ticks`` later),
      as in Raft, which saves a message per follower per command; clients are answered
      by the leader, which knows at once.
    - ``learner_max_lag``: ``propose_change`` refuses to PROMOTE a learner whose last
      reported commit index is more than this many slots behind the leader's.
    """

    election_ticks: int = attrs.field(default=10, validator=_positive)
    heartbeat_ticks: int = attrs.field(default=1, validator=_positive)
    check_quorum: bool = True
    pre_prepare: bool = True
    accept_resend_ticks: int = attrs.field(default=3, validator=_positive)
    max_entries_per_msg: int = attrs.field(default=256, validator=_positive)
    max_uncommitted_entries: int = attrs.field(default=8192, validator=_positive)
    max_committed_per_ready: int = attrs.field(default=4096, validator=_positive)
    max_pending_reads: int = attrs.field(default=4096, validator=_positive)
    announce_commit: bool = False
    learner_max_lag: int = attrs.field(default=64, validator=attrs.validators.ge(0))
    snapshot_chunk_bytes: int = attrs.field(default=256 * 1024, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.heartbeat_ticks >= self.election_ticks:
            raise ValueError(
                f"PaxosConfig.heartbeat_ticks ({self.heartbeat_ticks}) must be less than "
                f"election_ticks ({self.election_ticks})"
            )
