"""Run folders, as Jepsen's store: ``OUT/<test name>/<UTC timestamp>/``.

A run folder holds:

- ``test.json``: the :class:`~jepsen_lite.runner.api.TestSpec` (:func:`spec_to_json`:
  sorted keys, the nemesis as a sorted list); ``jepsen-lite replay`` reads it back;
- ``history.jsonl``: the history in the project's JSON Lines format (client events and,
  with process ``"nemesis"``, the fault events), readable by ``jepsen-lite check``;
- ``results.json``: the verdict and everything measured (keys in :data:`RESULTS_KEYS`,
  written by :mod:`jepsen_lite.runner.run`);
- ``replay.sh``: an executable script with the exact ``jepsen-lite run`` command (every
  option, the seed and any explicit schedule) that runs this test again;
- the environment's node logs (``node-N.log``), written by the environment.

``OUT/<test name>/latest`` is a symlink to the newest run folder of that test. The
timestamp is ``YYYYmmddTHHMMSS.mmmZ``; a folder that already exists gets ``-2``, ``-3``...
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .api import FAULT_KINDS, TestSpec
from .schedule_json import ScheduleError, schedule_text, windows_from_json, windows_to_json

DEFAULT_OUT = "store"
"""Where run folders go unless ``--out`` says otherwise."""

SPEC_KEYS = (
    "concurrency",
    "env",
    "keys",
    "name",
    "nemesis",
    "nodes",
    "ops_per_key",
    "options",
    "protocol",
    "rate",
    "recovery_s",
    "schedule",
    "seed",
    "time_limit_s",
    "workload",
)
"""The keys of ``test.json`` (every field of ``TestSpec``). ``schedule`` (``null``: drawn
from the seed, else the explicit windows of :mod:`.schedule_json`) may be missing in
folders written before it existed, and then reads as ``null``."""

OPTIONAL_SPEC_KEYS = frozenset({"schedule"})

RESULTS_KEYS = (
    "schema_version",
    "verdict",
    "exit_status",
    "test",
    "seed",
    "checkers",
    "ops",
    "ops_by_f",
    "skipped",
    "processes",
    "faults",
    "fault_kinds",
    "heal",
    "phases",
    "timings",
    "snapshot_error",
    "session_close_errors",
    "replay",
)
"""The top-level keys of ``results.json`` (its layout: ``results.schema.json``, see
:mod:`jepsen_lite.runner.results_schema`; the table in docs/jepsen-run.md is generated
from it)."""


class SpecError(ValueError):
    """A ``test.json`` (or a spec built from options) that does not describe a test."""


def spec_to_json(spec: TestSpec) -> dict[str, Any]:
    """``spec`` as JSON data with stable keys (see :data:`SPEC_KEYS`)."""
    data = {
        "concurrency": spec.concurrency,
        "env": spec.env,
        "keys": spec.keys,
        "name": spec.name,
        "nemesis": sorted(spec.nemesis),
        "nodes": spec.nodes,
        "ops_per_key": spec.ops_per_key,
        "options": {k: spec.options[k] for k in sorted(spec.options)},
        "protocol": spec.protocol,
        "rate": spec.rate,
        "recovery_s": spec.recovery_s,
        "schedule": None if spec.schedule is None else windows_to_json(spec.schedule),
        "seed": spec.seed,
        "time_limit_s": spec.time_limit_s,
        "workload": spec.workload,
    }
    return data


def _int(data: Mapping[str, Any], key: str, minimum: int) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError(f"{key!r} must be an integer >= {minimum}, got {value!r}")
    return value


def _number(data: Mapping[str, Any], key: str) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SpecError(f"{key!r} must be a positive number, got {value!r}")
    return float(value)


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise SpecError(f"{key!r} must be a string, got {value!r}")
    return value


def spec_from_json(data: object) -> TestSpec:
    """The spec ``data`` describes (as :func:`spec_to_json` writes it); ``SpecError``
    naming the first bad or missing key otherwise."""
    if not isinstance(data, dict):
        raise SpecError("a test must be a JSON object")
    missing = [key for key in SPEC_KEYS if key not in data and key not in OPTIONAL_SPEC_KEYS]
    if missing:
        raise SpecError(f"missing key {missing[0]!r}")
    extra = sorted(set(data) - set(SPEC_KEYS))
    if extra:
        raise SpecError(f"unknown key {extra[0]!r}")
    nemesis = data["nemesis"]
    if not isinstance(nemesis, list) or not all(isinstance(n, str) for n in nemesis):
        raise SpecError("'nemesis' must be a list of fault kinds")
    unknown = sorted(set(nemesis) - set(FAULT_KINDS) - {"all"})
    if unknown:
        raise SpecError(f"unknown nemesis {unknown[0]!r}")
    options = data["options"]
    if not isinstance(options, dict):
        raise SpecError("'options' must be a JSON object")
    rate = data["rate"]
    time_limit_s = _number(data, "time_limit_s")
    nodes = _int(data, "nodes", 1)
    raw_schedule = data.get("schedule")
    try:
        windows = (
            None if raw_schedule is None else windows_from_json(raw_schedule, nodes, time_limit_s)
        )
    except ScheduleError as exc:
        raise SpecError(f"'schedule': {exc}") from None
    return TestSpec(
        workload=_str(data, "workload"),
        nemesis=frozenset(nemesis),
        env=_str(data, "env"),
        protocol=_str(data, "protocol"),
        nodes=nodes,
        concurrency=_int(data, "concurrency", 1),
        time_limit_s=time_limit_s,
        seed=_int(data, "seed", 0),
        rate=None if rate is None else _number(data, "rate"),
        keys=_int(data, "keys", 1),
        ops_per_key=_int(data, "ops_per_key", 1),
        recovery_s=_number(data, "recovery_s"),
        name=_str(data, "name"),
        options=dict(options),
        schedule=windows,
    )


def validate_spec(spec: TestSpec) -> None:
    """``SpecError`` for a spec whose numbers are out of range (a JSON round trip)."""
    spec_from_json(json.loads(json.dumps(spec_to_json(spec))))


def safe_name(name: str) -> str:
    """``name`` usable as one folder name (path separators and leading dots replaced)."""
    cleaned = name.replace(os.sep, "_").replace("/", "_").lstrip(".")
    return cleaned or "test"


def timestamp(now: _dt.datetime | None = None) -> str:
    """A run folder name for ``now`` (default: the current UTC time)."""
    moment = now or _dt.datetime.now(_dt.UTC)
    return moment.strftime("%Y%m%dT%H%M%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_run_dir(out: str | Path, spec: TestSpec, now: _dt.datetime | None = None) -> Path:
    """Create ``out/<test name>/<timestamp>/`` and point ``latest`` at it."""
    test_dir = Path(out) / safe_name(spec.test_name)
    test_dir.mkdir(parents=True, exist_ok=True)
    base = timestamp(now)
    run_dir = test_dir / base
    suffix = 1
    while True:
        try:
            run_dir.mkdir()
            break
        except FileExistsError:
            suffix += 1
            run_dir = test_dir / f"{base}-{suffix}"
    link = test_dir / "latest"
    temp = test_dir / f".latest-{os.getpid()}"
    if temp.is_symlink() or temp.exists():
        temp.unlink()
    temp.symlink_to(run_dir.name)
    os.replace(temp, link)
    return run_dir


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as indented JSON with sorted keys and a final newline (anything
    JSON cannot encode is written as its ``str``)."""
    path.write_text(
        json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8"
    )


