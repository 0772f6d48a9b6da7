"""The JSON Lines history format: writer output, loader validation with exact messages,
pairing rules, streaming."""

from __future__ import annotations

import io
import itertools
import re
from pathlib import Path

import pytest

from jepsen_lite.history import (
    Event,
    EventType,
    HistoryError,
    HistoryWriter,
    Status,
    load_history,
    read_jsonl_events,
    write_jsonl,
)
from jepsen_lite.history.pairing import MAX_WARNINGS


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "h.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def error_at(path: Path, line: int, reason: str) -> str:
    return "^" + re.escape(f"{path}:{line}: {reason}") + "$"


GOOD = '{"process": 0, "type": "invoke", "f": "write", "value": 1, "time": 1}'


def test_writer_produces_exactly_the_documented_format() -> None:
    stream = io.StringIO()
    writer = HistoryWriter(stream, clock=itertools.count(100).__next__)
    writer.invoke(3, "cas", (1, 2), key="k1")
    writer.ok(3, "cas", (1, 2), key="k1")
    writer.invoke(4, "read")
    writer.info(4, "read")
    writer.write(Event(5, EventType.INVOKE, "write", 7, time=123456))
    assert stream.getvalue().splitlines() == [
        '{"process": 3, "type": "invoke", "f": "cas", "key": "k1", "value": [1, 2], "time": 100}',
        '{"process": 3, "type": "ok", "f": "cas", "key": "k1", "value": [1, 2], "time": 101}',
        '{"process": 4, "type": "invoke", "f": "read", "value": null, "time": 102}',
        '{"process": 4, "type": "info", "f": "read", "value": null, "time": 103}',
        '{"process": 5, "type": "invoke", "f": "write", "value": 7, "time": 123456}',
    ]


def test_write_then_load_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    written = [
        Event(0, EventType.INVOKE, "write", 1, time=10),
        Event(1, EventType.INVOKE, "read", None, time=20),
        Event(0, EventType.OK, "write", 1, time=30),
        Event(1, EventType.OK, "read", 1, time=40),
        Event(2, EventType.INVOKE, "cas", (1, 2), time=50),
        Event(2, EventType.INFO, "cas", (1, 2), time=60),
        Event(3, EventType.INVOKE, "write", 9, time=70),
    ]
    assert write_jsonl(path, written) == 7
    history = load_history(path)
    assert history.source == str(path) and history.event_count == 7
    write_op, read_op, cas_op, pending = history.operations
    assert (write_op.process, write_op.call, write_op.ret, write_op.status) == (0, 0, 2, Status.OK)
    assert (read_op.output, read_op.line, read_op.complete_line) == (1, 2, 4)
    assert cas_op.status is Status.INFO and cas_op.ret is None and cas_op.complete_index == 5
    assert pending.status is Status.PENDING and pending.ret is None
    assert (write_op.call_time, write_op.return_time) == (10, 30)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "invalid JSON: Expecting property name enclosed in double quotes"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"process": 0, "type": "invoke", "f": "read"}', "missing field 'time'"),
        (
            '{"process": 0, "type": "invoke", "f": "read", "time": 1, "kye": "a"}',
            "unknown field 'kye'",
        ),
        (
            '{"process": true, "type": "invoke", "f": "read", "time": 1}',
            "'process' must be an integer or a string",
        ),
        (
            '{"process": 0, "type": "done", "f": "read", "time": 1}',
            "'type' must be one of invoke, ok, fail, info; got 'done'",
        ),
        (
            '{"process": 0, "type": "invoke", "f": "lock", "time": 1}',
            "unsupported f 'lock' (supported: add, append, cas, get, put, read, txn, write)",
        ),
        (
            '{"process": 0, "type": "invoke", "f": "read", "key": [1], "time": 1}',
            "'key' must be a string or an integer",
        ),
        (
            '{"process": 0, "type": "invoke", "f": "read", "time": -5}',
            "'time' must be a non-negative integer (nanoseconds)",
        ),
        (
            '{"process": 0, "type": "invoke", "f": "write", "value": {"a": 1}, "time": 1}',
            "'value': unsupported value {'a': 1}: use null, booleans, numbers, strings, arrays",
        ),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path: Path, line: str, reason: str) -> None:
    path = write(tmp_path, GOOD, "", line)
    with pytest.raises(HistoryError, match=error_at(path, 3, reason)) as caught:
        load_history(path)
    assert (caught.value.source, caught.value.line) == (str(path), 3)


