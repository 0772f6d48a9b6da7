"""Prepare a history for the search and split it into independent partitions.

Preparation (in this order, per operation of the history):

1. the model validates it (an ``f`` it does not know, or a malformed value, is a
   :class:`HistoryError` naming the source line);
2. ``fail`` operations are removed: they definitely did not happen;
3. operations with an UNKNOWN output that cannot change the state (``info`` or pending
   reads, Knossos ``nil`` reads) are removed: they constrain nothing.

Then the model's ``partition`` splits what is left (P-compositionality: linearizability is
local, so a history is linearizable iff every independent sub-history is).
"""

from __future__ import annotations

from ..history.errors import HistoryError
from ..history.ops import UNKNOWN, History, Operation, Status
from ..models.base import Model, Partition


def prepare(model: Model, history: History) -> list[Partition]:
    """Validate, filter and partition ``history`` for ``model`` (see module docstring)."""
    kept: list[Operation] = []
    for op in history.operations:
        try:
            op = model.validate(op)
        except ValueError as exc:
            raise HistoryError(history.source, op.line, str(exc)) from None
        if op.status is Status.FAIL:
            continue
        if op.output is UNKNOWN and model.read_only(op):
            continue
        kept.append(op)
    return model.partition(kept)
