"""The pure Raft core: no I/O, no clock, no global randomness.

``RaftCore(id, voters, rng, config=None, recovered=None)`` implements the contract of
:class:`consensus.core.ProtocolCore`, plus ``transfer_leadership(to)`` and
``compact(snapshot)``.
"""

from .config import RaftConfig
from .core import RaftCore

__all__ = ["RaftConfig", "RaftCore"]
