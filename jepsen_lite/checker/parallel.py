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
from .wgl import NOT_CHECKED_REASON, TIME_LIMIT_REASON, PartitionSearch, check_partition

PARALLEL_AFTER_S = 1.0
"""Sequential checking time after which the remaining partitions go to workers."""
FIRST_ROUND_CONFIGS = 4096
"""Configurations each partition may cache in the first round (see
:func:`check_partitions`); about 10-20 ms of searching."""

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
    Linux, so workers share it); ``workers`` < 2 means never use workers.

    First every partition's reads are put to the model's proof of unreachability
    (``Model.unreachable``, a few milliseconds a key, no search): a partition failing it
    settles the verdict before any key is searched. Then, in this process, the
    partitions are checked in rounds, like threads taking turns:
    each unfinished partition's search may grow its cache to :data:`FIRST_ROUND_CONFIGS`
    configurations in the first round, to four times that in the next, and so on, and is
    suspended in between, losing no work (:class:`~.wgl.PartitionSearch`). So a cheap
    failing key is found without first finishing expensive linearizable ones. Memory
    stays bounded: rounds go on only while every unfinished partition's allowance fits in
    ``max_cache_entries`` together; past that, each is run to its end in turn (at most
    twice one partition's budget cached at once). After the first NOT_LINEARIZABLE
    partition the rest are :func:`not_checked`."""
    results: dict[int, KeyResult] = {}
    switch_at = time.monotonic() + parallel_after_s
    may_fork = workers >= 2 and len(partitions) >= 2
    probe = deadline if not may_fork else min(deadline or switch_at, switch_at)
    searches: dict[int, PartitionSearch] = {}
    pending = list(range(len(partitions)))
    allowance = FIRST_ROUND_CONFIGS
    try:
        # first the reads each model proves unreachable, with no search: a key failing so
        # settles the verdict before any other key is searched
        for index in pending:
            search = PartitionSearch(model, partitions[index], probe, max_cache_entries)
            searches[index] = search
            if search.unreachable is not None:
                results[index] = search.unreachable
                return _in_order(partitions, results), False
        while pending:
            unfinished: list[int] = []
            in_rounds = len(pending) * allowance <= max_cache_entries
            for position, index in enumerate(pending):
                remaining = len(unfinished) + len(pending) - position  # this one included
                switch = may_fork and remaining >= 2 and time.monotonic() >= switch_at
                result = None
                if not switch:
                    search = searches[index]
                    search.budgets.deadline = probe if remaining >= 2 else deadline
                    result = search.run(allowance if in_rounds and remaining >= 2 else None)
                    # the time to switch to workers came first: this and the rest go there
                    switch = (
                        result is not None
                        and result.reason == TIME_LIMIT_REASON
                        and search.budgets.deadline != deadline
                    )
                if switch:
                    rest = sorted(unfinished + pending[position:])
                    done = _check_in_workers(
                        model, partitions, rest, deadline, max_cache_entries, workers
                    )
                    results.update(done)
                    return _in_order(partitions, results), True
                if result is None:
                    unfinished.append(index)
                    continue
                results[index] = result
                searches.pop(index).close()
                if result.verdict is Verdict.NOT_LINEARIZABLE:
                    return _in_order(partitions, results), False
            pending = unfinished
            allowance *= 4
        return _in_order(partitions, results), False
    finally:
        for search in searches.values():
            search.close()


def _in_order(partitions: Sequence[Partition], results: dict[int, KeyResult]) -> list[KeyResult]:
    """The results in partition order; partitions without one are :func:`not_checked`."""
    return [results.get(i) or not_checked(p) for i, p in enumerate(partitions)]


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
    indexes: list[int],
    deadline: float | None,
    max_cache_entries: int,
    workers: int,
) -> dict[int, KeyResult]:
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
    return by_index


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
