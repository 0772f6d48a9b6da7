"""jepsen_lite: Jepsen-style histories and a linearizability checker.

Library use::

    from jepsen_lite import check, load_history, make_model

    result = check(make_model("cas-register"), load_history("history.jsonl"), 60)
    if result.verdict is not Verdict.LINEARIZABLE:  # UNKNOWN is not success
        ...

The command line is ``jepsen-lite check HISTORY...`` (see :mod:`jepsen_lite.check_cli`).
"""

from .checker import CheckResult as CheckResult
from .checker import Counterexample as Counterexample
from .checker import KeyResult as KeyResult
from .checker import Verdict as Verdict
from .checker import check as check
from .checker import write_html as write_html
from .history import Event as Event
from .history import EventType as EventType
from .history import History as History
from .history import HistoryError as HistoryError
from .history import HistoryWriter as HistoryWriter
from .history import Operation as Operation
from .history import load_history as load_history
from .history import pair_events as pair_events
from .history import write_jsonl as write_jsonl
from .models import MODEL_NAMES as MODEL_NAMES
from .models import Model as Model
from .models import make_model as make_model

__all__ = [
    "MODEL_NAMES",
    "CheckResult",
    "Counterexample",
    "Event",
    "EventType",
    "History",
    "HistoryError",
    "HistoryWriter",
    "KeyResult",
    "Model",
    "Operation",
    "Verdict",
    "check",
    "load_history",
    "make_model",
    "pair_events",
    "write_html",
    "write_jsonl",
]
