"""Import of Jepsen's text operation log (``jepsen.util`` lines)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jepsen_lite.checker import Verdict, check
from jepsen_lite.history import HistoryError, Status, load_history
from jepsen_lite.history.jepsen_log import parse_value
from jepsen_lite.models import make_model


def log(tmp_path: Path, rows: list[str], name: str = "jepsen.log") -> Path:
    lines = ["2017-01-01 12:00:00 INFO  jepsen.core - Running test etcd"]  # chatter
    lines += [f"INFO  jepsen.util - {row}" for row in rows]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_operations_pair_and_info_keeps_the_invoke_input(tmp_path: Path) -> None:
    path = log(
        tmp_path,
        [
            "0\t:invoke\t:write\t3",
            "1\t:invoke\t:cas\t[3 4]",
            ":nemesis\t:info\t:start\tnil",
            "0\t:ok\t:write\t3",
            "1\t:info\t:cas\t:timed-out",
            "2\t:invoke\t:read\tnil",
            "2\t:ok\t:read\t4",
        ],
    )
    history = load_history(path)  # *.log means jepsen-log
    ops = history.operations
    assert [(o.process, o.f, o.input, o.status) for o in ops] == [
        (0, "write", 3, Status.OK),
        (1, "cas", (3, 4), Status.INFO),
        (2, "read", None, Status.OK),
    ]
    assert ops[2].output == 4
    assert ops[1].ret is None  # open until the end of the history
    result = check(make_model("cas-register"), history)
    assert result.verdict is Verdict.LINEARIZABLE  # the timed-out cas took effect


def test_nil_read_means_the_empty_register_as_in_porcupine(tmp_path: Path) -> None:
    path = log(
        tmp_path,
        [
            "0\t:invoke\t:write\t1",
            "0\t:ok\t:write\t1",
            "1\t:invoke\t:read\tnil",
            "1\t:ok\t:read\tnil",
        ],
    )
    result = check(make_model("cas-register"), load_history(path))
    assert result.verdict is Verdict.NOT_LINEARIZABLE


def test_failed_cas_did_not_happen(tmp_path: Path) -> None:
    path = log(
        tmp_path,
        [
            "0\t:invoke\t:write\t1",
            "0\t:ok\t:write\t1",
            "1\t:invoke\t:cas\t[1 2]",
            "1\t:fail\t:cas\t[1 2]",
            "2\t:invoke\t:read\tnil",
            "2\t:ok\t:read\t1",
        ],
    )
    history = load_history(path, "jepsen-log")
    assert [o.status for o in history.operations] == [Status.OK, Status.FAIL, Status.OK]
    assert check(make_model("cas-register"), history).verdict is Verdict.LINEARIZABLE


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("nil", None),
        ("12", 12),
        ("[3 0]", (3, 0)),
        (":timed-out", "timed-out"),
        ("[1 [2 true]]", (1, (2, True))),
    ],
)
def test_values(text: str, value: object) -> None:
    assert parse_value(text) == value


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("0\t:invoke\t:write\t[1", r"jepsen\.log:2: expected one value, got '\[1'"),
        ("0\t:invoke\t:write\t1.5", r"jepsen\.log:2: unsupported value '1\.5'"),
        ("0\t:invoke\t:frob\t1", r"jepsen\.log:2: unsupported :f :frob"),
        ("0\t:begin\t:write\t1", r"jepsen\.log:2: unknown operation type :begin"),
        ("0\t:ok", r"jepsen\.log:2: unreadable operation line"),
    ],
)
def test_bad_lines_name_the_file_and_line(tmp_path: Path, row: str, reason: str) -> None:
    with pytest.raises(HistoryError, match=reason):
        load_history(log(tmp_path, [row]))
