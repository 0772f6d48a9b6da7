"""UNSAFE replication designs, kept as test targets for jepsen-lite. They LOSE DATA.

Nothing here is for anyone's data. These two cores exist so that ``jepsen-lite run``
can be shown catching the anomalies that weaker replication designs from the
distributed-systems literature allow (issue 14):

- ``unsafe-primary-backup`` (:mod:`.primary_backup`): asynchronous primary-backup with
  failover, where the last promoted replica wins (the model of Redis Cluster without
  ``WAIT``): the primary acknowledges a write before any backup has it; a backup that
  misses the primary's heartbeats promotes itself, and a primary that hears of a later
  epoch follows it and throws away what it wrote that the new primary never had.
- ``unsafe-lww`` (:mod:`.lww`): leaderless last-write-wins replication with timestamps
  from each coordinator's own clock (Cassandra's default writes, without lightweight
  transactions): any node coordinates a write, stamps it with its clock, and every
  replica keeps, per key, the write with the highest ``(timestamp, node)``; a write is
  acknowledged after ``W`` replicas (a majority) have it. A coordinator whose clock is
  ahead silently wins over later writes, so acknowledged writes vanish.

Both are pure cores behind the contract of :mod:`consensus.core` (no I/O, no clock of
their own: the LWW core is *given* a clock reading function, the node's skewable clock),
so the real driver, the sim environment and ``consensus serve`` run them unchanged. The
key-value store over them is :mod:`statemachines.unsafe_kv`. ``consensus serve`` refuses
them unless started with ``--allow-unsafe-protocol``.
"""

from __future__ import annotations

UNSAFE_PROTOCOLS: tuple[str, ...] = ("unsafe-primary-backup", "unsafe-lww")
"""The protocol names of the designs in this package (never offered for real data)."""


def is_unsafe(protocol: str) -> bool:
    """Whether ``protocol`` names one of the data-losing test targets."""
    return protocol in UNSAFE_PROTOCOLS


__all__ = ["UNSAFE_PROTOCOLS", "is_unsafe"]
