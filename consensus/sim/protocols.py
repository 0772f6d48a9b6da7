"""How the simulator plugs in a protocol: one :class:`ProtocolSpec` per protocol name.

The simulator itself is protocol-agnostic. It checks the invariants every replicated log
shares (state machine safety, no acknowledged proposal lost, liveness after heal) and
hands each ``Ready`` to the protocol's own :class:`ProtocolInvariants` for the rest
(Raft: election safety, log matching, leader completeness; Paxos: one value per slot).

:func:`protocols` maps the names ``consensus sim --protocol NAME`` accepts to specs. A
protocol's spec and invariant checker live beside this module (``raft_spec.py``,
``paxos_spec.py``): the simulator layer imports the cores, never the other way round.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import attrs

from ..core import ProtocolCore, Ready
from ..types import Entry, NodeId, Snapshot


class SimStorage(Protocol):
    """Storage as the simulator uses it: the driver's interface plus a power cut."""

    def persist(
        self, hard_state: Any, entries: Sequence[Entry], snapshot: Snapshot | None
    ) -> None: ...

    def sync(self) -> None: ...

    def recover(self) -> Any: ...

    def compact(self, snapshot: Snapshot) -> None: ...

    def crash(self) -> None:
        """Lose everything persisted since the last sync."""


class ProtocolInvariants(Protocol):
    """Protocol-specific safety checks, fed incrementally; raise ``InvariantViolation``.

    ``observe`` is called for every ``Ready`` a node produces, before the simulator
    persists or sends anything from it, with the core that produced it.
    """

    def observe(self, node: NodeId, core: Any, ready: Ready[Any]) -> None: ...

    def restarted(self, node: NodeId, core: Any) -> None:
        """A node came back from a crash as ``core`` (rebuilt from its storage)."""


MakeCore = Callable[[NodeId, tuple[NodeId, ...], random.Random, Any], ProtocolCore[Any]]
"""(node id, all voters, seeded rng, recovered state or None) -> a fresh core."""


@attrs.frozen
class ProtocolSpec:
    name: str
    make_core: MakeCore
    make_storage: Callable[[], SimStorage]
    make_invariants: Callable[[], ProtocolInvariants]


def protocols() -> dict[str, ProtocolSpec]:
    """Every protocol the simulator can run, by name (imported lazily)."""
    found: dict[str, ProtocolSpec] = {}
    try:
        from .raft_spec import RAFT_SPEC
    except ImportError:
        pass
    else:
        found[RAFT_SPEC.name] = RAFT_SPEC
    try:
        from .paxos_spec import MULTIPAXOS_SPEC
    except ImportError:
        pass
    else:
        found[MULTIPAXOS_SPEC.name] = MULTIPAXOS_SPEC
    return found
