"""``--option`` keys: every key the runner reads is known; an unknown one is refused."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import jepsen_lite
from jepsen_lite.cli import main
from jepsen_lite.runner.options import KNOWN_OPTIONS, check_option_names

_SRC = Path(jepsen_lite.__file__).parent / "runner"  # the only package reading options


def _is_options(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "options") or (
        isinstance(node, ast.Name) and node.id == "options"
    )


def _string(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def option_keys_read() -> dict[str, str]:
    """Every literal key read as ``options.get("k")``, ``options["k"]`` or
    ``helper(options|spec, "k", ...)`` in jepsen_lite.runner, with one file that reads it."""
    found: dict[str, str] = {}
    for path in sorted(_SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            key = None
            if isinstance(node, ast.Call) and node.args:
                f = node.func
                if isinstance(f, ast.Attribute) and f.attr == "get" and _is_options(f.value):
                    key = _string(node.args[0])
                elif (
                    len(node.args) >= 2
                    and isinstance(node.args[0], ast.Name)
                    and node.args[0].id in ("options", "spec")
                ):
                    key = _string(node.args[1])
            elif isinstance(node, ast.Subscript) and _is_options(node.value):
                key = _string(node.slice)
            if key is not None:
                found.setdefault(key, str(path.relative_to(_SRC)))
    return found


def test_every_key_the_runner_reads_is_known() -> None:
    read = option_keys_read()
    assert len(read) >= 20  # the scan itself works
    missing = {k: f for k, f in read.items() if k not in KNOWN_OPTIONS}
    assert not missing, f"options read but not in KNOWN_OPTIONS: {missing}"


def test_unknown_key_names_the_closest() -> None:
    with pytest.raises(ValueError, match="'txn_max'; did you mean txn_ops_max"):
        check_option_names(["accounts", "txn_max"])


def test_run_refuses_an_unknown_option_before_any_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["run", "--option", "op_timout_s=5", "--time-limit", "1", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 3
    assert "unknown option 'op_timout_s'" in err and "did you mean op_timeout_s" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("txn_ops_max=abc", "txn_ops_max must be an integer from 1 to 16"),
        ("storage=tape", "option storage must be 'memory' or 'disk'"),
    ],
)
def test_a_bad_option_value_is_refused_before_any_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, message: str
) -> None:
    argv = ["run", "--workload", "list-append", "--option", option, "--time-limit", "1"]
    status = main([*argv, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 3
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