def write_test_json(run_dir: Path, spec: TestSpec) -> None:
    """Write ``run_dir/test.json``."""
    write_json(run_dir / "test.json", spec_to_json(spec))


def read_test_json(run_dir: str | Path) -> TestSpec:
    """The spec in ``run_dir/test.json``; ``SpecError`` naming the file otherwise."""
    path = Path(run_dir) / "test.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file (is {run_dir} a run folder?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: invalid JSON: {exc.msg}") from None
    try:
        return spec_from_json(data)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def replay_command(spec: TestSpec, out: str | Path) -> list[str]:
    """The ``jepsen-lite run`` arguments that run ``spec`` again into ``out``: every
    option explicit, the seed included; ``options`` other than ``broken`` as
    ``--option KEY=JSON``; an explicit schedule as ``--schedule JSON``."""
    nemesis = ",".join(sorted(spec.nemesis)) if spec.nemesis else "none"
    argv = [
        "jepsen-lite", "run",
        "--env", spec.env,
        "--protocol", spec.protocol,
        "--workload", spec.workload,
        "--nemesis", nemesis,
        "--nodes", str(spec.nodes),
        "--concurrency", str(spec.concurrency),
        "--time-limit", _number_text(spec.time_limit_s),
    ]  # fmt: skip
    argv += ["--closed"] if spec.rate is None else ["--rate", _number_text(spec.rate)]
    argv += [
        "--keys", str(spec.keys),
        "--ops-per-key", str(spec.ops_per_key),
        "--recovery", _number_text(spec.recovery_s),
        "--seed", str(spec.seed),
        "--out", str(out),
    ]  # fmt: skip
    if spec.name:
        argv += ["--name", spec.name]
    if spec.schedule is not None:
        argv += ["--schedule", schedule_text(spec.schedule)]
    for key in sorted(spec.options):
        if key == "broken":
            argv += ["--broken", str(spec.options[key])]
        else:
            argv += ["--option", f"{key}={json.dumps(spec.options[key], sort_keys=True)}"]
    return argv


def write_replay_sh(run_dir: Path, argv: list[str]) -> Path:
    """Write the executable ``run_dir/replay.sh`` running ``argv``."""
    path = run_dir / "replay.sh"
    path.write_text(
        "#!/bin/sh\n# Runs this test again (same spec, same seed).\nexec "
        + shlex.join(argv)
        + "\n",
        encoding="utf-8",
    )
    path.chmod(0o755)
    return path
