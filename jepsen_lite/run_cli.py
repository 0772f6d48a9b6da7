"""``jepsen-lite run`` and ``jepsen-lite replay``: run tests, write run folders, report.

``run`` builds a :class:`~jepsen_lite.runner.api.TestSpec` from its options (every one
has a default: with none it runs :data:`DEFAULT_TIME_LIMIT_S` seconds of ``raft`` /
``register`` / every fault the ``sim`` environment supports, on 5 nodes with 10 clients,
with a fresh random seed), runs it once per seed (``--seed N`` or ``--seeds A-B``), and
writes one run folder per seed under ``--out`` (default ``store``). While it runs it shows
progress (operations ok/fail/info, faults in effect, virtual and real time elapsed) when
stdout is a terminal; at the end it prints a summary table (checkers, operations, faults,
the run folder and the replay command), or with several seeds one line per seed.

``replay RUN_DIR`` runs the test in ``RUN_DIR/test.json`` again (into a new folder next to
it) and says whether the new ``history.jsonl`` is byte-identical to the stored one.

Exit status: 0 valid, 1 invalid, 2 unknown, 3 error (bad options, a fault kind the
environment lacks, an environment failure). With several seeds: 3 if any run failed,
else 1 if any was invalid, else 2 if any unknown, else 0.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import attrs

from consensus.unsafe import UNSAFE_PROTOCOLS

from .report.cli import POLICIES as REPORT_POLICIES
from .report.cli import make_report, wants_report
from .runner.api import FAULT_KINDS, Environment, FaultWindow, TestSpec, Validity
from .runner.envs import EnvironmentUnavailable, environment_class
from .runner.options import check_option_names
from .runner.schedule_json import ScheduleError, windows_from_json
from .runner.store import DEFAULT_OUT, SpecError, new_run_dir, read_test_json, validate_spec

if TYPE_CHECKING:  # imported when a run starts, so that ``jepsen-lite check`` starts fast
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from .runner.loop import Progress
    from .runner.run import RunResult

EXIT_ERROR = 3
EXIT_STATUS = {Validity.VALID: 0, Validity.INVALID: 1, Validity.UNKNOWN: 2}
DEFAULT_TIME_LIMIT_S = 200.0
"""The default main phase (virtual seconds in ``sim``), sized for about a minute of wall
time on a loaded 2-core machine: 46 s wall for raft / register / all faults / 5 nodes /
10 clients at load average 3.3 (see docs/jepsen-run.md)."""
PROTOCOLS = ("raft", "multipaxos", "paxos-lwt")
TARGETS_THAT_LOSE_DATA = UNSAFE_PROTOCOLS
"""Protocols the runner also takes: test targets that lose data on purpose (issue 14)."""
SEVERITY = {0: 0, 2: 1, 1: 2, EXIT_ERROR: 3}
"""Which exit status wins over several seeds (higher wins)."""
_STYLE = {Validity.VALID: "green", Validity.INVALID: "bold red", Validity.UNKNOWN: "yellow"}


class BadOption(Exception):
    """An option value that does not make a test; the message names it."""


def add_run_parsers(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register the ``run`` and ``replay`` subcommands."""
    run = subparsers.add_parser(
        "run",
        help="run a test against a cluster and check it",
        description="Run a Jepsen-style test (workload, faults, checkers) in an environment "
        "and write a run folder. Exit status: 0 valid, 1 invalid, 2 unknown, 3 error.",
    )
    run.add_argument("--env", default="sim", help="sim (default), local or etcd")
    run.add_argument(
        "--protocol", default="raft",
        help="raft (default), multipaxos or paxos-lwt; unsafe-primary-backup and unsafe-lww "
        "are test targets that lose data on purpose (docs/jepsen-run.md)",
    )  # fmt: skip
    run.add_argument("--workload", default="register", help="default: register")
    run.add_argument(
        "--nemesis", default="all", metavar="LIST",
        help=f"comma-separated fault kinds ({','.join(FAULT_KINDS)}), all (default: every "
        "kind the environment supports) or none",
    )  # fmt: skip
    run.add_argument("--nodes", type=int, default=5, help="cluster size (default 5)")
    run.add_argument("--concurrency", type=int, default=10, help="client workers (default 10)")
    run.add_argument(
        "--time-limit", type=float, default=DEFAULT_TIME_LIMIT_S, metavar="S",
        help=f"seconds of the main phase (default {DEFAULT_TIME_LIMIT_S:g})",
    )  # fmt: skip
    load = run.add_mutually_exclusive_group()
    load.add_argument(
        "--rate", type=float, default=50.0, metavar="R",
        help="open loop: R operations per second over all clients (default 50)",
    )  # fmt: skip
    load.add_argument("--closed", action="store_true", help="closed loop instead of --rate")
    run.add_argument("--keys", type=int, default=20, help="keys live at once (default 20)")
    run.add_argument(
        "--ops-per-key", type=int, default=100, help="operations per key (default 100)"
    )
    run.add_argument(
        "--recovery", type=float, default=10.0, metavar="S",
        help="after heal, operations must succeed within S seconds (default 10)",
    )  # fmt: skip
    seeds = run.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=None, help="default: a random seed")
    seeds.add_argument("--seeds", default=None, metavar="A-B", help="one run per seed A..B")
    run.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help="default: store")
    run.add_argument("--name", default="", help="test name (default: protocol-workload-nemesis)")
    run.add_argument(
        "--option", action="append", default=[], metavar="KEY=JSON",
        help="an extra TestSpec option (e.g. op_timeout_s=5)",
    )  # fmt: skip
    run.add_argument(
        "--report", default="auto", choices=REPORT_POLICIES,
        help="write report.html and plots into the run folder: auto (default: a single "
        "run always, a --seeds campaign for each seed that is not valid), always, "
        "not-valid, never",
    )  # fmt: skip
    run.add_argument(
        "--schedule", default=None, metavar="JSON",
        help="an explicit fault schedule instead of the seed's (a JSON list of windows, or "
        "@FILE holding one; written by jepsen-lite shrink)",
    )  # fmt: skip
    run.add_argument("--broken", default=None, help=argparse.SUPPRESS)
    run.set_defaults(handler=run_command)

    replay = subparsers.add_parser(
        "replay",
        help="run a stored test again and compare histories",
        description="Run RUN_DIR/test.json again into a new run folder and say whether the "
        "new history is byte-identical to the stored one. Exit status as for run.",
    )
    replay.add_argument("run_dir", metavar="RUN_DIR")
    replay.add_argument("--out", default=None, metavar="DIR", help="default: RUN_DIR/../..")
    replay.add_argument(
        "--report", default="auto", choices=REPORT_POLICIES,
        help="write report.html and plots into the new run folder (auto, the default, and "
        "always: yes; not-valid; never)",
    )  # fmt: skip
    replay.set_defaults(handler=replay_command)


