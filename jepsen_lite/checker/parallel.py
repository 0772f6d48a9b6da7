"""Check partitions sequentially, moving to worker processes when the work is heavy.

How hard a partition is depends on its concurrency far more than on its length: a
100,000-operation history at low concurrency checks in a fraction of a second, faster
than starting workers and shipping the operations to them; one key with 50 concurrent
processes can take minutes. So the threshold is measured, not guessed: partitions are
checked in this process until :data:`PARALLEL_AFTER_S` seconds have gone by; if partitions
remain then (including one interrupted at that moment, restarted from scratch), they go
to a ``concurrent.futures.ProcessPoolExecutor`` with one worker per CPU. The most this
wastes is the interrupted partition's first :data:`PARALLEL_AFTER_S` seconds.

The first partition found not linearizable settles the verdict, so the others are not
checked further: in this process the loop stops; workers share a stop flag that the
search polls with its budgets, and partitions not yet started return at once. Each
partition left so is UNKNOWN with :data:`~.wgl.NOT_CHECKED_REASON`.

Workers receive the model and all partitions once, at start-up (inherited, not pickled,
with ``fork``), and then only partition indexes. ``fork`` is used when this process has a
single thread (the CLI; about 10 ms per worker), ``forkserver`` otherwise (forking a
threaded process, e.g. inside a Trio program, is unsafe; about 100 ms).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing.synchronize import Event as EventType

from ..models.base import Model, Partition
from .result import KeyResult, Verdict
from .wgl import NOT_CHECKED_REASON, TIME_LIMIT_REASON, check_partition

PARALLEL_AFTER_S = 1.0
"""Sequential checking time after which the remaining partitions go to workers."""

_worker_model: Model | None = None
_worker_partitions: Sequence[Partition] = ()
_worker_stop: EventType | None = None


def available_workers() -> int:
    """CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def check_partitions(
    model: Model,
    partitions: Sequence[Partition],
    deadline: float | None,
    max_cache_entries: int,
    workers: int,
    parallel_after_s: float = PARALLEL_AFTER_S,
) -> tuple[list[KeyResult], bool]:
    """Check every partition; returns the results in partition order and whether worker
    processes were used. ``deadline`` is a :func:`time.monotonic` instant (system-wide on
    Linux, so workers share it); ``workers`` < 2 means never use workers. After the first
    NOT_LINEARIZABLE partition the rest are :func:`not_checked`."""
    results: list[KeyResult] = []
    switch_at = time.monotonic() + parallel_after_s
    for index, partition in enumerate(partitions):
        if results and results[-1].verdict is Verdict.NOT_LINEARIZABLE:
            return results + [not_checked(p) for p in partitions[index:]], False
        remaining = len(partitions) - index
        if workers < 2 or remaining < 2:
            results.append(check_partition(model, partition, deadline, max_cache_entries))
            continue
        probe = switch_at if deadline is None else min(deadline, switch_at)
        result = check_partition(model, partition, probe, max_cache_entries)
        interrupted = result.reason == TIME_LIMIT_REASON and (deadline is None or probe < deadline)
        if not interrupted and (
            time.monotonic() < switch_at or result.verdict is Verdict.NOT_LINEARIZABLE
        ):
            results.append(result)
            continue
        first = index + 1 if not interrupted else index
        if not interrupted:
            results.append(result)
        if first < len(partitions) - 1 or interrupted:
            rest = _check_in_workers(
                model, partitions, range(first, len(partitions)), deadline,
                max_cache_entries, workers,
            )  # fmt: skip
            return results + rest, True
    return results, False


def not_checked(partition: Partition) -> KeyResult:
    """The result of a partition left unchecked because another one failed."""
    return KeyResult(
        key=partition.key,
        verdict=Verdict.UNKNOWN,
        operations=len(partition.ops),
        time_s=0.0,
        reason=NOT_CHECKED_REASON,
    )


def _check_in_workers(
    model: Model,
    partitions: Sequence[Partition],
    indexes: range,
    deadline: float | None,
    max_cache_entries: int,
    workers: int,
) -> list[KeyResult]:
    method = "fork" if threading.active_count() == 1 else "forkserver"
    context = multiprocessing.get_context(method)
    order = sorted(indexes, key=lambda i: -len(partitions[i].ops))  # biggest first
    stop = context.Event()
    by_index: dict[int, KeyResult] = {}
    with ProcessPoolExecutor(
        min(workers, len(order)),
        mp_context=context,
        initializer=_install,
        initargs=(model, partitions, stop),
    ) as pool:
        futures = {pool.submit(_check_one, i, deadline, max_cache_entries): i for i in order}
        for future in as_completed(futures):
            result = future.result()
            by_index[futures[future]] = result
            if result.verdict is Verdict.NOT_LINEARIZABLE:
                stop.set()  # the verdict is settled: the others stop at their next poll
    return [by_index[i] for i in indexes]


def _install(model: Model, partitions: Sequence[Partition], stop: EventType) -> None:
    global _worker_model, _worker_partitions, _worker_stop
    _worker_model = model
    _worker_partitions = partitions
    _worker_stop = stop


def _check_one(index: int, deadline: float | None, max_cache_entries: int) -> KeyResult:
    assert _worker_model is not None and _worker_stop is not None, "worker initialized"
    partition = _worker_partitions[index]
    if _worker_stop.is_set():
        return not_checked(partition)
    stopped: Callable[[], bool] = _worker_stop.is_set
    return check_partition(_worker_model, partition, deadline, max_cache_entries, stopped)
