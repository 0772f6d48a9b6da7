"""Clients of a cluster's client ports: Trio (:class:`KvClient`) and blocking.

The wire protocol is in :mod:`.protocol`.
"""

from .blocking import BlockingKvClient as BlockingKvClient
from .client import ChangeRefused as ChangeRefused
from .client import Client as Client
from .client import ClientError as ClientError
from .client import ClientTimeout as ClientTimeout
from .client import RequestRejected as RequestRejected
from .kv import KvClient as KvClient
from .kv import KvError as KvError
from .kv import KvSession as KvSession
from .kv import SessionExpired as SessionExpired
from .kv import WatchCompacted as WatchCompacted

__all__ = [
    "BlockingKvClient",
    "ChangeRefused",
    "Client",
    "ClientError",
    "ClientTimeout",
    "KvClient",
    "KvError",
    "KvSession",
    "RequestRejected",
    "SessionExpired",
    "WatchCompacted",
]
