"""The hard key-value histories of the benchmark (many clients, a hot key, one key
corrupted) get the right verdicts, and the counterexample names the corrupted key.
Not timed: speed is reported by ``python -m jepsen_lite.bench_checker --hard``."""

from __future__ import annotations

import random
from pathlib import Path

import attrs
import pytest

from jepsen_lite.bench_checker import (
    CORRUPT_TOKEN,
    HARD_KV_INIT,
    HardKvConfig,
    edn_line,
    hard_kv_events,
)
from jepsen_lite.checker import Verdict, check
from jepsen_lite.checker.partition import prepare
from jepsen_lite.checker.wgl import PartitionSearch, check_partition
from jepsen_lite.cli import main
from jepsen_lite.history import load_history, pair_events
from jepsen_lite.models import make_model

KV = make_model("kv", HARD_KV_INIT)
SMALL = HardKvConfig(clients=50, keys=10, operations=1000, hot_share=0.1)


@pytest.mark.parametrize("corrupt_key", [0, 5])
def test_the_corrupted_history_is_not_linearizable_and_names_the_key(corrupt_key: int) -> None:
    config = attrs.evolve(SMALL, corrupt_key=corrupt_key)
    history = pair_events(hard_kv_events(config, random.Random(1)))
    result = check(KV, history, workers=1)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    cx = result.counterexample
    assert cx is not None and cx.key == f"k{corrupt_key}"
    assert cx.failing_op.f == "get" and str(cx.failing_op.output).endswith(CORRUPT_TOKEN)
    failing = [r.key for r in result.results if r.verdict is Verdict.NOT_LINEARIZABLE]
    assert failing == [f"k{corrupt_key}"]


def test_the_twin_is_linearizable() -> None:
    twin = attrs.evolve(SMALL, corrupt=False)
    history = pair_events(hard_kv_events(twin, random.Random(1)))
    result = check(KV, history, workers=1)
    assert result.verdict is Verdict.LINEARIZABLE
    assert result.keys == 10 and result.checked_operations == SMALL.operations


def test_the_twins_differ_in_one_read_only() -> None:
    bad = hard_kv_events(SMALL, random.Random(4))
    good = hard_kv_events(attrs.evolve(SMALL, corrupt=False), random.Random(4))
    differ = [(b, g) for b, g in zip(bad, good, strict=True) if b != g]
    assert len(differ) == 1
    b, g = differ[0]
    assert b.f == "get" and b.value == f"{g.value}{CORRUPT_TOKEN}"


def test_porcupine_style_edn_with_a_key_field_checks_per_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c50-like.edn"
    events = hard_kv_events(SMALL, random.Random(1))
    path.write_text("".join(edn_line(e) + "\n" for e in events), encoding="utf-8")
    history = load_history(path)
    assert history.keys == frozenset(f"k{n}" for n in range(10))
    assert main(["check", str(path), "--model", "kv", "--init", '""']) == 1
    out = capsys.readouterr().out
    assert "not-linearizable (1000 operations, 10 keys" in out
    assert 'key "k0": cannot linearize get' in out


def test_a_resumed_search_finds_the_same_counterexample() -> None:
    history = pair_events(hard_kv_events(SMALL, random.Random(2)))
    partition = next(p for p in prepare(KV, history) if p.key == "k0")
    whole = check_partition(KV, partition)
    search = PartitionSearch(KV, partition)
    allowance, result = 500, None
    while result is None:
        result = search.run(allowance)
        allowance += 500
    assert whole.verdict is result.verdict is Verdict.NOT_LINEARIZABLE
    assert result.explored == whole.explored > 500
    assert result.counterexample == whole.counterexample
