"""``consensus member`` and ``consensus recover`` argument errors: one line, exit 2, no
traceback; an unreachable cluster: one line, exit 1."""

from __future__ import annotations

import pytest

from consensus.cli import main
from consensus.runtime.local import free_ports


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["member", "add", "4", "--endpoints", "127.0.0.1:1"], "add needs the new node's peer"),
        (["member", "add", "x", "h:1", "--endpoints", "127.0.0.1:1"], "is not an integer"),
        (["member", "add", "0", "h:1", "--endpoints", "127.0.0.1:1"], "must be >= 1"),
        (["member", "add", "4", "nohost", "--endpoints", "127.0.0.1:1"], "address 'nohost'"),
        (["member", "promote", "--endpoints", "127.0.0.1:1"], "promote needs a node id"),
        (["member", "remove", "2", "h:1", "--endpoints", "127.0.0.1:1"], "takes no address"),
        (["member", "list", "3", "--endpoints", "127.0.0.1:1"], "list takes no node id"),
        (["member", "list", "--endpoints", "bad"], "error:"),
        (["recover", "--config", "c.toml", "--id", "1", "--voters", "2"], "must include"),
        (["recover", "--config", "c.toml", "--id", "1", "--voters", "1,a"], "not a node id"),
        (["recover", "--config", "/nonexistent/c.toml", "--id", "1"], "cannot read"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err, err


def test_unreachable_cluster_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    (port,) = free_ports(1)
    args = ["member", "list", "--endpoints", f"127.0.0.1:{port}", "--timeout", "0.3"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("consensus member list: error: no answer") and "\n" not in err, err
