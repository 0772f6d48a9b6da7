"""Budgets give UNKNOWN (never success); worker processes give the same answers."""

from __future__ import annotations

import random

import attrs
from jl_builders import events

from jepsen_lite.checker import Verdict, check
from jepsen_lite.checker.partition import prepare
from jepsen_lite.checker.wgl import NOT_CHECKED_REASON, PartitionSearch, check_partition
from jepsen_lite.history import Event, History, pair_events
from jepsen_lite.history.simulate import SimConfig, simulate
from jepsen_lite.models import make_model

CAS = make_model("cas-register")


HARD = SimConfig(operations=3000, processes=50, keys=1, info_rate=0.02, fail_rate=0.02)
"""One key, 50 concurrent processes, crashed writes: about 60,000 configurations (0.2 s of
CPU); the budget is checked every 2,048 steps, so a 1 ms limit is noticed early."""


def hard_history() -> History:
    return pair_events(simulate(HARD, random.Random(7)))


def test_tiny_time_limit_on_a_hard_history_is_unknown_not_success() -> None:
    result = check(CAS, hard_history(), time_limit_s=0.001)
    assert result.verdict is Verdict.UNKNOWN
    assert not result.is_linearizable
    assert result.results[0].reason == "time limit reached"
    assert result.counterexample is None


def test_memory_budget_gives_unknown() -> None:
    result = check(CAS, hard_history(), max_cache_entries=100)
    assert result.verdict is Verdict.UNKNOWN
    reason = result.results[0].reason
    assert reason is not None and reason.startswith("memory budget spent")


def _hard() -> list[Event]:
    """Key "hard": a linearizable history too big for a small budget (seeded: the same
    every call)."""
    return [attrs.evolve(e, key="hard") for e in simulate(HARD, random.Random(7))]


def _hard_then_stale() -> list[Event]:
    """:func:`_hard`, then key "bad": a write of 1 and a later read of 0 (a stale read),
    after all of it."""
    hard = _hard()
    stale = events("""
        9000 invoke write @bad 1
        9000 ok     write @bad 1
        9001 invoke read  @bad
        9001 ok     read  @bad 0
    """)
    late = [attrs.evolve(e, time=10**9 + n) for n, e in enumerate(stale)]
    return hard + late


def test_not_linearizable_wins_over_unknown() -> None:
    # key "hard" cannot finish in the budget; key "bad" has a stale read
    result = check(CAS, pair_events(_hard_then_stale()), time_limit_s=0.001)
    verdicts = {r.key: r.verdict for r in result.results}
    assert verdicts == {"hard": Verdict.UNKNOWN, "bad": Verdict.NOT_LINEARIZABLE}
    assert result.verdict is Verdict.NOT_LINEARIZABLE


def test_worker_processes_give_the_same_results_as_sequential() -> None:
    config = SimConfig(operations=2000, processes=6, keys=8, info_rate=0.05, fail_rate=0.05)
    events = simulate(config, random.Random(3))
    keys = [p.key for p in prepare(CAS, pair_events(events))]
    last_key = keys[-1]  # the last partition checked
    reads = [
        n for n, e in enumerate(events)
        if e.type.value == "ok" and e.f == "read" and e.key == last_key
    ]  # fmt: skip
    events[reads[10]] = attrs.evolve(events[reads[10]], value=99)  # break that key
    history = pair_events(events)
    sequential = check(CAS, history, workers=1)
    parallel = check(CAS, history, workers=2, parallel_after_s=0.0)
    assert parallel.parallel and not sequential.parallel
    assert sequential.verdict is parallel.verdict is Verdict.NOT_LINEARIZABLE
    assert [(r.key, r.verdict) for r in sequential.results] == [
        (k, Verdict.LINEARIZABLE) for k in keys[:-1]
    ] + [(last_key, Verdict.NOT_LINEARIZABLE)]
    for seq, par in zip(sequential.results, parallel.results, strict=True):
        assert (par.key, par.operations) == (seq.key, seq.operations)
        # a worker may have been stopped once the failing key was found
        assert par.verdict is seq.verdict or par.reason == NOT_CHECKED_REASON
    assert parallel.counterexample == sequential.counterexample


def test_the_first_failing_key_settles_the_verdict_and_the_rest_are_not_checked() -> None:
    stale = events("""
        0 invoke write @bad 1
        0 ok     write @bad 1
        1 invoke read  @bad
        1 ok     read  @bad 0
    """)
    hard = [attrs.evolve(e, key="hard", time=10**9 + n) for n, e in enumerate(
        simulate(HARD, random.Random(7))
    )]  # fmt: skip
    result = check(CAS, pair_events(stale + hard), workers=1)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert [(r.key, r.verdict, r.reason) for r in result.results] == [
        ("bad", Verdict.NOT_LINEARIZABLE, None),
        ("hard", Verdict.UNKNOWN, NOT_CHECKED_REASON),
    ]
    assert result.keys == 2 and result.checked_operations == 2
    assert result.counterexample is not None and result.counterexample.key == "bad"


def test_a_cheap_failing_key_is_found_before_an_expensive_one_is_finished() -> None:
    # "hard" (linearizable, about 60,000 configurations) comes first in the history, but
    # the first round allows each key 4,096: "bad" fails in round one and settles it
    result = check(CAS, pair_events(_hard_then_stale()), workers=1)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert [(r.key, r.verdict, r.reason) for r in result.results] == [
        ("hard", Verdict.UNKNOWN, NOT_CHECKED_REASON),
        ("bad", Verdict.NOT_LINEARIZABLE, None),
    ]
    assert result.counterexample is not None and result.counterexample.key == "bad"
    alone = check(CAS, pair_events(_hard()), workers=1)  # alone, it gets the whole budget
    assert alone.verdict is Verdict.LINEARIZABLE and alone.results[0].explored > 4096


def test_a_suspended_and_resumed_search_is_the_same_search() -> None:
    partition = prepare(CAS, hard_history())[0]
    whole = check_partition(CAS, partition)
    search = PartitionSearch(CAS, partition)
    allowance, runs = 1000, 0
    result = None
    while result is None:
        result = search.run(allowance)
        allowance += 1000
        runs += 1
    assert runs > 10  # it really was suspended many times
    assert (result.verdict, result.explored) == (whole.verdict, whole.explored)
    assert result.verdict is Verdict.LINEARIZABLE


def test_a_read_proved_unreachable_settles_the_verdict_before_any_search() -> None:
    # key "a" (linearizable, needs a search) comes first; key "b" reads a value no write
    # gave it, which the kv model proves without a search: "a" is never searched
    kv = make_model("kv", "")
    both = events("""
        0 invoke put    @a "x"
        1 invoke append @a "y"
        0 ok     put    @a "x"
        1 ok     append @a "y"
        2 invoke get    @a
        2 ok     get    @a "xy"
        3 invoke put    @b "p"
        3 ok     put    @b "p"
        3 invoke get    @b
        3 ok     get    @b "q"
    """)
    result = check(kv, pair_events(both), workers=1)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert [(r.key, r.verdict, r.reason, r.explored) for r in result.results] == [
        ("a", Verdict.UNKNOWN, NOT_CHECKED_REASON, 0),
        ("b", Verdict.NOT_LINEARIZABLE, None, 0),
    ]
    alone = check(kv, pair_events([e for e in both if e.key == "a"]), workers=1)
    assert alone.verdict is Verdict.LINEARIZABLE and alone.results[0].explored > 0
