"""State machines served by the runtime: the key-value store and its client sessions.

The command vocabulary is :mod:`statemachines.kv_commands` (imported by the client too);
the state machine is :mod:`statemachines.kv`; sessions :mod:`statemachines.sessions`.
"""

from .kv import KvStateMachine as KvStateMachine
from .kv_commands import KV_CODEC as KV_CODEC
from .kv_commands import KvConfig as KvConfig
from .sessions import SessionTable as SessionTable

__all__ = ["KV_CODEC", "KvConfig", "KvStateMachine", "SessionTable"]
