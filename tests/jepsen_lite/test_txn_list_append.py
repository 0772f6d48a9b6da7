"""The list-append checker (Elle's approach) on histories with one planted anomaly of
each kind, and on clean ones: the verdict per consistency model and the cycle it names."""

from __future__ import annotations

import json
import random
from typing import Any

import attrs
import pytest

from consensus.bench.checker.bench_txn import erase_append
from jepsen_lite.history.edn import read_edn_events
from jepsen_lite.history.errors import HistoryError
from jepsen_lite.history.ops import Event, EventType, History, freeze
from jepsen_lite.history.pairing import pair_events
from jepsen_lite.txn import check_list_append

Ops = list[list[Any]]


def history(*steps: tuple[int, str, Ops]) -> History:
    """Events in real-time order: (process, invoke|ok|fail|info, micro-ops)."""
    events = [
        Event(process, EventType(kind), "txn", freeze(ops), line=n + 1)
        for n, (process, kind, ops) in enumerate(steps)
    ]
    return pair_events(events)


def serial(*txns: tuple[Ops, Ops]) -> History:
    """Each (invoke ops, ok ops) one after the other, by one process each."""
    steps: list[tuple[int, str, Ops]] = []
    for n, (asked, seen) in enumerate(txns):
        steps += [(n, "invoke", asked), (n, "ok", seen)]
    return history(*steps)


def r(key: str, value: list[int] | None = None) -> list[Any]:
    return ["r", key, value]


def a(key: str, value: int) -> list[Any]:
    return ["append", key, value]


def verdicts(h: History) -> dict[str, str]:
    return {
        model: check_list_append(h, model).validity
        for model in ("read-committed", "snapshot-isolation", "serializable", "strict-serializable")
    }


def test_a_serial_history_is_strict_serializable() -> None:
    h = serial(
        ([a("x", 1), r("y")], [a("x", 1), r("y", [])]),
        ([a("y", 1), r("x")], [a("y", 1), r("x", [1])]),
        ([a("x", 2), r("x"), r("y")], [a("x", 2), r("x", [1, 2]), r("y", [1])]),
    )
    result = check_list_append(h)
    assert result.validity == "valid" and result.anomalies == {}
    assert result.txns == 3 and result.keys == 2 and result.edges > 0


def test_g0_write_cycle() -> None:
    # T0 and T1 both append to x and y; reads show them in opposite orders.
    h = serial(
        ([a("x", 1), a("y", 1)], [a("x", 1), a("y", 1)]),
        ([a("x", 2), a("y", 2)], [a("x", 2), a("y", 2)]),
        ([r("x"), r("y")], [r("x", [1, 2]), r("y", [2, 1])]),
    )
    result = check_list_append(h)
    assert result.validity == "invalid" and "G0" in result.anomalies
    (g0,) = result.anomalies["G0"]
    assert sorted(g0.txns) == [0, 1]
    assert all("(ww)" in line for line in g0.explanation)
    assert set(verdicts(h).values()) == {"invalid"}


def test_g1a_aborted_read() -> None:
    h = history(
        (0, "invoke", [a("x", 1)]),
        (0, "fail", [a("x", 1)]),
        (1, "invoke", [r("x")]),
        (1, "ok", [r("x", [1])]),
    )
    result = check_list_append(h, "read-committed")
    assert result.validity == "invalid" and list(result.anomalies) == ["G1a"]
    assert "appended by T0, which failed" in result.anomalies["G1a"][0].explanation[0]


def test_g1b_intermediate_read() -> None:
    h = serial(
        ([a("x", 1), a("x", 2)], [a("x", 1), a("x", 2)]),
        ([r("x")], [r("x", [1])]),
    )
    result = check_list_append(h, "read-committed")
    assert result.validity == "invalid" and "G1b" in result.anomalies


def test_g1c_circular_information_flow() -> None:
    # Each txn read the other's append: wr both ways.
    h = history(
        (0, "invoke", [a("x", 1), r("y")]),
        (1, "invoke", [a("y", 1), r("x")]),
        (0, "ok", [a("x", 1), r("y", [1])]),
        (1, "ok", [a("y", 1), r("x", [1])]),
    )
    result = check_list_append(h)
    assert "G1c" in result.anomalies and "G0" not in result.anomalies
    assert verdicts(h)["read-committed"] == "invalid"


