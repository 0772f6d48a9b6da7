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

import importlib
import random
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, Protocol

import attrs

from ..core import ProtocolCore, Ready
from ..messages import Message
from ..storage.fs import CrashMode, SimFileSystem
from ..types import Entry, NodeId, Snapshot
from .options import FaultOptions


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


class SimDisk(SimStorage, Protocol):
    """Storage on a simulated disk, which the simulator's disk faults reach into:
    ``fs.fail_next_fsync()``, the ``crash_mode`` the next ``crash()`` uses, and whether
    that crash ``garble``s what it writes back."""

    fs: SimFileSystem
    crash_mode: CrashMode
    garble: bool


class ProtocolInvariants(Protocol):
    """Protocol-specific safety checks, fed incrementally; raise ``InvariantViolation``.

    ``observe`` is called for every ``Ready`` a node produces, with the core that produced
    it, after the simulator persisted the batch (and synced it, if ``must_sync``) and
    before it sends ``messages`` or applies anything. A batch the node does not survive is
    observed only as far as it took effect: after a crash between sending
    ``early_messages`` and persisting, as a batch of just those messages; after a storage
    failure, not at all. So whatever a checker observes was sent, and a must-sync state
    it observes is durable.
    """

    def observe(self, node: NodeId, core: Any, ready: Ready[Any]) -> None: ...

    def restarted(self, node: NodeId, core: Any) -> None:
        """A node came back from a crash as ``core`` (rebuilt from its storage)."""


# Optional hooks a ProtocolInvariants may also define (looked up with getattr), for a
# protocol that answers proposals itself (``Ready.results``) and checks the client history:
#   proposed(node, ticket, data): a proposal was taken (called right after ``propose``);
#   finish(): the run converged after the heal; raise ``SimViolation`` on a bad history.


OperationSource = Callable[[random.Random, int, int, bool], bytes]
"""(workload rng, client id, operation number, is the probe client) -> proposal data."""


MakeCore = Callable[[NodeId, tuple[NodeId, ...], random.Random, Any], ProtocolCore[Any]]
"""(node id, all voters, seeded rng, recovered state or None) -> a fresh core."""


Compact = Callable[[Any, Snapshot], None]
"""(core, snapshot of the state machine at an applied index) -> None: the core forgets the
log entries the snapshot covers (Raft: ``RaftCore.compact``)."""


@attrs.frozen
class ProtocolSpec:
    """How to build and check one protocol in the simulator.

    - ``make_core``: a fresh core (see :data:`MakeCore`); on restart it gets
      ``storage.recover()``. If that value has a ``snapshot`` attribute (as
      ``consensus.storage.base.Recovered`` does), the simulator restores the node's state
      machine from it.
    - ``make_storage``: one per node, kept across the node's crashes.
    - ``make_invariants``: one checker per run, shared by all nodes.
    - ``compact``: None when the protocol cannot compact its log; otherwise the simulator
      takes state-machine snapshots (how often is drawn from the seed) and hands them to
      storage (``storage.compact``) and to the core through this hook.
    - ``reads``: whether ``read_index`` is supported (clients issue reads only then).
    - ``make_disk_storage``: the protocol's file-backed storage over a simulated disk,
      seeded with the given random stream; used instead of ``make_storage`` when a run
      enables ``disk`` faults. None: ``disk`` is not available for this protocol.
    - ``vouches``: whether a message vouches for state its sender must hold durably (a
      granted vote, a promise): the nemesis's reply crashes aim at the moment right
      after such a message left a node that has unsynced state. None: no reply crashes.
    - ``operations``: None: clients propose unique opaque data (``c<client>.<op>``);
      else, called once per run, the source of every proposal's data (a protocol whose
      proposals are typed operations, such as ``paxos-lwt``'s).
    - ``term_text``: how a violation prints an entry's term (Multi-Paxos: the ballot as
      ``(round, node)``, not its encoded integer).
    - ``reconfigurable``: the cores are :class:`~consensus.core.ReconfigurableCore` (and
      have ``membership_at(index)`` for snapshots): ``SimConfig.membership`` may be on.
    - ``tune``: swarm testing of the core's own knobs: given the run's random stream and
      its faults, it returns what to do to every core the run starts (say, small
      AppendEntries batches and a short in-flight window, so a lagging follower catches
      up entry by entry).
    """

    name: str
    make_core: MakeCore
    make_storage: Callable[[], SimStorage]
    make_invariants: Callable[[], ProtocolInvariants]
    compact: Compact | None = None
    reads: bool = True
    make_disk_storage: Callable[[random.Random], SimDisk] | None = None
    vouches: Callable[[Message], bool] | None = None
    tune: Callable[[random.Random, FaultOptions], Callable[[Any], None]] | None = None
    term_text: Callable[[int], str] = str
    operations: Callable[[], OperationSource] | None = None
    reconfigurable: bool = False


def _spec_module(name: str) -> ModuleType | None:
    """Import ``.name``; None only when that module does not exist (a broken import inside
    it is an error, not a missing protocol)."""
    full = f"{__package__}.{name}"
    try:
        return importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name == full:
            return None
        raise


def protocols() -> dict[str, ProtocolSpec]:
    """Every protocol the simulator can run, by name (imported lazily)."""
    found: dict[str, ProtocolSpec] = {}
    for module_name, attribute in (
        ("raft_spec", "RAFT_SPEC"),
        ("paxos_spec", "MULTIPAXOS_SPEC"),
        ("lwt_spec", "LWT_SPEC"),
    ):
        module = _spec_module(module_name)
        if module is not None:
            spec: ProtocolSpec = getattr(module, attribute)
            found[spec.name] = spec
    return found
