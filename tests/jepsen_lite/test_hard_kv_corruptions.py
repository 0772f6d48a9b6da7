"""The stale-read and lost-append corruptions of the hard kv histories: values made of
written tokens, so the unreachable-read proof cannot refute them and the search must;
on tiny histories the brute-force checker confirms that each corrupted history is not
linearizable (the generator's claim), and the checker agrees."""

from __future__ import annotations

import random
from typing import cast

import attrs
import pytest

from consensus.bench.checker.bench_checker import HARD_KV_INIT, HardKvConfig, hard_kv_events
from consensus.bench.checker.bench_vs_porcupine import agree
from jepsen_lite.checker import Verdict, brute_force_check, check
from jepsen_lite.checker.partition import prepare
from jepsen_lite.history import pair_events
from jepsen_lite.history.ops import Value
from jepsen_lite.models import make_model
from jepsen_lite.models.reachable import unreachable_kv_read

KV = make_model("kv", HARD_KV_INIT)
MEDIUM = HardKvConfig(clients=20, keys=3, operations=400, hot_share=0.5)


@pytest.mark.parametrize("how", ["stale", "lost"])
@pytest.mark.parametrize("seed", [2, 3])
def test_the_search_refutes_what_the_proof_cannot(how: str, seed: int) -> None:
    config = attrs.evolve(MEDIUM, corruption=how)
    events = hard_kv_events(config, random.Random(seed))
    twin = hard_kv_events(attrs.evolve(config, corrupt=False), random.Random(seed))
    differ = [(b, g) for b, g in zip(events, twin, strict=True) if b != g]
    assert len(differ) == 1 and differ[0][0].f == "get"
    history = pair_events(events)
    for partition in prepare(KV, history):
        assert unreachable_kv_read(cast(Value, KV.init(partition.key)), partition.ops) is None
    result = check(KV, history, workers=1)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    cx = result.counterexample
    assert cx is not None and cx.key == "k0" and cx.linearization  # found by the search
    assert check(KV, pair_events(twin), workers=1).verdict is Verdict.LINEARIZABLE


@pytest.mark.parametrize("how", ["stale", "lost"])
def test_tiny_corrupted_histories_are_not_linearizable_by_brute_force(how: str) -> None:
    tiny = HardKvConfig(clients=3, keys=1, operations=7, corruption=how)
    built = 0
    for seed in range(200):
        if built == 6:
            break
        try:
            events = hard_kv_events(tiny, random.Random(seed))
        except ValueError:  # no read of this seed can be corrupted that way
            continue
        built += 1
        history = pair_events(events)
        assert brute_force_check(KV, history) is Verdict.NOT_LINEARIZABLE
        assert check(KV, history, workers=1).verdict is Verdict.NOT_LINEARIZABLE
    assert built == 6


def test_an_unknown_corruption_is_refused() -> None:
    with pytest.raises(ValueError, match="corruption 'typo' is not one of token, stale, lost"):
        HardKvConfig(corruption="typo")


def test_verdicts_agree_across_the_tools() -> None:
    assert agree("Ok", Verdict.LINEARIZABLE) and agree("Illegal", Verdict.NOT_LINEARIZABLE)
    assert not agree("Ok", Verdict.NOT_LINEARIZABLE) and not agree("Illegal", Verdict.LINEARIZABLE)
    assert agree("Unknown", Verdict.LINEARIZABLE) and agree("Ok", Verdict.UNKNOWN)
