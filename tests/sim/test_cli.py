"""``consensus sim``: arguments, per-seed and total output, JSON, exit status, replay line."""

from __future__ import annotations

import argparse
import json

import pytest

from consensus.cli import main
from consensus.cli import sim as sim_cli
from consensus.sim.protocols import ProtocolSpec
from consensus.sim.raft_spec import RAFT_SPEC

from .broken import TWO_LEADERS


def test_parse_seeds() -> None:
    assert sim_cli.parse_seeds("17") == [17]
    assert sim_cli.parse_seeds("3-6") == [3, 4, 5, 6]
    assert sim_cli.parse_seeds("1, 5,10-12") == [1, 5, 10, 11, 12]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x", r"'x' is not a seed; use N, A-B or a comma list"),
        ("5-3", r"empty seed range '5-3': 3 < 5"),
        ("1,,2", r"'' is not a seed"),
        ("0-99999999", r"more than 10000000 seeds"),
    ],
)
def test_parse_seeds_rejects(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        sim_cli.parse_seeds(text)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "a-b"], "argument --seeds: 'a-b' is not a seed"),
        (["--nodes", "0"], "argument --nodes: must be between 1 and 25, got 0"),
        (["--nodes", "five"], "argument --nodes: 'five' is not a whole number"),
        (["--time", "0"], r"argument --time: must be > 0 and <= 86400 seconds, got 0"),
        (["--faults", "loss,fire"], "argument --faults: unknown fault 'fire'"),
        (["--protocol", "zab"], "argument --protocol: invalid choice: 'zab'"),
    ],
)
def test_bad_arguments_name_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sim", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_per_seed_lines_and_total(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--nodes", "3", "--seeds", "0-2", "--time", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["seed 0", "seed 1", "seed 2"]
    assert all(" ok  commits " in line and " elections " in line for line in lines[:3])
    assert lines[3].startswith("total: 3 seeds, 0 with violations; commits ")
    assert lines[4].startswith("checked after every event: ")
    assert all(line.startswith("  ") for line in lines[5:8])
    assert lines[8].startswith("fault abbreviations")


def test_quiet_prints_the_total_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--nodes", "3", "--seeds", "4,5", "--time", "1", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("total: 2 seeds, 0 with violations")


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sim", "--nodes", "3", "--seeds", "1-2", "--time", "1", "--faults", "loss", "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["protocol"] == "raft"
    assert doc["faults"] == "loss"
    assert [s["seed"] for s in doc["seeds"]] == [1, 2]
    assert all(s["ok"] and s["faults"].startswith("loss=") for s in doc["seeds"])
    assert doc["totals"]["seeds"] == 2
    assert doc["totals"]["violations"] == 0
    assert doc["totals"]["commits"] == sum(s["commits"] for s in doc["seeds"])
    assert doc["violations"] == []


def test_unwritable_trace_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--seeds", "1", "--time", "1", "--trace", "/nonexistent/dir/t"]) == 2
    assert capsys.readouterr().err.startswith(
        "consensus sim: error: argument --trace: [Errno 2] No such file or directory"
    )


@pytest.fixture
def with_broken(monkeypatch: pytest.MonkeyPatch) -> None:
    specs: dict[str, ProtocolSpec] = {"raft": RAFT_SPEC, "broken": TWO_LEADERS}
    monkeypatch.setattr(sim_cli, "protocols", lambda: specs)


@pytest.mark.usefixtures("with_broken")
def test_disk_faults_need_a_protocol_with_a_simulated_disk(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sim", "--protocol", "broken", "--faults", "loss,disk"]) == 2
    assert capsys.readouterr().err == (
        "consensus sim: error: argument --faults: fault 'disk' is not available here; "
        "choose from: partition, loss, duplicate, reorder, delay, crash (protocol fixed-leader)\n"
    )


@pytest.mark.usefixtures("with_broken")
def test_violation_prints_seed_invariant_and_replay(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sim", "--protocol", "broken", "--nodes", "3", "--seeds", "9", "--time", "1.5"]
    assert main([*argv, "--faults", "crash,loss"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("seed 9: VIOLATION  commits ")
    assert lines[1].startswith("  election-safety at t=")
    assert lines[1].endswith("are both leaders of term 1")
    assert lines[2] == (
        "  replay: consensus sim --protocol broken --nodes 3 --seeds 9 "
        "--faults loss,crash --time 1.5"
    )
    assert lines[3].startswith("total: 1 seed, 1 with violations")


@pytest.mark.usefixtures("with_broken")
def test_violation_in_quiet_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sim", "--protocol", "broken", "--nodes", "3", "--seeds", "2-3", "--time", "1"]
    assert main([*argv, "--quiet", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert "seeds" not in doc
    assert doc["totals"]["violations"] == 2
    first = doc["violations"][0]
    assert first["seed"] == 2
    assert first["violation"]["invariant"] == "election-safety"
    assert first["violation"]["replay"] == (
        "consensus sim --protocol broken --nodes 3 --seeds 2 --faults all --time 1"
    )


def test_legend_explains_every_fault_abbreviation() -> None:
    import random
    import re

    from consensus.sim.options import FAULT_LEGEND, FaultOptions, available_faults

    named = {m for name, _ in FAULT_LEGEND for m in re.findall(r"[a-z-]+(?==|/|<|\()", name)}
    seen: set[str] = set()
    for seed in range(300):
        options = FaultOptions.draw(
            random.Random(seed), frozenset(available_faults()), 10_000
        ).with_strategies(random.Random(seed + 1), 10_000)
        for part in options.describe().split():
            match = re.match(r"[a-z-]+", part)
            assert match is not None, part
            seen.add(match.group())
    assert seen - {"none"} <= named, f"not in the legend: {sorted(seen - named - {'none'})}"
    assert len(seen) >= 10  # the draw reached most kinds, so the check above means something


def test_legend_printed_unless_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--seeds", "0", "--time", "1", "--faults", "none"]) == 0
    assert "fault abbreviations" in capsys.readouterr().out
    assert main(["sim", "--seeds", "0", "--time", "1", "--faults", "none", "--quiet"]) == 0
    assert "fault abbreviations" not in capsys.readouterr().out