def test_g_single_read_skew_passes_read_committed_only() -> None:
    # T1 saw T0's y but not its x: one anti-dependency in the cycle.
    h = history(
        (1, "invoke", [r("x"), r("y")]),
        (0, "invoke", [a("x", 1), a("y", 1)]),
        (0, "ok", [a("x", 1), a("y", 1)]),
        (1, "ok", [r("x", []), r("y", [1])]),
        (2, "invoke", [r("x")]),
        (2, "ok", [r("x", [1])]),
    )
    result = check_list_append(h)
    assert "G-single" in result.anomalies
    (cycle,) = result.anomalies["G-single"]
    assert sum("(rw)" in line for line in cycle.explanation) == 1
    assert verdicts(h) == {
        "read-committed": "valid",
        "snapshot-isolation": "invalid",
        "serializable": "invalid",
        "strict-serializable": "invalid",
    }


def test_g2_write_skew_is_snapshot_isolation_but_not_serializable() -> None:
    h = history(
        (0, "invoke", [r("x"), a("y", 1)]),
        (1, "invoke", [r("y"), a("x", 1)]),
        (0, "ok", [r("x", []), a("y", 1)]),
        (1, "ok", [r("y", []), a("x", 1)]),
        (2, "invoke", [r("x"), r("y")]),
        (2, "ok", [r("x", [1]), r("y", [1])]),
    )
    result = check_list_append(h, "serializable")
    assert "G2" in result.anomalies and "G-single" not in result.anomalies
    assert verdicts(h) == {
        "read-committed": "valid",
        "snapshot-isolation": "valid",
        "serializable": "invalid",
        "strict-serializable": "invalid",
    }


def test_a_stale_read_is_serializable_but_not_strict() -> None:
    # T0 appended and completed; T1 began after that and did not see it.
    h = serial(
        ([a("x", 1)], [a("x", 1)]),
        ([r("x")], [r("x", [])]),
        ([r("x")], [r("x", [1])]),
    )
    assert verdicts(h) == {
        "read-committed": "valid",
        "snapshot-isolation": "valid",
        "serializable": "valid",
        "strict-serializable": "invalid",
    }
    result = check_list_append(h)
    (cycle,) = result.anomalies["G-single-realtime"]
    assert any("(rt)" in line for line in cycle.explanation)


@pytest.mark.parametrize(
    ("ops", "name"),
    [
        ([(0, [a("x", 1), r("x")], [a("x", 1), r("x", [])])], "internal"),
        ([(0, [a("x", 1)], [a("x", 1)]), (1, [r("x")], [r("x", [1, 1])])], "duplicate-elements"),
        ([(0, [r("x")], [r("x", [7])])], "garbage"),
        (
            [
                (0, [a("x", 1)], [a("x", 1)]),
                (1, [a("x", 2)], [a("x", 2)]),
                (2, [r("x")], [r("x", [1, 2])]),
                (3, [r("x")], [r("x", [2])]),
            ],
            "incompatible-order",
        ),
    ],
)
def test_data_anomalies_no_model_allows(ops: list[tuple[int, Ops, Ops]], name: str) -> None:
    h = serial(*[(asked, seen) for _, asked, seen in ops])
    result = check_list_append(h, "read-committed")
    assert result.validity == "invalid" and name in result.anomalies


def test_an_info_txn_whose_append_was_seen_still_orders_writes() -> None:
    h = history(
        (0, "invoke", [a("x", 1), a("y", 1)]),
        (0, "info", [a("x", 1), a("y", 1)]),
        (1, "invoke", [a("x", 2), a("y", 2)]),
        (1, "ok", [a("x", 2), a("y", 2)]),
        (2, "invoke", [r("x"), r("y")]),
        (2, "ok", [r("x", [1, 2]), r("y", [2, 1])]),
    )
    result = check_list_append(h)
    assert "G0" in result.anomalies and result.indeterminate == 1


