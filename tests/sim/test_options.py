"""Fault options: parsing the --faults list, swarm draws from the seed, config validation."""

from __future__ import annotations

import random

import pytest

from consensus.sim.options import (
    FaultKind,
    FaultOptions,
    SimConfig,
    available_faults,
    parse_faults,
)

NET = frozenset(available_faults(disk=False))
ALL = frozenset(available_faults())


def test_parse_faults_words() -> None:
    assert parse_faults("all") == ALL
    assert parse_faults("none") == frozenset()
    assert parse_faults("loss, crash") == {FaultKind.LOSS, FaultKind.CRASH}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("loss,bogus", r"unknown fault 'bogus'; choose from: all, none, partition"),
        ("loss,,crash", r"empty fault name in 'loss,,crash'"),
        ("all,loss", r"unknown fault 'all'"),
    ],
)
def test_parse_faults_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_faults(text)


def test_disk_only_where_available() -> None:
    assert parse_faults("disk") == {FaultKind.DISK}
    assert FaultKind.DISK not in parse_faults("all", available_faults(disk=False))
    with pytest.raises(ValueError, match="fault 'disk' is not available here; choose from: p"):
        parse_faults("loss,disk", available_faults(disk=False))


def test_draw_enables_only_requested_kinds_and_at_least_one() -> None:
    for requested in (
        NET,
        frozenset({FaultKind.LOSS}),
        frozenset({FaultKind.CRASH, FaultKind.DELAY}),
    ):
        seen: set[FaultKind] = set()
        for seed in range(200):
            opts = FaultOptions.draw(random.Random(seed), requested, 10_000)
            kinds = set(opts.enabled())
            assert kinds, f"seed {seed} enabled nothing"
            assert kinds <= requested
            seen |= kinds
        assert seen == requested  # over many seeds, every requested kind shows up


def test_draw_of_nothing_is_fault_free() -> None:
    opts = FaultOptions.draw(random.Random(3), frozenset(), 10_000)
    assert opts == FaultOptions()
    assert opts.enabled() == ()
    assert opts.describe() == "none"


def test_draw_is_a_function_of_the_seed() -> None:
    a = FaultOptions.draw(random.Random(42), NET, 10_000)
    b = FaultOptions.draw(random.Random(42), NET, 10_000)
    assert a == b
    draws = {FaultOptions.draw(random.Random(s), NET, 10_000) for s in range(20)}
    assert len(draws) == 20


def test_draw_intensities_in_range() -> None:
    for seed in range(100):
        o = FaultOptions.draw(random.Random(seed), NET, 10_000)
        assert 0 <= o.loss_rate <= 0.3
        assert 0 <= o.duplicate_rate <= 0.2
        assert (o.spike_rate > 0) == (o.spike_us_max > 0)
        assert (o.partition_every_us > 0) == (o.partition_us_max > 0)
        assert (o.crash_every_us > 0) == (o.downtime_us_max > 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nodes": 0}, r"SimConfig.nodes must be >= 1, got 0"),
        ({"tick_interval_us": 0}, r"SimConfig.tick_interval_us must be >= 1, got 0"),
        ({"delay_us_min": 5, "delay_us_max": 4}, r"delay_us_max \(4\) must be >= delay_us_min"),
        ({"read_fraction": 1.5}, r"read_fraction must be in \[0, 1\], got 1.5"),
        ({"tick_drift_max": 0.5}, r"tick_drift_max must be in \[0, 0.5\)"),
    ],
)
def test_config_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimConfig(**kwargs)  # type: ignore[arg-type]


def test_churn_keeps_away_from_reply_crashes_and_reaches_crash_free_seeds() -> None:
    """Churn: every crash seed without reply crashes (whole fault phase), never one with
    them, about half of the crash-free seeds (first 300-600 ticks) when the sweep may
    crash, none when it may not."""
    tick = 10_000
    crash = FaultOptions(crash_every_us=1_000_000, downtime_us_max=100_000)
    replying = FaultOptions(crash_every_us=1_000_000, reply_crash_rate=0.1)
    quiet = FaultOptions(loss_rate=0.1)
    rng = random.Random(7)
    for _ in range(50):
        drawn = crash.with_churn(rng, tick)
        assert 0.6 <= drawn.churn_rate <= 0.95 and drawn.churn_until_us == 0
        assert crash.with_churn(rng, tick, crash_allowed=False).churn_rate > 0
        assert replying.with_churn(rng, tick).churn_rate == 0.0
        assert quiet.with_churn(rng, tick, crash_allowed=False).churn_rate == 0.0
    churned = [quiet.with_churn(rng, tick) for _ in range(400)]
    windows = [f.churn_until_us for f in churned if f.churn_rate > 0]
    assert 150 < len(windows) < 250
    assert all(300 * tick <= w <= 600 * tick for w in windows)
    assert "churn<" in next(f for f in churned if f.churn_rate).describe()
    # One seed, one answer: the stream is consumed the same way whatever is on.
    a, b = random.Random(3), random.Random(3)
    quiet.with_churn(a, tick, crash_allowed=False)
    replying.with_churn(b, tick)
    assert a.random() == b.random()
