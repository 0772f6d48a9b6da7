"""The sim environment for the UNSAFE test targets (``unsafe-primary-backup``,
``unsafe-lww``; :mod:`consensus.unsafe`), which lose data on purpose.

:class:`UnsafeSimCluster` is a :class:`~.sim.SimCluster` with three differences:

- each node stores its log in the Raft storage (memory, or the file WAL on a simulated
  disk), since both cores keep a plain append-only log with a ``HardState``; and runs
  the unsafe protocol's own store (:mod:`statemachines.unsafe_kv`);
- the core invariants are not watched: these designs break state-machine safety by
  design (and every LWW node "leads"), so the test's verdict must come from what the
  clients saw, which is the point of the exercise. Message storms are still caught;
- :meth:`snapshots` cannot wait for "the leader's commit index" (each node's log has its
  own numbering): it waits until every live node's store snapshot is the same, for at
  most ``snapshot_wait_s``, and returns what each node has then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import trio

from consensus.core import Role
from consensus.runtime.statemachine import StateMachine
from consensus.types import Entry, NodeId
from statemachines.unsafe_kv import unsafe_state_machine

from ..api import TestSpec, derive_rng
from .sim import SimCluster, SimSettings
from .sim_disk import FileDisk, MemoryDisk
from .sim_invariants import Invariants
from .sim_trio import JumpingClock


class _Unwatched(Invariants):
    """Records only what the environment itself reports (message storms)."""

    def observe_applied(self, node: NodeId, entries: Sequence[Entry]) -> None:
        return

    def observe_role(self, node: NodeId, role: Role, term: int) -> None:
        return


class UnsafeSimCluster(SimCluster):
    """See the module docstring."""

    def __init__(
        self,
        spec: TestSpec,
        run_dir: str,
        nursery: trio.Nursery,
        settings: SimSettings,
        clock: JumpingClock,
    ) -> None:
        super().__init__(spec, run_dir, nursery, settings, clock)
        self.invariants = _Unwatched(with_terms=False)
        self.invariants.now = self.now
        for node, host in self.hosts.items():
            if isinstance(host.disk, FileDisk):
                host.disk = FileDisk("raft", node, derive_rng(spec.seed, f"disk-{node}"))
            else:
                host.disk = MemoryDisk("raft")

    def new_machine(self) -> StateMachine:
        return unsafe_state_machine(self.spec.protocol)

    def _live(self) -> list[NodeId]:
        return [n for n, h in self.hosts.items() if h.log is not None and not h.paused]

    async def snapshots(self) -> Mapping[NodeId, bytes | None]:
        """Every live node's store snapshot once they agree (or ``snapshot_wait_s`` of
        virtual time has passed); ``None`` for a node that is down or paused."""
        with trio.move_on_after(self.snapshot_wait_s):
            while True:
                images = {self.hosts[n].machine_snapshot() for n in self._live()}
                if len(images) <= 1:
                    break
                await trio.sleep(0.05)
        live = set(self._live())
        return {n: (self.hosts[n].machine_snapshot() if n in live else None) for n in self.nodes}
