"""Shrinking a failing simulated run: :func:`shrink_run`.

**Input.** A run folder of the ``sim`` environment whose verdict is ``invalid``. The
*target* is the first checker that found it invalid (or one named by the caller); a
candidate counts as failing only if that same checker says ``invalid`` (a candidate that
merely breaks availability does not count).

**Candidates.** Each is the original test with the same seed and an explicit fault
schedule (``TestSpec.schedule``): a subset of the windows the seed drew, possibly cut to
a shorter time limit, possibly with fewer clients or a lower rate. Every other random
stream (workload, workers, network, disks, scheduler) is derived from the seed as in the
original, so dropping a fault changes nothing before the moment that fault would have
started. The first run replays the original with its drawn schedule made explicit (it
must fail the target again, else the run does not reproduce and nothing is searched).

**Passes**, repeated in this order until a round changes nothing (at most
:data:`MAX_ROUNDS`): ``faults`` (:func:`~.search.ddmin` over the windows), ``kinds`` (the
nemesis narrowed to the kinds left in the schedule), ``time`` (bisect the time limit,
clipping the schedule), ``shift`` (move the whole schedule earlier, as far as it still
fails, and the time limit with it: a bug that needs the last faults of a long run then
needs a short run), ``clients`` (bisect the concurrency, the total rate kept),
``rate`` (bisect the open-loop rate). Each candidate is one run in a scratch folder;
answers are cached by test, so no test runs twice.

**Budget.** ``max_runs`` runs (the first included) and ``max_seconds`` of wall time;
when either is spent (or on Ctrl-C) the search stops and keeps the smallest failing
candidate so far. With the same input and a budget that ends by runs, the search is
deterministic: the same candidates in the same order, the same shrunk test.

**Output.** The smallest failing candidate's folder, moved under the store as
``<test name>-shrunk/<timestamp>`` with its own ``test.json``, ``history.jsonl``,
``results.json`` (plus ``shrunk_from``) and ``replay.sh``, and ``shrink.json``: the
sizes before and after and every trial.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from ..runner.api import Environment, TestSpec
from ..runner.envs import environment_class
from ..runner.nemesis import planned_schedule, resolve_kinds
from ..runner.run import RunError, RunResult, run_test
from ..runner.store import (
    SpecError,
    new_run_dir,
    read_test_json,
    replay_command,
    spec_to_json,
    write_json,
    write_replay_sh,
)
from .base import PASSES, ShrinkError
from .search import BudgetSpent, at, clip, ddmin, quantum, shift, smallest_failing, units

MAX_ROUNDS = 3
"""Rounds of all passes at most (a round that changes nothing ends the search sooner)."""
SUFFIX = "-shrunk"


@attrs.frozen(slots=True)
class Sizes:
    """How big a run was: faults applied, operations invoked, the main phase, clients,
    the offered rate (``None``: closed loop) and the environment seconds it lasted."""

    faults: int
    operations: int
    time_limit_s: float
    clients: int
    rate: float | None
    env_s: float

    def to_json(self) -> dict[str, Any]:
        """As a JSON object."""
        return attrs.asdict(self)


@attrs.frozen(slots=True)
class Trial:
    """One candidate run: what it changed (``label``), its verdict, whether the target
    checker found it invalid (``fails``), its size and wall time, and the SHA-256 of its
    ``history.jsonl`` (the first trial's equals the original's when the run reproduces)."""

    number: int
    label: str
    verdict: str
    invalid: tuple[str, ...]
    fails: bool
    operations: int
    env_s: float
    wall_s: float
    history_sha256: str = ""

    def to_json(self) -> dict[str, Any]:
        """As a JSON object (the ``trials`` of ``shrink.json``)."""
        data = attrs.asdict(self)
        data["invalid"] = list(self.invalid)
        return data


@attrs.frozen(slots=True)
class ShrinkResult:
    """A finished search: the shrunk run's folder and result, the sizes before and
    after, the trials, and why the search stopped (``"done"``, ``"budget"``,
    ``"interrupted"``)."""

    original: Path
    run_dir: Path
    result: RunResult
    checker: str
    before: Sizes
    after: Sizes
    trials: tuple[Trial, ...]
    stopped: str
    wall_s: float


@attrs.frozen(slots=True)
class Source:
    """A run folder accepted for shrinking: its test, its results and the target."""

    run_dir: Path
    spec: TestSpec
    results: Mapping[str, Any]
    checker: str


def load_source(run_dir: str | Path, checker: str | None = None) -> Source:
    """The run in ``run_dir`` if it can be shrunk; ``ShrinkError`` (one line) for a folder
    that is not a run, a run not in ``sim`` (not replayable), or one that is not invalid
    (or whose ``checker`` is not invalid)."""
    folder = Path(run_dir)
    if not folder.is_dir():
        raise ShrinkError(f"{folder}: not a run folder (no such directory)")
    if not (folder / "test.json").is_file():
        raise ShrinkError(f"{folder}: not a run folder (no test.json)")
    try:
        spec = read_test_json(folder)
    except SpecError as exc:
        raise ShrinkError(f"not a run folder: {exc}") from None
    if spec.env != "sim":
        raise ShrinkError(
            f"{folder}: a run of environment {spec.env!r} cannot be shrunk: only sim runs "
            "replay deterministically"
        )
    path = folder / "results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ShrinkError(f"{folder}: not a finished run (no results.json)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ShrinkError(f"{path}: cannot read: {exc}") from None
    if not isinstance(results, dict) or not isinstance(results.get("checkers"), list):
        raise ShrinkError(f"{path}: not a results file (no checkers)")
    verdict = results.get("verdict")
    if verdict != "invalid":
        raise ShrinkError(f"{folder}: verdict {verdict}, nothing to shrink (only invalid runs)")
    invalid = [
        c.get("name")
        for c in results["checkers"]
        if isinstance(c, dict) and c.get("validity") == "invalid"
    ]
    if checker is None:
        checker = str(invalid[0])
    elif checker not in invalid:
        raise ShrinkError(
            f"{folder}: checker {checker!r} did not find this run invalid "
            f"(invalid: {', '.join(map(str, invalid))})"
        )
    return Source(folder, spec, results, checker)


def sizes_of_results(spec: TestSpec, results: Mapping[str, Any]) -> Sizes:
    """The sizes of a stored run (its ``results.json``)."""
    return Sizes(
        faults=len(results.get("faults", [])),
        operations=int(results.get("ops", {}).get("invoke", 0)),
        time_limit_s=spec.time_limit_s,
        clients=spec.concurrency,
        rate=spec.rate,
        env_s=float(results.get("timings", {}).get("env_s", 0.0)),
    )


def sizes_of_result(result: RunResult) -> Sizes:
    """The sizes of a run just made."""
    spec = result.spec
    return Sizes(
        faults=len(result.faults),
        operations=result.counts["invoke"],
        time_limit_s=spec.time_limit_s,
        clients=spec.concurrency,
        rate=spec.rate,
        env_s=float(result.timings["env_s"]),
    )


def _environment(name: str) -> Environment:
    env: Environment = environment_class(name)()
    return env


def _label(spec: TestSpec, total_faults: int) -> str:
    rate = "closed" if spec.rate is None else f"rate {spec.rate:g}"
    faults = 0 if spec.schedule is None else len(spec.schedule)
    return (
        f"faults {faults}/{total_faults}, time {spec.time_limit_s:g} s, "
        f"clients {spec.concurrency}, {rate}"
    )


class Shrinker:
    """The search over one source (see the module doc); ``log`` gets one progress line
    per run."""

    def __init__(
        self,
        source: Source,
        work: Path,
        max_runs: int,
        max_seconds: float,
        log: Callable[[str], None],
        passes: Sequence[str] = PASSES,
    ) -> None:
        self.source = source
        self.work = work
        self.max_runs = max_runs
        self.max_seconds = max_seconds
        self.log = log
        self.passes = tuple(p for p in PASSES if p in passes)
        self.start = time.monotonic()
        self.trials: list[Trial] = []
        self.cache: dict[str, bool] = {}
        self.best: TestSpec | None = None
        self.best_run: RunResult | None = None
        name = source.spec.test_name
        base = attrs.evolve(source.spec, name=name if name.endswith(SUFFIX) else name + SUFFIX)
        env = _environment(base.env)
        self.kinds = resolve_kinds(base.nemesis, env.faults, env.name)
        self.drawn = planned_schedule(base, self.kinds)
        self.initial = attrs.evolve(base, schedule=self.drawn)

    # -- one candidate -----------------------------------------------------------------

    def fails(self, spec: TestSpec) -> bool:
        """Whether ``spec`` fails the target checker (one run, or the cached answer);
        ``BudgetSpent`` when no run is left. A failing candidate becomes the best."""
        key = json.dumps(spec_to_json(spec), sort_keys=True)
        if key in self.cache:
            return self.cache[key]
        spent = time.monotonic() - self.start
        if len(self.trials) >= self.max_runs or spent >= self.max_seconds:
            raise BudgetSpent()
        number = len(self.trials) + 1
        folder = self.work / f"trial-{number}"
        folder.mkdir()
        wall = time.monotonic()
        label = _label(spec, len(self.drawn))
        if resolve_kinds(spec.nemesis, self.kinds) != self.kinds:
            label += f", nemesis {','.join(sorted(spec.nemesis)) or 'none'}"
        try:
            result = run_test(spec, _environment(spec.env), folder)
        except RunError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            self.log(f"shrink: run {number}: {label}: error: {exc}")
            trial = Trial(number, label, "error", (), False, 0, 0.0, time.monotonic() - wall)
            self.trials.append(trial)
            self.cache[key] = False
            return False
        except KeyboardInterrupt:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        invalid = tuple(c.name for c in result.checkers if c.validity.value == "invalid")
        failed = self.source.checker in invalid
        trial = Trial(
            number,
            label,
            result.validity.value,
            invalid,
            failed,
            result.counts["invoke"],
            float(result.timings["env_s"]),
            round(time.monotonic() - wall, 3),
            hashlib.sha256((folder / "history.jsonl").read_bytes()).hexdigest(),
        )
        self.trials.append(trial)
        self.cache[key] = failed
        verdict = f"invalid ({', '.join(invalid)})" if invalid else result.validity.value
        outcome = ("reproduces" if number == 1 else "smaller, kept") if failed else "rejected"
        self.log(
            f"shrink: run {number}: {label}: {verdict}, {trial.operations} ops, "
            f"{trial.wall_s:.1f} s -> {outcome}"
        )
        if failed:
            if self.best_run is not None:
                shutil.rmtree(self.best_run.run_dir, ignore_errors=True)
            self.best, self.best_run = spec, result
        else:
            shutil.rmtree(folder, ignore_errors=True)
        return failed

    # -- the passes --------------------------------------------------------------------

    def _faults(self, base: TestSpec) -> None:
        windows = base.schedule or ()
        ddmin(windows, lambda sub: self.fails(attrs.evolve(base, schedule=sub)))

    def _kinds(self, base: TestSpec) -> None:
        used = frozenset(w.fault.kind for w in base.schedule or ())
        if used != resolve_kinds(base.nemesis, self.kinds):
            self.fails(attrs.evolve(base, nemesis=used))

    def _time(self, base: TestSpec) -> None:
        limit = base.time_limit_s
        step = quantum(limit)

        def spec_at(k: int) -> TestSpec:
            t = at(k, step, limit)
            return attrs.evolve(base, time_limit_s=t, schedule=clip(base.schedule or (), t))

        smallest_failing(0, units(limit, step), lambda k: self.fails(spec_at(k)))

    def _shift(self, base: TestSpec) -> None:
        windows = base.schedule or ()
        if not windows:
            return
        limit = base.time_limit_s
        step = quantum(limit)
        most = int(min(w.start_s for w in windows) // step)

        def spec_at(k: int) -> TestSpec:
            by = round(k * step, 3)
            moved = shift(windows, by)
            end = max([round(limit - by, 3), *(w.end_s for w in moved)])
            return attrs.evolve(base, time_limit_s=end, schedule=moved)

        # the largest move that still fails: j = most - k, smallest failing j
        smallest_failing(-1, most, lambda j: self.fails(spec_at(most - j)))

    def _clients(self, base: TestSpec) -> None:
        def spec_at(k: int) -> TestSpec:
            return attrs.evolve(base, concurrency=k)

        smallest_failing(0, base.concurrency, lambda k: self.fails(spec_at(k)))

    def _rate(self, base: TestSpec) -> None:
        if base.rate is None:
            return
        rate = base.rate
        step = quantum(rate)

        def spec_at(k: int) -> TestSpec:
            return attrs.evolve(base, rate=at(k, step, rate))

        smallest_failing(0, units(rate, step), lambda k: self.fails(spec_at(k)))

    def search(self) -> str:
        """Run the search; returns why it stopped (``done``, ``budget``, ``interrupted``).
        ``ShrinkError`` if the first run (the original, its schedule explicit) does not
        fail the target checker again."""
        steps: dict[str, Callable[[TestSpec], None]] = {
            "faults": self._faults,
            "kinds": self._kinds,
            "time": self._time,
            "shift": self._shift,
            "clients": self._clients,
            "rate": self._rate,
        }
        try:
            if not self.fails(self.initial):
                last = self.trials[-1]
                raise ShrinkError(
                    f"{self.source.run_dir}: run again with the same seed, the "
                    f"{self.source.checker} checker did not find it invalid (verdict "
                    f"{last.verdict}): the run does not reproduce"
                )
            for _ in range(MAX_ROUNDS):
                before = self.best
                for name in self.passes:
                    assert self.best is not None
                    steps[name](self.best)
                if self.best == before:
                    break
        except BudgetSpent:
            return "budget"
        except KeyboardInterrupt:
            if self.best is None:
                raise
            return "interrupted"
        return "done"


def _publish(shrinker: Shrinker, store: Path) -> RunResult:
    """Move the best trial's folder into ``store`` and point its replay at ``store``;
    the best trial's result with its new folder and replay command."""
    assert shrinker.best is not None and shrinker.best_run is not None
    spec = shrinker.best
    target = new_run_dir(store, spec)
    for entry in sorted(shrinker.best_run.run_dir.iterdir()):
        shutil.move(str(entry), str(target / entry.name))
    replay = replay_command(spec, target.parent.parent.resolve())
    write_replay_sh(target, replay)
    return attrs.evolve(shrinker.best_run, run_dir=target, replay=tuple(replay))


