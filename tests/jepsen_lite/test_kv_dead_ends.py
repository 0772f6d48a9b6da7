"""The dead-end test of growing ``kv`` states (``checker/wgl.py``, ``_growth``): a pending
read whose value the state can no longer grow into, with no ``put`` left that could be its
base, fails its configuration at once. It must never change a verdict: on arbitrary small
``kv`` histories (puts, appends of text and of list items, gets, every completion type) the
checker agrees with the brute-force checker, with the proof of unreachable reads off so
that the search itself decides."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jepsen_lite.checker import brute_force_check, check
from jepsen_lite.history import Event, EventType, Value, pair_events
from jepsen_lite.models import make_model
from jepsen_lite.models.kv import KvModel

_TEXT_READS: list[Value] = ["", "a", "b", "ab", "ba", "aa", "bab", "abb"]
_LIST_READS: list[Value] = [None, (), ("a",), ("b",), ("a", "b"), ("b", "a"), ("a", "a")]
"""Lists as the loaders freeze them (tuples)."""


@st.composite
def kv_histories(draw: st.DrawFn, lists: bool = False) -> list[Event]:
    """One key, up to 7 operations, random interleaving and completions; text values
    (initial ``""``) or, with ``lists``, list values (initial ``null``)."""
    count = draw(st.integers(1, 7))
    reads = _LIST_READS if lists else _TEXT_READS
    ops = []
    for process in range(count):
        f = draw(st.sampled_from(["get", "get", "put", "append", "append"]))
        if f == "get":
            value: Value = None
            output = draw(st.sampled_from(reads))
        elif f == "put":
            value = draw(st.sampled_from(reads[1:4] if lists else ["a", "b", "ab"]))
            output = value
        else:
            value = draw(st.sampled_from(["a", "b"]))
            output = value
        end = draw(st.sampled_from(["ok", "ok", "ok", "fail", "info", "pending"]))
        ops.append((process, f, value, end, output))
    order = draw(st.permutations([(n, part) for n in range(count) for part in (0, 1)]))
    seen: set[int] = set()
    events: list[Event] = []
    for n, _ in order:  # the first occurrence of n is its invoke, the second its completion
        process, f, value, end, output = ops[n]
        if n not in seen:
            seen.add(n)
            events.append(Event(process, EventType.INVOKE, f, value, "k", time=len(events)))
        elif end != "pending":
            result = output if end == "ok" else value
            events.append(Event(process, EventType(end), f, result, "k", time=len(events)))
    return events


def _agree(events: list[Event], initial: Value) -> None:
    history = pair_events(events)
    model = make_model("kv", initial)
    assert isinstance(model, KvModel)
    search_only = attrs.evolve(model, prove_unreachable=False)
    expected = brute_force_check(model, history)
    assert check(search_only, history, workers=1).verdict is expected
    assert check(model, history, workers=1).verdict is expected


@settings(max_examples=150, deadline=None)
@given(events=kv_histories())
def test_text_appends_agree_with_brute_force(events: list[Event]) -> None:
    _agree(events, "")


@settings(max_examples=100, deadline=None)
@given(events=kv_histories(lists=True))
def test_list_appends_agree_with_brute_force(events: list[Event]) -> None:
    _agree(events, None)


@pytest.mark.slow
@settings(max_examples=20_000, deadline=None)
@given(events=kv_histories())
def test_soak_text_appends_agree_with_brute_force(events: list[Event]) -> None:
    _agree(events, "")


@pytest.mark.slow
@settings(max_examples=10_000, deadline=None)
@given(events=kv_histories(lists=True))
def test_soak_list_appends_agree_with_brute_force(events: list[Event]) -> None:
    _agree(events, None)


def test_the_hot_twin_is_linearizable_with_few_configurations() -> None:
    """On a linearizable hard history the dead ends cut the configurations explored (the
    figure is not timed; before the test, ``hot0.15`` seed 1 cached 119,095)."""
    import random

    from consensus.bench.checker.bench_checker import HardKvConfig, hard_kv_events

    history = pair_events(
        hard_kv_events(HardKvConfig(hot_share=0.15, corrupt=False), random.Random(1))
    )
    result = check(make_model("kv", ""), history, workers=1)
    assert result.verdict.value == "linearizable"
    assert sum(r.explored for r in result.results) < 40_000
