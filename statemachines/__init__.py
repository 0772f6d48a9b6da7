"""State machines served by the runtime: the key-value store and its client sessions."""

from .kv import KV_CODEC as KV_CODEC
from .kv import Get as Get
from .kv import KvResult as KvResult
from .kv import KvStateMachine as KvStateMachine
from .kv import Put as Put
from .sessions import SessionTable as SessionTable

__all__ = ["KV_CODEC", "Get", "KvResult", "KvStateMachine", "Put", "SessionTable"]