def test_nothing_checkable_is_unknown_never_valid() -> None:
    assert check_list_append(history()).validity == "unknown"
    writes_only = serial(([a("x", 1)], [a("x", 1)]))
    result = check_list_append(writes_only)
    assert result.validity == "unknown" and "no committed read" in result.reason


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="unknown consistency model 'linearizable'"):
        check_list_append(history(), "linearizable")
    twice = serial(([a("x", 1)], [a("x", 1)]), ([a("x", 1)], [a("x", 1)]))
    with pytest.raises(ValueError, match='1 is appended to "x" twice'):
        check_list_append(twice)
    bad = serial(([["incr", "x", 1]], [["incr", "x", 1]]))
    with pytest.raises(HistoryError, match=r':1: a micro-op is \["append"\|"r", key, value\]'):
        check_list_append(bad)


def test_jepsen_edn_list_append_loads_and_checks(tmp_path: Any) -> None:
    path = tmp_path / "h.edn"
    path.write_text(
        "{:type :invoke, :f :txn, :value [[:append 1 5] [:r 2 nil]], :process 0}\n"
        "{:type :ok, :f :txn, :value [[:append 1 5] [:r 2 nil]], :process 0}\n"
        "{:type :invoke, :f :txn, :value [[:r 1 nil]], :process 1}\n"
        "{:type :ok, :f :txn, :value [[:r 1 [5]]], :process 1}\n"
    )
    h = pair_events(read_edn_events(path), str(path))
    result = check_list_append(h)
    assert result.validity == "valid" and result.committed == 2


def _random_serial_history(rng: random.Random, txns: int, keys: int) -> History:
    """A history executed one txn at a time on a real list store: strict serializable."""
    store: dict[str, list[int]] = {}
    counter = 0
    parts: list[tuple[Ops, Ops]] = []
    for _ in range(txns):
        asked: Ops = []
        seen: Ops = []
        for _ in range(rng.randint(1, 4)):
            key = f"k{rng.randrange(keys)}"
            if rng.random() < 0.5:
                counter += 1
                store.setdefault(key, []).append(counter)
                asked.append(a(key, counter))
                seen.append(a(key, counter))
            else:
                asked.append(r(key))
                seen.append(r(key, list(store.get(key, []))))
        parts.append((asked, seen))
    return serial(*parts)


@pytest.mark.parametrize("seed", range(5))
def test_random_serial_histories_are_valid(seed: int) -> None:
    h = _random_serial_history(random.Random(seed), 300, 5)
    result = check_list_append(h)
    assert result.validity == "valid", result.summary()


@pytest.mark.parametrize("seed", range(5))
def test_one_stale_read_planted_in_a_serial_history_is_found(seed: int) -> None:
    rng = random.Random(seed)
    h = _random_serial_history(rng, 300, 5)
    ops = list(h.operations)
    longest: dict[object, int] = {}
    for op in ops:
        for f, key, value in op.output:
            if f == "r":
                longest[key] = max(longest.get(key, 0), len(value))
    candidates = [
        (n, i)
        for n, op in enumerate(ops)
        for i, (f, key, value) in enumerate(op.output)
        if f == "r" and 0 < len(value) < longest[key]
    ]
    n, i = rng.choice(candidates)
    f, key, value = ops[n].output[i]
    stale = (*ops[n].output[:i], (f, key, value[:-1]), *ops[n].output[i + 1 :])
    ops[n] = attrs.evolve(ops[n], output=stale)
    result = check_list_append(attrs.evolve(h, operations=tuple(ops)))
    assert result.validity == "invalid", result.summary()
    named = {t for found in result.anomalies.values() for anomaly in found for t in anomaly.txns}
    assert ops[n].id in named, "the anomaly must involve the txn whose read was made stale"