@pytest.mark.parametrize(
    ("lines", "line", "reason"),
    [
        (
            [GOOD, '{"process": 0, "type": "invoke", "f": "read", "time": 2}'],
            2,
            "process 0 invoked 'read' while its 'write' (line 1) has not completed",
        ),
        (
            ['{"process": 0, "type": "ok", "f": "read", "value": 1, "time": 2}'],
            1,
            "process 0 completed 'read' with 'ok' but has no pending invoke",
        ),
        (
            [GOOD, '{"process": 0, "type": "ok", "f": "read", "value": 1, "time": 2}'],
            2,
            "process 0 completed 'read' but invoked 'write' at line 1",
        ),
        (
            [
                GOOD,
                '{"process": 0, "type": "info", "f": "write", "value": 1, "time": 2}',
                '{"process": 0, "type": "invoke", "f": "read", "time": 3}',
            ],
            3,
            "process 0 invoked 'read' after it got 'info' at line 2; "
            "a process that got info must never be reused",
        ),
        (
            [GOOD, '{"process": 1, "type": "invoke", "f": "read", "key": "a", "time": 2}'],
            2,
            "operation has a key but earlier operations have no key (line 1)",
        ),
        (
            [
                '{"process": 0, "type": "invoke", "f": "read", "key": "a", "time": 1}',
                '{"process": 0, "type": "ok", "f": "read", "key": "b", "value": 1, "time": 2}',
            ],
            2,
            'process 0 completed key "b" but invoked key "a" at line 1',
        ),
    ],
)
def test_pairing_rules_name_the_line(
    tmp_path: Path, lines: list[str], line: int, reason: str
) -> None:
    path = write(tmp_path, *lines)
    with pytest.raises(HistoryError, match=error_at(path, line, reason)):
        load_history(path)


def test_loader_streams_events_lazily(tmp_path: Path) -> None:
    # The bad last line is not read until the iterator gets there.
    path = write(tmp_path, GOOD, "{broken")
    events = read_jsonl_events(path)
    first = next(events)
    assert first.f == "write" and first.line == 1
    with pytest.raises(HistoryError, match=":2: invalid JSON"):
        next(events)


def test_large_history_loads_in_one_pass(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    count = 20_000
    with HistoryWriter.open(path, clock=itertools.count().__next__) as writer:
        for n in range(count // 2):
            writer.invoke(n % 7, "write", n)
            writer.ok(n % 7, "write", n)
    history = load_history(path)
    assert len(history.operations) == count // 2
    assert history.operations[-1].input == count // 2 - 1


@pytest.mark.slow
def test_million_event_history_loads(tmp_path: Path) -> None:
    path = tmp_path / "million.jsonl"
    with HistoryWriter.open(path, clock=itertools.count().__next__) as writer:
        for n in range(500_000):
            writer.invoke(n % 50, "write", n % 5, key=f"k{n % 100}")
            writer.ok(n % 50, "write", n % 5, key=f"k{n % 100}")
    assert len(load_history(path).operations) == 500_000


def test_many_backward_times_are_counted_after_the_first_warnings(tmp_path: Path) -> None:
    lines = []
    for n in range(15):  # every invoke is stamped before the previous ok
        lines.append(
            f'{{"process": {n}, "type": "invoke", "f": "write", "value": 1, "time": {1000 - n}}}'
        )
        lines.append(f'{{"process": {n}, "type": "ok", "f": "write", "value": 1, "time": 1000}}')
    path = write(tmp_path, *lines)
    history = load_history(path)
    assert len(history.operations) == 15
    assert history.warnings[0] == (
        f"{path}:3: warning: time 999 is before an earlier event's time 1000; "
        "checking uses file order"
    )
    assert len(history.warnings) == MAX_WARNINGS + 1
    assert history.warnings[-1] == (
        f"{path}: warning: 4 more events whose time goes backwards (14 in all)"
    )
