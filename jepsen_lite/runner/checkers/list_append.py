"""Transactional anomalies of a ``list-append`` history, by the Elle-style checker of
:mod:`jepsen_lite.txn`, judged against one consistency model.

``valid`` when none of the anomalies the model forbids was found and the search was
complete; ``invalid`` when one was (the summary names each kind with its count and the
first instance's cycle); ``unknown`` when a dependency component was too large to search
or no committed read exists (nothing could be checked). ``details`` holds the model, the
transaction counts, every anomaly with its transactions and explanation, and the models
the anomalies rule out.
"""

from __future__ import annotations

from ...history.errors import HistoryError
from ...history.ops import History
from ...txn import MODELS, check_list_append
from ..api import CheckerResult, RunFacts, Validity

SHOWN_STEPS = 4
"""Steps of the first cycle quoted in the summary line."""


class ListAppendChecker:
    """Elle's list-append analysis (see the module doc)."""

    name = "list-append"

    def __init__(self, model: str = "strict-serializable") -> None:
        if model not in MODELS:
            raise ValueError(
                f"unknown consistency model {model!r}: choose one of {', '.join(MODELS)}"
            )
        self.model = model

    def check(self, history: History, facts: RunFacts) -> CheckerResult:
        try:
            result = check_list_append(history, self.model)
        except (HistoryError, ValueError) as exc:
            return CheckerResult(
                self.name, Validity.INVALID, f"malformed list-append history: {exc}"
            )
        details = {"model": self.model, **result.as_json()}
        summary = result.summary()
        forbidden = [name for name in result.anomalies if name in MODELS[self.model]]
        if forbidden:
            first = result.anomalies[forbidden[0]][0]
            steps = "; ".join(first.explanation[:SHOWN_STEPS])
            more = " ..." if len(first.explanation) > SHOWN_STEPS else ""
            summary = f"{summary}. First {forbidden[0]}: {steps}{more}"
        return CheckerResult(self.name, Validity(result.validity), summary, details)
