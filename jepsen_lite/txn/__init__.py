"""Transactional anomaly checking in the manner of Elle (Kingsbury and Alvaro, 2020):
list-append histories, their dependency graph, cycles named by Adya's anomalies, and
verdicts per consistency model. ``jepsen-lite check-txn`` is the command over it."""

from .check import MODELS as MODELS
from .check import TxnCheckResult as TxnCheckResult
from .check import check_list_append as check_list_append
from .check import check_txns as check_txns
from .list_append import Anomaly as Anomaly
from .model import MicroOp as MicroOp
from .model import Txn as Txn
from .model import transactions as transactions
