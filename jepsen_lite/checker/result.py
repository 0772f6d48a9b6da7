"""What the linearizability checker answers: a verdict, per-key results, a counterexample.

There are three verdicts and only :attr:`Verdict.LINEARIZABLE` is success: an
:attr:`Verdict.UNKNOWN` (the time or memory budget ran out) must never be reported as one.
"""

from __future__ import annotations

import enum

import attrs

from ..history.ops import Operation, Value
from ..models.base import State


class Verdict(enum.Enum):
    """The checker's answer for a history or a partition of it."""

    LINEARIZABLE = "linearizable"
    NOT_LINEARIZABLE = "not-linearizable"
    UNKNOWN = "unknown"


@attrs.frozen
class Counterexample:
    """Why a partition is not linearizable, as far as the search got.

    ``linearization`` is the longest partial linearization found (operations in the order
    they were linearized), ``state`` the model state after it (``state_text`` rendered),
    and ``failing_op`` the operation that had to come next and could not be linearized
    there (its completion came before any remaining operation could be placed).
    ``note``, when set, says why ``failing_op`` fits nowhere without a search (the
    model's ``unreachable`` check: no order of the writes before it produces its value);
    ``linearization`` is then empty and ``state`` the initial state.
    """

    key: Value
    failing_op: Operation
    linearization: tuple[Operation, ...]
    state: State
    state_text: str
    note: str = ""


@attrs.frozen
class KeyResult:
    """The answer for one partition (one key, or one component of a multi-register).

    ``operations`` counts the operations searched (after removing ``fail`` ops and open
    read-only ops); ``explored`` the distinct (linearized set, state) configurations
    cached; ``reason`` says why the verdict is UNKNOWN (``None`` otherwise): a budget
    spent, or ``"not checked: another key is not linearizable"``.
    """

    key: Value
    verdict: Verdict
    operations: int
    time_s: float
    explored: int = 0
    counterexample: Counterexample | None = None
    reason: str | None = None


@attrs.frozen
class CheckResult:
    """The answer for a whole history.

    The verdict is NOT_LINEARIZABLE if any partition is (one is proof enough), else
    UNKNOWN if any partition ran out of budget, else LINEARIZABLE. ``operations`` counts
    every operation of the history, ``checked_operations`` those searched (not those of
    partitions left unchecked once another failed), ``keys`` the partitions, ``time_s``
    the checking time (preparation and search, not loading). ``counterexample`` is the
    first failing partition's, in key order of the history. ``warnings`` are
    ``FILE[:LINE]: warning: ...`` lines for people: the history's own (times going
    backwards), and a vacuous verdict (no operations, or none left to check).
    """

    verdict: Verdict
    model: str
    operations: int
    checked_operations: int
    keys: int
    time_s: float
    results: tuple[KeyResult, ...]
    counterexample: Counterexample | None = None
    parallel: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def is_linearizable(self) -> bool:
        """True only for a definite LINEARIZABLE verdict (never for UNKNOWN)."""
        return self.verdict is Verdict.LINEARIZABLE


def combine(verdicts: list[Verdict]) -> Verdict:
    """The verdict of a history from its partitions' verdicts (see :class:`CheckResult`)."""
    if Verdict.NOT_LINEARIZABLE in verdicts:
        return Verdict.NOT_LINEARIZABLE
    if Verdict.UNKNOWN in verdicts:
        return Verdict.UNKNOWN
    return Verdict.LINEARIZABLE
