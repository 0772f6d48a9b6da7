"""Nemesis lines in JSON Lines histories: written by the runner, skipped by the reader."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest

from jepsen_lite.history.errors import HistoryError
from jepsen_lite.history.jsonl import HistoryWriter, iter_jsonl_events, load_jsonl, parse_line


def test_nemesis_lines_are_written_and_skipped(tmp_path: Path) -> None:
    stream = io.StringIO()
    writer = HistoryWriter(stream, clock=itertools.count(10).__next__)
    writer.invoke(0, "write", 1, key="a")
    writer.nemesis("start", {"kind": "partition", "blocked": [[1, 2]]})
    writer.ok(0, "write", 1, key="a")
    writer.nemesis("end", {"kind": "partition"}, time=99)
    lines = stream.getvalue().splitlines()
    assert lines[1] == (
        '{"process": "nemesis", "type": "info", "f": "start", '
        '"value": {"kind": "partition", "blocked": [[1, 2]]}, "time": 11}'
    )
    assert lines[3].endswith('"time": 99}')
    events = list(iter_jsonl_events(lines, "h.jsonl"))
    assert [(e.process, e.type.value, e.line) for e in events] == [(0, "invoke", 1), (0, "ok", 3)]
    with pytest.raises(HistoryError, match=r"h\.jsonl:2: a nemesis event is not a client event"):
        parse_line(lines[1], "h.jsonl", 2)
    path = tmp_path / "h.jsonl"
    path.write_text(stream.getvalue())
    history = load_jsonl(path)
    assert len(history.operations) == 1 and history.event_count == 2
