"""The pure Paxos cores: no I/O, no clock, no global randomness.

Single-decree pieces, usable on their own: :mod:`.acceptor` (the acceptor's two rules),
:mod:`.proposer` (ballots and phase 1), :mod:`.learner` (tallies and learned values), and
:class:`SinglePaxos` (one instance on one node, composing them).

Multi-Paxos: ``PaxosCore(id, voters, rng, config=None, recovered=None)`` implements
:class:`consensus.core.ProtocolCore` with a log of single-decree instances and a
distinguished proposer. See ``docs/paxos.md``.
"""

from .config import PaxosConfig
from .core import PaxosCore
from .instance import InstanceConfig, SinglePaxos

__all__ = ["InstanceConfig", "PaxosConfig", "PaxosCore", "SinglePaxos"]
