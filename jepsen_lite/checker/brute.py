"""A deliberately simple second linearizability checker, for testing the real one.

It tries every permutation of the operations consistent with real-time order, with every
subset of the open (``info``/pending) operations, and replays each through the model.
No partitioning (keys are handled by a state per key), no pruning, no cache, and no
dropping of read-only open operations: only the definitions. Exponential; for histories
of a handful of operations.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from ..history.ops import History, Operation, Status, Value
from ..models.base import Model, State
from .result import Verdict

MAX_OPERATIONS = 9


def brute_force_check(model: Model, history: History) -> Verdict:
    """LINEARIZABLE or NOT_LINEARIZABLE, by exhaustive search. ``ValueError`` above
    :data:`MAX_OPERATIONS` operations (after removing ``fail`` ones)."""
    ops = [model.validate(op) for op in history.operations if op.status is not Status.FAIL]
    if len(ops) > MAX_OPERATIONS:
        raise ValueError(f"brute force is for at most {MAX_OPERATIONS} operations")
    finite = [op for op in ops if op.ret is not None]
    open_ops = [op for op in ops if op.ret is None]
    for size in range(len(open_ops) + 1):
        for chosen in itertools.combinations(open_ops, size):
            for order in itertools.permutations(finite + list(chosen)):
                if _respects_real_time(order) and _legal(model, order):
                    return Verdict.LINEARIZABLE
    return Verdict.NOT_LINEARIZABLE


def _respects_real_time(order: Sequence[Operation]) -> bool:
    """No operation is placed after one that was invoked after it returned."""
    for later_pos, later in enumerate(order):
        for earlier in order[:later_pos]:
            if later.ret is not None and later.ret < earlier.call:
                return False
    return True


def _legal(model: Model, order: Sequence[Operation]) -> bool:
    """Replay ``order`` through the model, one state per key (one for multi-register)."""
    states: dict[Value, State] = {}
    for op in order:
        key = op.key
        state = states[key] if key in states else model.init(key)
        legal, states[key] = model.step(state, op)
        if not legal:
            return False
    return True