# -- building specs ------------------------------------------------------------------


def parse_nemesis(text: str) -> frozenset[str]:
    """``--nemesis``: ``none``, ``all``, or a comma-separated list of fault kinds."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise BadOption("--nemesis: empty list (use none for no faults)")
    if names == ["none"]:
        return frozenset()
    unknown = [n for n in names if n not in FAULT_KINDS and n != "all"]
    if unknown:
        raise BadOption(
            f"--nemesis: unknown fault kind {unknown[0]!r} "
            f"(choose from {', '.join(FAULT_KINDS)}, all, none)"
        )
    return frozenset(names)


def parse_seeds(seed: int | None, seeds: str | None) -> list[int]:
    """The seeds to run: ``--seed``, ``--seeds A-B``, or one random seed."""
    if seeds is not None:
        first, sep, last = seeds.partition("-")
        if not sep or not first.isdigit() or not last.isdigit() or int(first) > int(last):
            raise BadOption(f"--seeds: expected A-B with 0 <= A <= B, got {seeds!r}")
        return list(range(int(first), int(last) + 1))
    if seed is not None:
        if seed < 0:
            raise BadOption(f"--seed must be non-negative, got {seed}")
        return [seed]
    return [random.SystemRandom().randrange(1_000_000)]


def parse_options(items: list[str], broken: str | None) -> dict[str, Any]:
    """``--option KEY=JSON`` items (and ``--broken``) as ``TestSpec.options``."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise BadOption(f"--option: expected KEY=JSON, got {item!r}")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw  # a bare word is a string
    try:
        check_option_names(options)
    except ValueError as exc:
        raise BadOption(f"--option: {exc}") from None
    if broken is not None:
        options["broken"] = broken
    return options


