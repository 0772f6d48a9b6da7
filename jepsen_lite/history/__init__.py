"""Histories: events, operations, the JSON Lines format, EDN import, pairing, simulation."""

from .edn import iter_edn_events as iter_edn_events
from .edn import load_edn as load_edn
from .edn import read_edn_events as read_edn_events
from .errors import HistoryError as HistoryError
from .jsonl import HistoryWriter as HistoryWriter
from .jsonl import iter_jsonl_events as iter_jsonl_events
from .jsonl import load_jsonl as load_jsonl
from .jsonl import read_jsonl_events as read_jsonl_events
from .jsonl import write_jsonl as write_jsonl
from .load import FORMATS as FORMATS
from .load import Format as Format
from .load import format_for as format_for
from .load import load_history as load_history
from .ops import UNKNOWN as UNKNOWN
from .ops import Event as Event
from .ops import EventType as EventType
from .ops import History as History
from .ops import Operation as Operation
from .ops import Process as Process
from .ops import Status as Status
from .ops import Unknown as Unknown
from .ops import Value as Value
from .pairing import pair_events as pair_events

__all__ = [
    "FORMATS",
    "UNKNOWN",
    "Event",
    "EventType",
    "Format",
    "History",
    "HistoryError",
    "HistoryWriter",
    "Operation",
    "Process",
    "Status",
    "Unknown",
    "Value",
    "format_for",
    "iter_edn_events",
    "iter_jsonl_events",
    "load_edn",
    "load_history",
    "load_jsonl",
    "pair_events",
    "read_edn_events",
    "read_jsonl_events",
    "write_jsonl",
]
