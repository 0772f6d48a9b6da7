"""Which protocol cores a node can run, by the name ``--protocol`` takes."""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from ..core import ProtocolCore
from ..types import NodeId

PROTOCOL_NAMES = ("raft", "multipaxos", "paxos-lwt")


class ProtocolUnavailable(ValueError):
    """The named protocol is unknown, or its core is not built into this install."""


@attrs.frozen(slots=True)
class CoreTiming:
    """Timing knobs common to both cores, in ticks. ``lease_reads`` and
    ``lease_drift_max`` are Raft's (``RaftConfig``); Multi-Paxos has no read leases and
    ignores them (its lease reads are read-barrier reads)."""

    election_ticks: int = 10
    heartbeat_ticks: int = 1
    lease_reads: bool = False
    lease_drift_max: float = 0.1


def make_core(
    protocol: str,
    node_id: NodeId,
    voters: Sequence[NodeId],
    rng: random.Random,
    recovered: Any,
    timing: CoreTiming | None = None,
    *,
    clock_ms: Callable[[], int] | None = None,
    change: Any = None,
) -> ProtocolCore[Any]:
    """Build the core for ``protocol``; ``ProtocolUnavailable`` names what is missing.
    ``clock_ms`` is the node's clock, for the one core that reads it (``unsafe-lww``);
    ``change``: the register change function of a ``paxos-lwt`` core (its state
    machine's ``change``)."""
    timing = timing or CoreTiming()
    if protocol.startswith("unsafe-"):
        from ..unsafe.cores import make_unsafe_core

        return make_unsafe_core(protocol, node_id, voters, rng, recovered, timing, clock_ms)
    if protocol == "paxos-lwt":
        from ..lwt import LwtConfig, LwtCore

        # a phase without a majority for an election timeout counts as a failed attempt
        lwt_config = LwtConfig(phase_timeout_ticks=timing.election_ticks)
        return LwtCore(
            node_id, tuple(voters), rng, config=lwt_config, recovered=recovered, change=change
        )
    if protocol == "raft":
        from ..raft import RaftConfig, RaftCore

        config = RaftConfig(
            election_ticks=timing.election_ticks,
            heartbeat_ticks=timing.heartbeat_ticks,
            lease_reads=timing.lease_reads,
            lease_drift_max=timing.lease_drift_max,
        )
        return RaftCore(node_id, voters, rng, config=config, recovered=recovered)
    if protocol == "multipaxos":
        try:
            paxos = importlib.import_module("consensus.paxos")
        except ImportError:
            paxos = None
        core_cls = getattr(paxos, "PaxosCore", None)
        if core_cls is None:
            raise ProtocolUnavailable(
                "protocol multipaxos is not available: consensus.paxos "
                "does not export PaxosCore yet"
            )
        config_cls = getattr(paxos, "PaxosConfig", None)
        paxos_config: Any = None
        if config_cls is not None:
            try:
                paxos_config = config_cls(
                    election_ticks=timing.election_ticks, heartbeat_ticks=timing.heartbeat_ticks
                )
            except TypeError:
                paxos_config = config_cls()
        core: ProtocolCore[Any] = core_cls(
            node_id, voters, rng, config=paxos_config, recovered=recovered
        )
        return core
    raise ProtocolUnavailable(
        f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOL_NAMES)}"
    )
