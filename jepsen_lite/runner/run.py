"""Run one test: :func:`run_test` (spec + environment -> run folder + verdict).

Before anything starts, the spec is validated (:func:`prepare`): numbers in range, a known
workload, and fault kinds the environment supports (``all``: every kind it supports).
Then ``test.json`` and ``replay.sh`` are written, the environment runs the client side
(:mod:`jepsen_lite.runner.loop`: phases, workers, nemesis) which streams
``history.jsonl``, and after the environment has stopped everything, the checkers judge
the paired history: the workload's checkers, then the runner's own ``availability``
(liveness after heal), ``convergence`` (identical replicas after heal) and, when the
cluster exposes ``invariant_violations()``, ``invariants``. A checker that raises gives
UNKNOWN with the error as its summary (never valid). The verdict: INVALID if any checker
is invalid, else UNKNOWN if any is unknown, else VALID. ``results.json`` records it all.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from ..history.jsonl import HistoryWriter
from ..history.ops import History
from ..history.pairing import pair_events
from .api import (
    Checker,
    CheckerResult,
    Environment,
    FaultWindow,
    RunFacts,
    TestSpec,
    Validity,
    Workload,
)
from .checkers.availability import AvailabilityChecker
from .checkers.convergence import ConvergenceChecker
from .checkers.invariants import InvariantsChecker
from .loop import ClientRun, Outcome, Progress
from .nemesis import AppliedFault, planned_schedule, resolve_kinds
from .results_schema import SCHEMA_VERSION
from .store import (
    replay_command,
    validate_spec,
    write_json,
    write_replay_sh,
    write_test_json,
)
from .workloads import workload_class

EXIT_STATUS = {Validity.VALID: 0, Validity.INVALID: 1, Validity.UNKNOWN: 2}
"""``jepsen-lite run``'s exit status per verdict (3 is an error)."""


class RunError(Exception):
    """A run that could not be carried out (bad spec, environment failure); the message
    is one line for people."""


def combine(validities: Iterable[Validity]) -> Validity:
    """INVALID if any is invalid, else UNKNOWN if any is unknown (or there are none),
    else VALID."""
    found = list(validities)
    if Validity.INVALID in found:
        return Validity.INVALID
    if Validity.UNKNOWN in found or not found:
        return Validity.UNKNOWN
    return Validity.VALID


@attrs.frozen(slots=True)
class Prepared:
    """A validated test: its workload, the fault kinds to run and their schedule."""

    spec: TestSpec
    workload: Workload
    kinds: frozenset[str]
    windows: tuple[FaultWindow, ...]


def prepare(spec: TestSpec, env: Environment) -> Prepared:
    """Validate ``spec`` for ``env`` and plan its schedule (drawn, or ``spec.schedule``);
    ``RunError`` if it cannot run."""
    try:
        validate_spec(spec)
        if spec.env != env.name:
            raise ValueError(f"the test names environment {spec.env!r} but runs in {env.name!r}")
        kinds = resolve_kinds(spec.nemesis, env.faults, env.name)
        windows = planned_schedule(spec, kinds)
        workload = workload_class(spec.workload)()
        # A bad option value fails here, before a run folder exists: the workload reads
        # its options when it builds a generator (a throwaway one), the environment in
        # its optional check_spec.
        workload.generator(random.Random(spec.seed), spec)
        check_spec = getattr(env, "check_spec", None)
        if check_spec is not None:
            check_spec(spec)
    except ImportError as exc:
        raise RunError(f"workload {spec.workload!r} is not available: {exc}") from None
    except ValueError as exc:
        raise RunError(str(exc)) from None
    return Prepared(spec, workload, kinds, windows)


@attrs.frozen(slots=True)
class RunResult:
    """A finished run: its verdict, each checker's result, and what happened."""

    spec: TestSpec
    run_dir: Path
    validity: Validity
    checkers: tuple[CheckerResult, ...]
    counts: Mapping[str, int]
    counts_by_f: Mapping[str, Mapping[str, int]]
    skipped: int
    processes: int
    kinds: frozenset[str]
    faults: tuple[AppliedFault, ...]
    heal_actions: tuple[str, ...]
    phases: Mapping[str, tuple[float, float]]
    timings: Mapping[str, float]
    snapshot_error: str | None
    replay: tuple[str, ...]
    session_close_errors: int = 0

    @property
    def exit_status(self) -> int:
        """0 valid, 1 invalid, 2 unknown."""
        return EXIT_STATUS[self.validity]


