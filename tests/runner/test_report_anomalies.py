"""Which operations a report shows around an anomaly (jepsen_lite.report.anomalies)."""

from __future__ import annotations

import json
from typing import Any

import attrs

from jepsen_lite.history.jsonl import iter_jsonl_events
from jepsen_lite.history.ops import History
from jepsen_lite.history.pairing import pair_events
from jepsen_lite.report.anomalies import MAX_ROWS, NEIGHBOURS, references, window


def history(ops: list[tuple[int, str, Any, Any, Any]]) -> History:
    """Sequential operations ``(process, f, key, input, output)``, each completing ``ok``
    before the next is invoked (so event indexes are 0, 2, 4, ...)."""
    lines = []
    for n, (process, f, key, given, seen) in enumerate(ops):
        for kind, value in (("invoke", given), ("ok", seen)):
            event = {"process": process, "type": kind, "f": f, "value": value, "time": n}
            if key is not None:
                event["key"] = key
            lines.append(json.dumps(event))
    return pair_events(iter_jsonl_events(lines, "<test>"), "<test>")


def test_a_window_keeps_the_neighbours_on_the_key_and_counts_the_gaps() -> None:
    ops = [(n % 3, "write", "a" if n % 2 else "b", n, n) for n in range(40)]
    h = history(ops)
    # the focus: operation 21 (key "a", event 42); related: operation 1 (event 2)
    (ref,) = references("lost-writes", {"lost": [{"key": "a", "read_event": 42}]}, h)
    ref = attrs.evolve(ref, related=(2,))
    rows = window(ref, h).rows
    shown = [(row.op.input, row.role) for row in rows if row.op is not None]
    keys_a = [n for n in range(40) if n % 2]
    at = keys_a.index(21)
    expected = sorted({*keys_a[at - NEIGHBOURS : at + NEIGHBOURS + 1], *keys_a[: NEIGHBOURS + 1]})
    assert [n for n, _ in shown] == expected
    assert dict(shown)[21] == "focus" and dict(shown)[1] == "related"
    gaps = [row.skipped for row in rows if row.op is None]
    assert sum(gaps) + len(shown) == len(keys_a) and gaps


def test_a_window_is_at_most_max_rows_around_the_focus() -> None:
    h = history([(0, "write", "a", n, n) for n in range(3 * MAX_ROWS)])
    last = [op.call for op in h.operations][::2]  # many related operations, far apart
    (ref,) = references(
        "linearizable",
        {"failing_key": "a", "counterexample": {"call_event": 2 * MAX_ROWS * 2,
                                                "last_linearized_events": last}},
    h)  # fmt: skip
    win = window(ref, h)
    assert win.shown == MAX_ROWS
    assert any(row.role == "focus" for row in win.rows)


def test_set_anomalies_point_at_the_adds_of_the_lost_elements() -> None:
    ops = [(n, "add", None, n, None) for n in range(6)] + [(9, "read", None, None, [0, 2, 3])]
    h = history(ops)
    details = {"final_read_event": 12, "lost": [1, 4], "unexpected": [], "duplicated": []}
    (ref,) = references("set", details, h)
    assert ref.focus == (2, 8) and ref.related == (12,)
    roles = {row.op.input: row.role for row in window(ref, h).rows if row.op is not None}
    assert roles[1] == roles[4] == "focus" and roles[None] == "related"


def test_details_that_name_no_operation_give_no_window() -> None:
    h = history([(0, "write", "a", 1, 1)])
    assert references("availability", {"ok_share": {"main": 1.0}}, h) == []
    assert references("lost-writes", {"lost": [], "keys": 1}, h) == []


def test_a_named_event_the_history_lacks_is_reported_missing() -> None:
    h = history([(0, "write", "a", 1, 1)])
    (ref,) = references("revisions", {"found": [{"kind": "phantom", "event": 99}]}, h)
    assert window(ref, h).missing == (99,)