def shrink_run(
    run_dir: str | Path,
    *,
    out: str | Path | None = None,
    checker: str | None = None,
    max_runs: int = 40,
    max_seconds: float = 900.0,
    passes: Sequence[str] = PASSES,
    log: Callable[[str], None] = lambda line: None,
) -> ShrinkResult:
    """Shrink the failing run in ``run_dir`` (see the module doc) into a new run folder
    under ``out`` (default: the store ``run_dir`` is in, ``run_dir/../..``).
    ``ShrinkError`` (one line) if it cannot."""
    source = load_source(run_dir, checker)
    store = Path(out) if out is not None else source.run_dir.resolve().parent.parent
    store.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=".shrink-", dir=store) as scratch:
        try:
            shrinker = Shrinker(source, Path(scratch), max_runs, max_seconds, log, passes)
        except ValueError as exc:
            raise ShrinkError(f"{source.run_dir}: {exc}") from None
        stopped = shrinker.search()
        result = _publish(shrinker, store)
    wall = round(time.monotonic() - started, 3)
    before = sizes_of_results(source.spec, source.results)
    after = sizes_of_result(result)
    shrunk = ShrinkResult(
        source.run_dir, result.run_dir, result, source.checker, before, after,
        tuple(shrinker.trials), stopped, wall,
    )  # fmt: skip
    _record(shrunk)
    return shrunk


def _record(shrunk: ShrinkResult) -> None:
    """Add ``shrunk_from`` to the new run's ``results.json``; write ``shrink.json``."""
    summary = {
        "run_dir": str(shrunk.original.resolve()),
        "checker": shrunk.checker,
        "before": shrunk.before.to_json(),
        "after": shrunk.after.to_json(),
        "runs": len(shrunk.trials),
        "stopped": shrunk.stopped,
        "search_wall_s": shrunk.wall_s,
    }
    path = shrunk.run_dir / "results.json"
    results = json.loads(path.read_text(encoding="utf-8"))
    results["replay"] = list(shrunk.result.replay)
    results["shrunk_from"] = summary
    write_json(path, results)
    write_json(
        shrunk.run_dir / "shrink.json",
        {
            **summary,
            "shrunk_run": str(shrunk.run_dir),
            "trials": [t.to_json() for t in shrunk.trials],
        },
    )