def run_test(
    spec: TestSpec,
    env: Environment,
    run_dir: str | Path,
    progress: Callable[[Progress], None] | None = None,
) -> RunResult:
    """Run ``spec`` in ``env`` with its folder ``run_dir`` (existing, empty); see the module
        doc. ``progress`` is called at every event. The environment and the workload get
    ``spec`` with its nemesis resolved to the concrete kinds (``all`` replaced);
    ``test.json`` keeps it as given. ``RunError`` if the spec cannot run or the
        environment fails (``results.json`` then records the error)."""
    folder = Path(run_dir)
    prepared = prepare(spec, env)
    write_test_json(folder, spec)
    replay = replay_command(spec, folder.parent.parent.resolve())
    write_replay_sh(folder, replay)
    # the environment sees the concrete kinds ("all" resolved), so that it can prepare
    # for each (the sim environment puts nodes on disk-backed storage for disk faults)
    env_spec = attrs.evolve(spec, nemesis=prepared.kinds)
    wall_start = time.monotonic()
    with HistoryWriter.open(folder / "history.jsonl") as writer:
        client = ClientRun(
            env_spec, prepared.workload, prepared.windows, prepared.kinds, writer, progress
        )
        try:
            outcome = env.run(env_spec, str(folder), client.main)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            message = _one_line(exc)
            write_json(folder / "results.json", error_results_json(spec, message))
            raise RunError(message) from exc
    run_wall = time.monotonic() - wall_start
    history = pair_events(outcome.events, str(folder / "history.jsonl"))
    check_start = time.monotonic()
    results = tuple(_check(c, history, outcome) for c in _checkers(prepared, spec, outcome))
    check_wall = time.monotonic() - check_start
    result = RunResult(
        spec=spec,
        run_dir=folder,
        validity=combine(r.validity for r in results),
        checkers=results,
        counts=_counts(history, outcome),
        counts_by_f=_counts_by_f(history),
        skipped=outcome.skipped,
        processes=outcome.processes,
        kinds=prepared.kinds,
        faults=outcome.faults,
        heal_actions=outcome.heal_actions,
        phases=outcome.phases,
        timings={
            "run_wall_s": round(run_wall, 3),
            "check_wall_s": round(check_wall, 3),
            "env_s": round(outcome.elapsed_s, 3),
            "speed": round(outcome.elapsed_s / run_wall, 3) if run_wall > 0 else 0.0,
        },
        snapshot_error=outcome.snapshot_error,
        replay=tuple(replay),
        session_close_errors=outcome.session_close_errors,
    )
    write_json(folder / "results.json", results_json(result))
    return result


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        return _one_line(exc.exceptions[0])
    text = " ".join(str(exc).split()) or "(no message)"
    return f"environment failed: {type(exc).__name__}: {text}"


def _checkers(prepared: Prepared, spec: TestSpec, outcome: Outcome) -> Sequence[Checker]:
    checkers: list[Checker] = list(prepared.workload.checkers())
    checkers.append(
        AvailabilityChecker(spec.recovery_s, outcome.final_expected, outcome.final_missing)
    )
    checkers.append(ConvergenceChecker())
    if outcome.invariant_violations is not None:
        checkers.append(InvariantsChecker())
    return checkers


def _check(checker: Checker, history: History, outcome: Outcome) -> CheckerResult:
    facts = RunFacts(
        faults=tuple(a.window for a in outcome.faults),
        snapshots=outcome.snapshots,
        phases=outcome.phases,
        invariant_violations=outcome.invariant_violations or (),
        refused=outcome.refused,
    )
    try:
        return checker.check(history, facts)
    except Exception as exc:
        return CheckerResult(
            checker.name, Validity.UNKNOWN, f"checker failed: {type(exc).__name__}: {exc}"
        )


def _counts(history: History, outcome: Outcome) -> dict[str, int]:
    counts = {"invoke": len(history.operations), "ok": 0, "fail": 0, "info": 0, "pending": 0}
    for op in history.operations:
        counts[op.status.value] += 1
    return counts


def _counts_by_f(history: History) -> dict[str, dict[str, int]]:
    by_f: dict[str, dict[str, int]] = {}
    for op in history.operations:
        row = by_f.setdefault(op.f, {"ok": 0, "fail": 0, "info": 0, "pending": 0})
        row[op.status.value] += 1
    return {f: by_f[f] for f in sorted(by_f)}


def error_results_json(spec: TestSpec, message: str) -> dict[str, Any]:
    """``results.json`` of a run whose environment failed (the schema's error form)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "verdict": "error",
        "exit_status": 3,
        "test": spec.test_name,
        "seed": spec.seed,
        "error": message,
    }


def results_json(result: RunResult) -> dict[str, Any]:
    """``results.json`` (keys: :data:`jepsen_lite.runner.store.RESULTS_KEYS`)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "verdict": result.validity.value,
        "exit_status": result.exit_status,
        "test": result.spec.test_name,
        "seed": result.spec.seed,
        "checkers": [
            {
                "name": r.name,
                "validity": r.validity.value,
                "summary": r.summary,
                "details": dict(r.details),
            }
            for r in result.checkers
        ],
        "ops": dict(result.counts),
        "ops_by_f": {f: dict(row) for f, row in result.counts_by_f.items()},
        "skipped": result.skipped,
        "processes": result.processes,
        "faults": [a.to_json() for a in result.faults],
        "fault_kinds": sorted(result.kinds),
        "heal": list(result.heal_actions),
        "phases": [
            {"name": name, "start_s": round(a, 6), "end_s": round(b, 6)}
            for name, (a, b) in result.phases.items()
        ],
        "timings": dict(result.timings),
        "snapshot_error": result.snapshot_error,
        "session_close_errors": result.session_close_errors,
        "replay": list(result.replay),
    }
