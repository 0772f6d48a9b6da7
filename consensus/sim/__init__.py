"""The deterministic cluster simulator: pure cores on virtual time under seeded faults,
with invariants checked incrementally. See ``docs/simulator.md``.

Entry points: :func:`run_seed` / :class:`Simulation` (one seeded run), :class:`Cluster`
(the same driver, one input at a time, for stateful tests), :func:`protocols` (the
protocols the simulator can run, by name).
"""

from .cluster import Cluster as Cluster
from .cluster import NodeDown as NodeDown
from .options import FaultKind as FaultKind
from .options import FaultOptions as FaultOptions
from .options import SimConfig as SimConfig
from .protocols import ProtocolSpec as ProtocolSpec
from .protocols import protocols as protocols
from .simulation import SimResult as SimResult
from .simulation import Simulation as Simulation
from .simulation import run_seed as run_seed
from .violation import SimViolation as SimViolation
from .violation import Violation as Violation

__all__ = [
    "Cluster",
    "FaultKind",
    "FaultOptions",
    "NodeDown",
    "ProtocolSpec",
    "SimConfig",
    "SimResult",
    "SimViolation",
    "Simulation",
    "Violation",
    "protocols",
    "run_seed",
]
