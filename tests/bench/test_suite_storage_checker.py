"""The ``storage`` and ``checker`` suites: quick in-process runs record cells with positive
figures. Not timed: the figures' values depend on the machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from consensus.bench import registry
from consensus.bench.report import BenchReport


def _args(suite: str, tmp_path: Path, **extra: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module = registry.load(suite)
    assert module is not None
    module.configure(parser.add_argument_group(suite))
    args = parser.parse_args([])
    args.runs, args.quick, args.seconds = 1, True, None
    for key, value in extra.items():
        setattr(args, key, value)
    return args


def _positive(report: BenchReport, what: str, *figures: str) -> None:
    cells = [c for c in report.cells if c.params.get("what") == what]
    assert cells, f"no {what} cell"
    for cell in cells:
        assert cell.params["env"] == "local"
        assert len(cell.runs) == 1
        for name in figures:
            assert cell.figures[name] > 0, (cell.name, name, cell.figures)


def test_storage_suite_records_append_fsync_and_recovery_cells(tmp_path: Path) -> None:
    module = registry.load("storage")
    assert module is not None
    report = BenchReport(argv=[])
    module.run(_args("storage", tmp_path, storage_dir=str(tmp_path), seconds=0.05), report)
    _positive(report, "crc", "mb_per_s")
    _positive(report, "fsync", "syncs_per_s")
    _positive(report, "append", "appends_per_s", "syncs_per_s", "p50_ms", "appends_per_fsync")
    _positive(report, "recovery", "recovery_mib_per_s", "recovery_s")
    writers = {c.params["writers"] for c in report.cells if c.params["what"] == "append"}
    assert writers == {1, 8}
    assert list(tmp_path.iterdir()) == []  # its temporary directory is gone


def test_checker_suite_records_cells_and_skips_porcupine_without_its_program(
    tmp_path: Path,
) -> None:
    module = registry.load("checker")
    assert module is not None
    report = BenchReport(argv=[])
    module.run(_args("checker", tmp_path), report)
    _positive(report, "linearizable", "check_s", "ops_per_s", "configs", "decided")
    _positive(report, "hard-kv", "check_s", "ops_per_s")
    _positive(report, "txn", "check_s", "ops_per_s")
    twin = next(c for c in report.cells if c.params.get("history") == "twin")
    assert twin.notes == ["verdict linearizable"]
    corrupt = next(c for c in report.cells if c.params.get("history") == "k0-corrupt")
    assert corrupt.notes == ["verdict not-linearizable"]
    skipped = [s for s in report.skipped if s["what"] == "porcupine side by side"]
    assert skipped and "--checker-porcupine-bin" in skipped[0]["why"]


def test_checker_suite_runs_porcupine_side_by_side_when_given_its_program(
    tmp_path: Path,
) -> None:
    fake = tmp_path / "check"  # stands in for Porcupine's program: prints its one line
    fake.write_text("#!/bin/sh\necho 'verdict Illegal ops 10 check_s 0.010 configs 5'\n")
    fake.chmod(0o755)
    module = registry.load("checker")
    assert module is not None
    report = BenchReport(argv=[])
    module.run(_args("checker", tmp_path, checker_porcupine_bin=str(fake)), report)
    _positive(report, "porcupine", "check_s", "porcupine_s", "ratio")
    notes = {c.params["history"]: c.notes for c in report.cells if c.params["what"] == "porcupine"}
    assert notes["hot0.1-s1-k0-corrupt"] == ["ours not-linearizable, porcupine Illegal"]
    assert notes["hot0.1-s1-twin"] == ["ours linearizable, porcupine Illegal: VERDICTS DIFFER"]
    assert not report.skipped


def test_importing_consensus_bench_and_the_storage_suite_does_not_import_jepsen_lite() -> None:
    import subprocess

    code = (
        "import sys, consensus.bench.suites.storage, consensus.bench.suites.checker; "
        "print(any(m == 'jepsen_lite' or m.startswith('jepsen_lite.') for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("suite", ["storage", "checker"])
def test_the_suites_are_built_and_listed(suite: str) -> None:
    module = registry.load(suite)
    assert module is not None and registry.SUITES[suite] == module.DESCRIPTION
