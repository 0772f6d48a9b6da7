"""Building the unsafe cores by protocol name (for ``consensus.runtime.protocols``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..types import NodeId
from . import UNSAFE_PROTOCOLS
from .lww import LwwConfig, LwwCore
from .primary_backup import PbConfig, PrimaryBackupCore

if TYPE_CHECKING:
    import random


def make_unsafe_core(
    protocol: str,
    node_id: NodeId,
    voters: Sequence[NodeId],
    rng: random.Random,
    recovered: Any,
    timing: Any,
    clock_ms: Callable[[], int] | None,
) -> PrimaryBackupCore | LwwCore:
    """The core of an unsafe protocol; ``ValueError`` naming the choices otherwise.
    ``timing`` is a ``CoreTiming`` (election and heartbeat ticks)."""
    if protocol == "unsafe-primary-backup":
        config = PbConfig(
            election_ticks=timing.election_ticks, heartbeat_ticks=timing.heartbeat_ticks
        )
        return PrimaryBackupCore(node_id, voters, rng, config=config, recovered=recovered)
    if protocol == "unsafe-lww":
        return LwwCore(
            node_id, voters, rng, clock_ms=clock_ms, config=LwwConfig(), recovered=recovered
        )
    raise ValueError(
        f"unknown unsafe protocol {protocol!r}: choose one of {', '.join(UNSAFE_PROTOCOLS)}"
    )
