"""The list-append workload: transactions over the real store's txn API, valid on a
correct store and in a sim run (the history checks with ``check-txn``), an acknowledged
append rolled back is found, and a broken core is found by the Elle-style checker."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from jepsen_lite.cli import main
from jepsen_lite.history.ops import Status
from jepsen_lite.runner.api import Invocation, TestSpec, Validity
from jepsen_lite.runner.workloads.list_append import (
    ListAppendWorkload,
    decode_list,
    encode_list,
)

from .drive import RollsBack, check_all, drive
from .fakes import LocalBackend, local_session


def test_lists_round_trip_and_a_corrupt_word_stays_visible() -> None:
    assert decode_list(encode_list([3, 1, 2])) == (3, 1, 2)
    assert decode_list(None) == () and decode_list(b"") == ()
    assert decode_list(b"1 x2 3") == (1, "x2", 3)


def test_the_generator_appends_unique_values_to_distinct_keys() -> None:
    workload = ListAppendWorkload()
    generator = workload.generator(random.Random(1), TestSpec(keys=3, ops_per_key=1000))
    appended: set[tuple[object, object]] = set()
    for _ in range(300):
        op = generator.next(0, 0.0)
        assert op is not None and op.f == "txn" and isinstance(op.value, tuple)
        keys = [step[1] for step in op.value]
        assert len(keys) == len(set(keys)) and 1 <= len(keys) <= 3
        for f, key, value in op.value:
            if f == "append":
                assert (key, value) not in appended
                appended.add((key, value))
    assert len(appended) > 100


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("txn_ops_max", 0, "txn_ops_max must be an integer from 1 to 16"),
        ("append_ratio", 2, "append_ratio must be a number from 0 to 1"),
        ("consistency_model", "linearizable", "consistency_model must be one of"),
    ],
)
def test_bad_options_are_named(option: str, value: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        ListAppendWorkload().generator(random.Random(0), TestSpec(options={option: value}))


async def test_a_transaction_reads_its_own_appends_and_the_others_at_one_revision() -> None:
    kv = local_session(LocalBackend())
    workload = ListAppendWorkload()
    first = await workload.invoke(kv, Invocation("txn", None, (("append", "la/0", 1),)))
    assert first.value == (("append", "la/0", 1),)
    done = await workload.invoke(
        kv,
        Invocation(
            "txn", None, (("r", "la/0", None), ("append", "la/0", 2), ("r", "la/0", None),
                          ("r", "la/1", None)),
        ),
    )  # fmt: skip
    assert done.value == (
        ("r", "la/0", (1,)), ("append", "la/0", 2), ("r", "la/0", (1, 2)), ("r", "la/1", ()),
    )  # fmt: skip
    assert await kv.get("la/0") == b"1 2"


async def test_concurrent_transactions_on_a_correct_store_are_strict_serializable() -> None:
    workload = ListAppendWorkload()
    history = await drive(workload, TestSpec(keys=3, ops_per_key=60), 300, concurrency=6)
    result = check_all(workload, history)["list-append"]
    assert result.validity is Validity.VALID, result
    assert sum(op.status is Status.OK for op in history.operations) > 150


async def test_an_acknowledged_append_rolled_back_is_found() -> None:
    workload = ListAppendWorkload()
    spec = TestSpec(keys=2, ops_per_key=1000)
    history = await drive(workload, spec, 150, backend=RollsBack({40, 70}), concurrency=1)
    result = check_all(workload, history)["list-append"]
    assert result.validity is Validity.INVALID, result
    assert "lost-append" in result.details["anomalies"]


def test_a_sim_run_is_valid_and_its_history_checks_with_check_txn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "run", "--env", "sim", "--workload", "list-append", "--nemesis", "partition,kill",
        "--nodes", "3", "--concurrency", "4", "--time-limit", "5", "--rate", "30",
        "--keys", "4", "--seed", "2", "--out", str(tmp_path),
    ]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().out
    (path,) = tmp_path.glob("raft-list-append-*/2*/results.json")
    folder = path.parent
    results = json.loads(path.read_text())
    checker = next(c for c in results["checkers"] if c["name"] == "list-append")
    assert checker["details"]["model"] == "strict-serializable"
    assert checker["details"]["committed"] > 20
    capsys.readouterr()
    assert main(["check-txn", str(folder / "history.jsonl")]) == 0, capsys.readouterr()


@pytest.mark.slow
def test_a_core_voting_without_the_log_check_is_found_by_list_append(tmp_path: Path) -> None:
    """Raft votes without the up-to-date check, 3 nodes, kills and partitions: a stale
    node wins and committed appends vanish (seed 8 of 1-12 when written)."""
    for seed in range(1, 13):
        out = tmp_path / str(seed)
        main([
            "run", "--env", "sim", "--protocol", "raft", "--nodes", "3",
            "--workload", "list-append", "--nemesis", "kill,partition", "--time-limit", "12",
            "--recovery", "2", "--seed", str(seed), "--out", str(out),
            "--broken", "vote-without-log-check",
        ])  # fmt: skip
        (results,) = out.glob("*/2*/results.json")
        checkers = {c["name"]: c for c in json.loads(results.read_text())["checkers"]}
        if checkers["list-append"]["validity"] == "invalid":
            return
    pytest.fail("vote-without-log-check: list-append found nothing in seeds 1-12")
