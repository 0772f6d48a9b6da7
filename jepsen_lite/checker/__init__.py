"""The linearizability checker: Wing-Gong-Lowe search with P-compositionality."""

from .brute import brute_force_check as brute_force_check
from .check import check as check
from .partition import prepare as prepare
from .report_html import render_html as render_html
from .report_html import write_html as write_html
from .result import CheckResult as CheckResult
from .result import Counterexample as Counterexample
from .result import KeyResult as KeyResult
from .result import Verdict as Verdict
from .wgl import MAX_CACHE_ENTRIES as MAX_CACHE_ENTRIES
from .wgl import check_partition as check_partition

__all__ = [
    "MAX_CACHE_ENTRIES",
    "CheckResult",
    "Counterexample",
    "KeyResult",
    "Verdict",
    "brute_force_check",
    "check",
    "check_partition",
    "prepare",
    "render_html",
    "write_html",
]
