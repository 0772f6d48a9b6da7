"""Property tests: histories made by running a model with random concurrency windows are
linearizable; the same histories with one read changed to an impossible value are not;
and on small histories the checker agrees with the brute-force checker."""

from __future__ import annotations

import random

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jepsen_lite.checker import Verdict, brute_force_check, check
from jepsen_lite.history import Event, EventType, Value, pair_events
from jepsen_lite.history.simulate import SIM_MODELS, SimConfig, simulate
from jepsen_lite.models import make_model

IMPOSSIBLE = 99  # the simulator writes values below SimConfig.values


def configs(max_ops: int = 60) -> st.SearchStrategy[SimConfig]:
    return st.builds(
        SimConfig,
        model=st.sampled_from(SIM_MODELS),
        operations=st.integers(1, max_ops),
        processes=st.integers(1, 8),
        keys=st.integers(1, 3),
        values=st.integers(1, 5),
        info_rate=st.sampled_from([0.0, 0.1, 0.3]),
        fail_rate=st.sampled_from([0.0, 0.1]),
    )


def impossible(model: str, seen: Value) -> Value:
    """A read result no run of ``model`` can produce, replacing ``seen``."""
    if model == "set":
        assert isinstance(seen, tuple)
        return (*seen, IMPOSSIBLE)
    if model == "counter":
        return -1  # adds are positive and the counter starts at 0
    if model == "multi-register":
        assert isinstance(seen, tuple)
        first_read = next(n for n, m in enumerate(seen) if m[0] == "read")  # type: ignore[index]
        f, key, _ = seen[first_read]  # type: ignore[misc,str-unpack]
        return (*seen[:first_read], (f, key, IMPOSSIBLE), *seen[first_read + 1 :])
    return IMPOSSIBLE


def is_observed_read(event: Event) -> bool:
    if event.type is not EventType.OK:
        return False
    if event.f == "txn":
        return any(m[0] == "read" for m in event.value)  # type: ignore[union-attr,index]
    return event.f in ("read", "get")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs(), seed=st.integers(0, 2**32 - 1))
def test_simulated_histories_are_linearizable(config: SimConfig, seed: int) -> None:
    history = pair_events(simulate(config, random.Random(seed)))
    result = check(make_model(config.model), history, workers=1)
    assert result.verdict is Verdict.LINEARIZABLE, result.counterexample


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs(), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_one_impossible_read_makes_a_history_not_linearizable(
    config: SimConfig, seed: int, data: st.DataObject
) -> None:
    events = simulate(config, random.Random(seed))
    reads = [n for n, event in enumerate(events) if is_observed_read(event)]
    if not reads:
        return
    n = data.draw(st.sampled_from(reads), label="mutated read")
    events[n] = attrs.evolve(events[n], value=impossible(config.model, events[n].value))
    result = check(make_model(config.model), pair_events(events), workers=1)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert result.counterexample is not None


def mutate_outputs(events: list[Event], rng: random.Random, model: str) -> list[Event]:
    """Give some observed reads another plausible value, so some histories are bad."""
    mutated = []
    for event in events:
        if is_observed_read(event) and event.f != "txn" and rng.random() < 0.3:
            options: list[Value]
            if model == "set":
                options = [(), (0,), (1,), (0, 1)]
            elif model == "kv":
                options = [None, (0,), (1,), (0, 1)]
            elif model == "counter":
                options = [0, 1, 2, 3]
            else:
                options = [None, 0, 1, 2]
            event = attrs.evolve(event, value=rng.choice(options))
        mutated.append(event)
    return mutated


@settings(max_examples=300, deadline=None)
@given(config=configs(max_ops=7), seed=st.integers(0, 2**32 - 1))
def test_checker_agrees_with_brute_force_on_small_histories(config: SimConfig, seed: int) -> None:
    rng = random.Random(seed)
    config = attrs.evolve(config, values=min(config.values, 3))
    events = mutate_outputs(simulate(config, rng), rng, config.model)
    history = pair_events(events)
    model = make_model(config.model)
    assert check(model, history, workers=1).verdict is brute_force_check(model, history)


@st.composite
def arbitrary_histories(draw: st.DrawFn) -> list[Event]:
    """Any well-formed cas-register history of up to 7 operations: random interleaving,
    random completion types and random values, not produced by running a model."""
    count = draw(st.integers(1, 7))
    ops = []
    for process in range(count):
        f = draw(st.sampled_from(["read", "write", "cas"]))
        value: Value = None
        if f == "write":
            value = draw(st.integers(0, 2))
        elif f == "cas":
            value = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        end = draw(st.sampled_from(["ok", "ok", "ok", "fail", "info", "pending"]))
        output = draw(st.sampled_from([None, 0, 1, 2])) if f == "read" else value
        ops.append((process, f, value, end, output))
    order = draw(st.permutations([(n, part) for n in range(count) for part in (0, 1)]))
    seen: set[int] = set()
    events: list[Event] = []
    for n, _ in order:  # the first occurrence of n is its invoke, the second its completion
        process, f, value, end, output = ops[n]
        if n not in seen:
            seen.add(n)
            events.append(Event(process, EventType.INVOKE, f, value, time=len(events)))
        elif end != "pending":
            result = output if end == "ok" else value
            events.append(Event(process, EventType(end), f, result, time=len(events)))
    return events


@settings(max_examples=400, deadline=None)
@given(events=arbitrary_histories())
def test_checker_agrees_with_brute_force_on_arbitrary_histories(events: list[Event]) -> None:
    history = pair_events(events)
    model = make_model("cas-register")
    assert check(model, history, workers=1).verdict is brute_force_check(model, history)


@pytest.mark.slow
@settings(max_examples=20_000, deadline=None)
@given(events=arbitrary_histories())
def test_soak_checker_agrees_with_brute_force(events: list[Event]) -> None:
    history = pair_events(events)
    model = make_model("cas-register")
    assert check(model, history, workers=1).verdict is brute_force_check(model, history)


@pytest.mark.slow
@settings(max_examples=5_000, deadline=None)
@given(config=configs(max_ops=8), seed=st.integers(0, 2**32 - 1))
def test_soak_checker_agrees_with_brute_force_on_simulated(config: SimConfig, seed: int) -> None:
    test_checker_agrees_with_brute_force_on_small_histories.hypothesis.inner_test(  # type: ignore[attr-defined]
        config, seed
    )