def parse_schedule(
    text: str | None, nodes: int, time_limit_s: float
) -> tuple[FaultWindow, ...] | None:
    """``--schedule``: a JSON list of windows, or ``@FILE`` holding one (``None``: none)."""
    if text is None:
        return None
    where = "--schedule"
    if text.startswith("@"):
        where = f"--schedule {text[1:]}"
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadOption(f"{where}: cannot read: {exc}") from None
    try:
        return windows_from_json(json.loads(text), nodes, time_limit_s)
    except json.JSONDecodeError as exc:
        raise BadOption(f"{where}: invalid JSON: {exc.msg}") from None
    except ScheduleError as exc:
        raise BadOption(f"{where}: {exc}") from None


def spec_from_args(args: argparse.Namespace, seed: int = 0) -> TestSpec:
    """The spec ``run``'s options describe, with ``seed``; ``BadOption`` otherwise."""
    if args.protocol not in PROTOCOLS + TARGETS_THAT_LOSE_DATA:
        raise BadOption(
            f"--protocol: unknown protocol {args.protocol!r} (choose {', '.join(PROTOCOLS)}; "
            f"test targets that lose data: {', '.join(TARGETS_THAT_LOSE_DATA)})"
        )
    for flag, value, minimum in (
        ("--nodes", args.nodes, 1),
        ("--concurrency", args.concurrency, 1),
        ("--keys", args.keys, 1),
        ("--ops-per-key", args.ops_per_key, 1),
    ):
        if value < minimum:
            raise BadOption(f"{flag} must be at least {minimum}, got {value}")
    for flag, number in (
        ("--time-limit", args.time_limit),
        ("--recovery", args.recovery),
        ("--rate", None if args.closed else args.rate),
    ):
        if number is not None and not number > 0:
            raise BadOption(f"{flag} must be a positive number, got {number:g}")
    spec = TestSpec(
        workload=args.workload,
        nemesis=parse_nemesis(args.nemesis),
        env=args.env,
        protocol=args.protocol,
        nodes=args.nodes,
        concurrency=args.concurrency,
        time_limit_s=args.time_limit,
        seed=seed,
        rate=None if args.closed else args.rate,
        keys=args.keys,
        ops_per_key=args.ops_per_key,
        recovery_s=args.recovery,
        name=args.name,
        options=parse_options(args.option, args.broken),
        schedule=parse_schedule(args.schedule, args.nodes, args.time_limit),
    )
    try:
        validate_spec(spec)
    except SpecError as exc:  # not reached when the checks above hold; kept as a guard
        raise BadOption(str(exc)) from None
    return spec


def _environment(name: str) -> Environment:
    try:
        cls = environment_class(name)
    except ValueError as exc:
        raise BadOption(f"--env: {exc}") from None
    except ImportError as exc:
        raise BadOption(f"--env: environment {name!r} is not available: {exc}") from None
    try:
        env: Environment = cls()
    except EnvironmentUnavailable as exc:
        raise BadOption(f"--env: environment {name!r} is not available: {exc}") from None
    return env


# -- running -------------------------------------------------------------------------


