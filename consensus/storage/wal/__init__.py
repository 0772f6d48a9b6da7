"""The durable write-ahead log: a generic record log (segments, CRC frames, group commit,
recovery) and the Raft and Multi-Paxos stores built on it."""

from .file_storage import FileStorage as FileStorage
from .paxos_file_storage import PaxosFileStorage as PaxosFileStorage
from .record_log import RecordLog as RecordLog
from .record_log import WalOptions as WalOptions

__all__ = ["FileStorage", "PaxosFileStorage", "RecordLog", "WalOptions"]
