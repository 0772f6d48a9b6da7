"""The Trio runtime: a driver for any protocol core, and the replicated-log facade.

- :mod:`.driver`: the ticker, the inbox and the Ready loop (group commit, fsync in a
  worker thread, snapshots).
- :mod:`.log`: :class:`ReplicatedLog` and :func:`open_log`, the interface applications
  use, identical for Raft and Multi-Paxos.
- :mod:`.statemachine`: what an application's state machine implements.
- :mod:`.errors`: the errors callers see.
"""

from .driver import Driver as Driver
from .driver_config import DriverConfig as DriverConfig
from .driver_config import NodeStatus as NodeStatus
from .errors import Backpressure as Backpressure
from .errors import NodeStopped as NodeStopped
from .errors import NotLeader as NotLeader
from .errors import OutcomeUnknown as OutcomeUnknown
from .errors import ProposalDropped as ProposalDropped
from .errors import Timeout as Timeout
from .log import ReplicatedLog as ReplicatedLog
from .log import open_log as open_log
from .statemachine import StateMachine as StateMachine

__all__ = [
    "Backpressure",
    "Driver",
    "DriverConfig",
    "NodeStatus",
    "NodeStopped",
    "NotLeader",
    "OutcomeUnknown",
    "ProposalDropped",
    "ReplicatedLog",
    "StateMachine",
    "Timeout",
    "open_log",
]