def run_command(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """``jepsen-lite run`` with parsed options; returns the exit status."""
    from rich.console import Console

    from .runner.run import RunError, prepare

    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        seeds = parse_seeds(args.seed, args.seeds)
        base = spec_from_args(args)
        env = _environment(base.env)
        prepare(base, env)  # a bad workload or an unsupported fault kind: before any run
    except (BadOption, RunError) as exc:
        print(f"jepsen-lite run: error: {exc}", file=err)
        return EXIT_ERROR
    console = Console(file=out, highlight=False, soft_wrap=True)
    worst = 0
    for seed in seeds:
        spec = attrs.evolve(base, seed=seed)
        run_dir = new_run_dir(Path(args.out), spec)
        try:
            status, result = _run_in(run_dir, spec, env, console, err)
        except KeyboardInterrupt:
            return EXIT_ERROR  # the environment has stopped what it started; no more seeds
        if result is not None:
            if len(seeds) == 1:
                print_summary(console, result)
            else:
                console.print(seed_line(result))
        elif len(seeds) > 1:
            console.print(f"seed {seed}: error")
        _report(run_dir, result, args.report, len(seeds) > 1, console, err)
        worst = max(worst, status, key=lambda s: SEVERITY[s])
    return worst


def _run_one(
    spec: TestSpec, env: Environment, out_dir: Path, console: Console, err: TextIO
) -> tuple[int, RunResult | None]:
    """Run ``spec`` into a new folder under ``out_dir`` (no report)."""
    return _run_in(new_run_dir(out_dir, spec), spec, env, console, err)


def _run_in(
    run_dir: Path, spec: TestSpec, env: Environment, console: Console, err: TextIO
) -> tuple[int, RunResult | None]:
    from .runner.run import RunError, run_test

    try:
        with _ProgressDisplay(console) as show:
            result = run_test(spec, env, run_dir, show)
    except RunError as exc:
        print(f"jepsen-lite run: error: seed {spec.seed}: {exc} (run folder {run_dir})", file=err)
        return EXIT_ERROR, None
    except KeyboardInterrupt:
        print(f"jepsen-lite run: interrupted (run folder {run_dir})", file=err)
        raise
    return result.exit_status, result


def _report(
    run_dir: Path,
    result: RunResult | None,
    policy: str,
    campaign: bool,
    console: Console,
    err: TextIO,
) -> None:
    """Write the run's report if ``policy`` wants one (see :mod:`jepsen_lite.report.cli`)
    and print where; a report that fails is a one-line warning on ``err``."""
    verdict = result.validity.value if result is not None else "error"
    if not wants_report(policy, campaign, verdict):
        return
    html = make_report(run_dir, err)
    if html is not None:
        console.print(f"report: {html}")


class _ProgressDisplay:
    """A live progress line on a terminal (nothing otherwise); yields the callback."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live: Live | None = None
        self.last = 0.0

    def __enter__(self) -> Callable[[Progress], None] | None:
        if not self.console.is_terminal:
            return None
        from rich.live import Live

        self.live = Live(console=self.console, auto_refresh=False, transient=True)
        self.live.__enter__()
        return self.update

    def update(self, progress: Progress) -> None:
        now = time.monotonic()
        if self.live is None or now - self.last < 0.1:
            return
        self.last = now
        self.live.update(progress_text(progress), refresh=True)

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)


def progress_text(progress: Progress) -> Text:
    """Two progress lines: phase, times and operation counts; faults in effect."""
    from rich.text import Text

    counts = progress.counts
    faults = ", ".join(progress.active_faults) or "none"
    return Text.assemble(
        (f"{progress.phase:<8}", "bold"),
        f" {progress.elapsed_s:6.1f}/{progress.time_limit_s:g} s virtual"
        f"  {progress.wall_s:6.1f} s real   ops {counts.get('invoke', 0)}: ",
        (f"ok {counts.get('ok', 0)}", "green"),
        " ",
        (f"fail {counts.get('fail', 0)}", "yellow"),
        " ",
        (f"info {counts.get('info', 0)}", "magenta"),
        f"\n         faults: {progress.faults_started} started; in effect: {faults}",
    )


def seed_line(result: RunResult) -> Text:
    """The one-line summary of one seed's run."""
    from rich.text import Text

    c = result.counts
    return Text.assemble(
        f"seed {result.spec.seed}: ",
        (f"{result.validity.value:<7}", _STYLE[result.validity]),
        f" ops {c['invoke']} (ok {c['ok']}, fail {c['fail']}, info {c['info']})"
        f"  faults {len(result.faults)}  {result.timings['env_s']:g} s in "
        f"{result.timings['run_wall_s']:g} s  {result.run_dir}",
    )


def print_summary(console: Console, result: RunResult) -> None:
    """The end-of-run table: checkers, operations, faults, folder, replay command."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{result.spec.test_name}, seed {result.spec.seed}")
    table.add_column("checker")
    table.add_column("verdict")
    table.add_column("summary", overflow="fold")
    for checker in result.checkers:
        table.add_row(
            checker.name, Text(checker.validity.value, _STYLE[checker.validity]), checker.summary
        )
    console.print(table)
    c = result.counts
    console.print(
        f"operations: {c['invoke']} invoked, {c['ok']} ok, {c['fail']} fail, {c['info']} info, "
        f"{c['pending']} pending; {result.skipped} skipped (worker busy); "
        f"{result.processes} processes"
    )
    kinds = Counter(a.window.fault.kind for a in result.faults)
    shown = ", ".join(f"{kind} {kinds[kind]}" for kind in FAULT_KINDS if kinds[kind]) or "none"
    console.print(
        f"faults: {len(result.faults)} ({shown}); "
        f"heal: {', '.join(result.heal_actions) or 'nothing left'}"
    )
    t = result.timings
    console.print(
        f"time: {t['env_s']:g} s environment in {t['run_wall_s']:g} s real "
        f"({t['speed']:g}x), checking {t['check_wall_s']:g} s"
    )
    console.print(f"run folder: {result.run_dir}")
    console.print(f"replay: {shlex.join(result.replay)}")
    console.print(Text.assemble("verdict: ", (result.validity.value, _STYLE[result.validity])))


# -- replay --------------------------------------------------------------------------


def first_difference(old: bytes, new: bytes) -> int | None:
    """The 1-based line where two histories first differ (``None``: identical)."""
    if old == new:
        return None
    old_lines, new_lines = old.split(b"\n"), new.split(b"\n")
    for number, (a, b) in enumerate(zip(old_lines, new_lines, strict=False), start=1):
        if a != b:
            return number
    return min(len(old_lines), len(new_lines)) + 1


def replay_command(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """``jepsen-lite replay RUN_DIR``; returns the exit status of the new run."""
    from rich.console import Console

    from .runner.run import RunError, prepare

    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    stored = Path(args.run_dir)
    try:
        spec = read_test_json(stored)
        old = (stored / "history.jsonl").read_bytes()
        env = _environment(spec.env)
        prepare(spec, env)
    except (SpecError, BadOption, RunError) as exc:
        print(f"jepsen-lite replay: error: {exc}", file=err)
        return EXIT_ERROR
    except OSError as exc:
        print(
            f"jepsen-lite replay: error: {stored}/history.jsonl: cannot read: {exc.strerror}",
            file=err,
        )
        return EXIT_ERROR
    out_dir = Path(args.out) if args.out is not None else stored.resolve().parent.parent
    console = Console(file=out, highlight=False, soft_wrap=True)
    run_dir = new_run_dir(out_dir, spec)
    try:
        status, result = _run_in(run_dir, spec, env, console, err)
    except KeyboardInterrupt:
        return EXIT_ERROR
    if result is not None:
        print_summary(console, result)
    _report(run_dir, result, args.report, False, console, err)
    if result is None:
        return status
    line = first_difference(old, (result.run_dir / "history.jsonl").read_bytes())
    if line is None:
        console.print(f"history: byte-identical to {stored / 'history.jsonl'}")
    else:
        console.print(f"history: DIFFERS from {stored / 'history.jsonl'} (first at line {line})")
    return EXIT_STATUS[result.validity]