WRITE_SKEW = [
    {"process": 0, "type": "invoke", "f": "txn", "value": [["r", "x", None], ["append", "y", 1]]},
    {"process": 1, "type": "invoke", "f": "txn", "value": [["r", "y", None], ["append", "x", 1]]},
    {"process": 0, "type": "ok", "f": "txn", "value": [["r", "x", []], ["append", "y", 1]]},
    {"process": 1, "type": "ok", "f": "txn", "value": [["r", "y", []], ["append", "x", 1]]},
    {"process": 2, "type": "invoke", "f": "txn", "value": [["r", "x", None], ["r", "y", None]]},
    {"process": 2, "type": "ok", "f": "txn", "value": [["r", "x", [1]], ["r", "y", [1]]]},
]


def test_check_txn_command(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from jepsen_lite.cli import main

    path = tmp_path / "skew.jsonl"
    path.write_text("".join(json.dumps({**e, "time": n}) + "\n" for n, e in enumerate(WRITE_SKEW)))
    assert main(["check-txn", str(path)]) == 1
    out = capsys.readouterr().out
    assert "invalid for strict-serializable" in out and "  G2: T0 < T1 (rw)" in out
    assert "rules out: serializable, strict-serializable" in out
    assert main(["check-txn", str(path), "--consistency-model", "snapshot-isolation"]) == 0
    capsys.readouterr()
    assert main(["check-txn", "--json", str(path)]) == 1
    record = json.loads(capsys.readouterr().out)
    assert record["validity"] == "invalid" and list(record["anomalies"]) == ["G2"]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["check-txn", str(empty)]) == 2
    captured = capsys.readouterr()
    assert "unknown" in captured.out and "the history is empty" in captured.err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**WRITE_SKEW[0], "time": 0, "f": "read"}) + "\n")
    assert main(["check-txn", str(bad)]) == 3
    assert "only txn operations, not 'read'" in capsys.readouterr().err
    assert main(["check-txn", str(path), "--consistency-model", "acid"]) == 3


# -- lost appends: an acknowledged append missing from a read that began after it
# committed, also when no read ever saw the value (no cycle can show that)


def test_an_append_no_read_ever_saw_is_lost_for_strict_serializability_only() -> None:
    h = serial(
        ([a("x", 1)], [a("x", 1)]),
        ([a("x", 2)], [a("x", 2)]),
        ([r("x")], [r("x", [2])]),
    )
    assert verdicts(h)["serializable"] == "valid"
    result = check_list_append(h)
    assert result.validity == "invalid"
    (lost,) = result.anomalies["lost-append"]
    assert lost.txns == (0, 2)
    assert "no read ever saw it" in lost.explanation[0]


def test_a_read_concurrent_with_the_append_may_miss_it() -> None:
    h = history(
        (0, "invoke", [a("x", 1)]),
        (1, "invoke", [r("x")]),
        (0, "ok", [a("x", 1)]),
        (1, "ok", [r("x", [])]),
        (2, "invoke", [r("x")]),
        (2, "ok", [r("x", [1])]),
    )
    assert check_list_append(h).validity == "valid"


def test_an_append_that_later_reads_show_but_one_read_misses_is_lost() -> None:
    h = serial(
        ([a("x", 1)], [a("x", 1)]),
        ([a("x", 2)], [a("x", 2)]),
        ([r("x")], [r("x", [1])]),
        ([r("x")], [r("x", [1, 2])]),
    )
    lost = check_list_append(h).anomalies["lost-append"]
    assert [x.txns for x in lost] == [(1, 2)]
    assert "later reads do" in lost[0].explanation[0]


@pytest.mark.parametrize("seed", range(5))
def test_an_acknowledged_append_erased_from_every_read_is_found(seed: int) -> None:
    rng = random.Random(seed)
    h = _random_serial_history(rng, 300, 5)
    # an append some later read saw: erase it from every read (the write was lost)
    seen = [
        (key, v) for op in h.operations for f, key, vs in op.output if f == "r" and vs for v in vs
    ]
    key, value = rng.choice(seen)
    result = check_list_append(erase_append(h, key, value))
    assert result.validity == "invalid", result.summary()
    lost = result.anomalies["lost-append"]
    assert any(f"appended {value} to" in x.explanation[0] for x in lost)
