"""The durable write-ahead log: a generic record log (segments, CRC frames, group commit,
recovery) and the Raft, Multi-Paxos and paxos-lwt stores built on it."""

from .file_storage import FileStorage as FileStorage
from .lwt_file_storage import LwtFileStorage as LwtFileStorage
from .paxos_file_storage import PaxosFileStorage as PaxosFileStorage
from .record_log import RecordLog as RecordLog
from .record_log import WalOptions as WalOptions

__all__ = ["FileStorage", "LwtFileStorage", "PaxosFileStorage", "RecordLog", "WalOptions"]
