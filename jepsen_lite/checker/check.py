"""The checker's entry point: ``check(model, history) -> CheckResult``.

Takes a model and a history and nothing else. Prepares and partitions the history
(:mod:`.partition`), searches each partition with Wing-Gong-Lowe (:mod:`.wgl`), in this
process or, when that takes long, in worker processes (:mod:`.parallel`), and combines:
NOT_LINEARIZABLE if any partition is, else UNKNOWN if any ran out of budget, else
LINEARIZABLE. The first failing partition settles the verdict: the partitions not yet
checked then are left UNKNOWN with :data:`~.wgl.NOT_CHECKED_REASON`.
"""

from __future__ import annotations

import time

from ..history.ops import History
from ..models.base import Model
from .parallel import PARALLEL_AFTER_S, available_workers, check_partitions
from .partition import prepare
from .result import CheckResult, Verdict, combine
from .wgl import MAX_CACHE_ENTRIES, NOT_CHECKED_REASON

EMPTY_WARNING = "the history has no operations; its 'linearizable' verdict is vacuous"
NOTHING_TO_CHECK_WARNING = "no operation is left to check; 'linearizable' is vacuous"


def check(
    model: Model,
    history: History,
    time_limit_s: float | None = None,
    *,
    max_cache_entries: int = MAX_CACHE_ENTRIES,
    workers: int | None = None,
    parallel_after_s: float = PARALLEL_AFTER_S,
) -> CheckResult:
    """Is ``history`` linearizable with respect to ``model``?

    ``time_limit_s`` bounds the whole check (``None``: no limit); running out gives
    UNKNOWN for the partitions not finished. ``max_cache_entries`` bounds the memory of
    each partition's search. ``workers``: the most worker processes to use (``None``: one
    per CPU; ``1``: never). Partitions are checked in this process first; those left
    after ``parallel_after_s`` seconds go to the workers (see :mod:`.parallel`). Once a
    partition is not linearizable the others are not checked further (their results are
    UNKNOWN, reason :data:`~.wgl.NOT_CHECKED_REASON`); the counterexample is the failing
    partition's.
    An empty history (or one with nothing left to check) is LINEARIZABLE, vacuously, and
    says so in ``CheckResult.warnings``, after the history's own warnings. Raises
    :class:`~jepsen_lite.history.HistoryError` when an operation does not suit the model.
    """
    started = time.perf_counter()
    deadline = time.monotonic() + time_limit_s if time_limit_s is not None else None
    partitions = prepare(model, history)
    limit = available_workers() if workers is None else max(1, workers)
    results, parallel = check_partitions(
        model, partitions, deadline, max_cache_entries, limit, parallel_after_s
    )
    verdict = combine([r.verdict for r in results])
    warnings = list(history.warnings)
    if not history.operations:
        warnings.append(f"{history.source}: warning: {EMPTY_WARNING}")
    elif not partitions:
        warnings.append(
            f"{history.source}: warning: {NOTHING_TO_CHECK_WARNING} (all "
            f"{len(history.operations)} are fail operations or open reads)"
        )
    counterexample = next(
        (r.counterexample for r in results if r.verdict is Verdict.NOT_LINEARIZABLE), None
    )
    return CheckResult(
        verdict=verdict,
        model=model.name,
        operations=len(history.operations),
        checked_operations=sum(r.operations for r in results if r.reason != NOT_CHECKED_REASON),
        keys=len(results),
        time_s=time.perf_counter() - started,
        results=tuple(results),
        counterexample=counterexample,
        parallel=parallel,
        warnings=tuple(warnings),
    )
