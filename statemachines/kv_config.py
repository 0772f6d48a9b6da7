"""The key-value store's settings: limits, sessions, leases and where its clock comes
from (:class:`KvConfig`, the same on every replica), and reading them from a
configuration table (a cluster file's ``[kv]``). Re-exported by
:mod:`statemachines.kv_commands`."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen(slots=True)
class KvConfig:
    """Limits and session settings of a store. Every replica of a cluster must use the
    same values (they decide results); they are not part of a snapshot.

    A command over a limit is refused with an :class:`ErrorResult` of kind ``"limit"``
    whose ``limit`` names the field below; nothing is applied.
    """

    key_bytes_max: int = 4096
    """UTF-8 bytes of a key (also of a range's start, end and prefix)."""
    value_bytes_max: int = 1024 * 1024
    """Bytes of a value (put, cas new value, compare and expected values)."""
    txn_ops_max: int = 128
    """Compares, and ops of each branch, of one :class:`Txn` (etcd's default)."""
    range_limit_max: int = 1000
    """Most keys one :class:`Range` returns; ``limit=0`` means this many."""
    session_timeout_ms: int = 600_000
    """A session idle (no command) for longer than this, by the store's clock, expires."""
    sessions_max: int = 10_000
    """Live sessions; registering one more evicts the least recently active."""
    session_results_max: int = 1024
    """Unacknowledged results one session may hold; a command beyond is refused."""
    watch_history_revisions: int = 1000
    """Revisions of changes kept in memory for :class:`Watch`; older ones are
    compacted (a watch from before them gets :class:`Compacted`)."""
    watch_events_max: int = 1000
    """Most events one :class:`Watch` answer carries; ``limit=0`` means this many."""
    leases_max: int = 10_000
    """Live leases; one more grant is refused."""
    lease_ttl_max_ms: int = 86_400_000
    """Longest lease TTL a grant may ask for."""
    lease_ttl_min_ms: int = 1000
    """Shortest lease TTL: a grant asking for less gets this (as etcd raises a TTL to its
    minimum), so that a lease outlives several of the leader's clock ticks (a tick moves
    the store's clock by about ``consensus.runtime.clock.CLOCK_TICK_S_DEFAULT``)."""
    clock: str = "leader"
    """Where the store's clock (session and lease expiry) comes from. ``"leader"``: only
    :class:`ClockTick` entries, which the leader's node proposes (the elapsed time of
    its monotonic clock); the ``now_ms`` that commands carry is ignored, so no client's
    clock can expire anyone's session. ``"proposer"``: the largest ``now_ms`` of the
    commands applied (for embedded use and tests with no ticking node; a client with a
    clock far ahead then expires every session)."""
    clock_step_max_ms: int = 60_000
    """Most one :class:`ClockTick` advances the store's clock (a leader whose clock
    runs wild moves expiry by at most this per tick)."""

    def __attrs_post_init__(self) -> None:
        for field in attrs.fields(KvConfig):
            if field.name == "clock":
                if self.clock not in CLOCK_SOURCES:
                    choices = " or ".join(repr(c) for c in CLOCK_SOURCES)
                    raise ValueError(f"KvConfig.clock must be {choices}, got {self.clock!r}")
            elif getattr(self, field.name) < 1:
                raise ValueError(f"KvConfig.{field.name} must be >= 1")
        if self.lease_ttl_min_ms > self.lease_ttl_max_ms:
            raise ValueError(
                f"KvConfig.lease_ttl_min_ms ({self.lease_ttl_min_ms}) is above "
                f"lease_ttl_max_ms ({self.lease_ttl_max_ms})"
            )


def kv_config_from_table(table: dict[str, Any]) -> KvConfig:
    """A :class:`KvConfig` from a configuration table (a cluster file's ``[kv]``);
    ``ValueError`` naming the first unknown setting, wrong type or bad value."""
    fields = {field.name for field in attrs.fields(KvConfig)}
    for key, value in table.items():
        if key not in fields:
            raise ValueError(f"unknown setting {key!r} (known: {', '.join(sorted(fields))})")
        kind = str if key == "clock" else int
        if type(value) is not kind:
            raise ValueError(
                f"{key} must be {'a string' if kind is str else 'an integer'}, got {value!r}"
            )
    return KvConfig(**table)


CLOCK_SOURCES = ("leader", "proposer")
"""The values of :attr:`KvConfig.clock`."""


DEFAULT_CONFIG = KvConfig()
