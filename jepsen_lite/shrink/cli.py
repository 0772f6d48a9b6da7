"""``jepsen-lite shrink RUN_DIR``: the command around :func:`~.shrinker.shrink_run`.

Progress goes to stderr (one line per candidate run); the summary (sizes before and
after, the new run folder and its replay script) to stdout. Exit status: the shrunk
run's (1: it is invalid, as it must be), or 3 for a folder that cannot be shrunk (not a
run, not ``sim``, not invalid) or bad options, with one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, TextIO

from .base import PASSES, ShrinkError

if TYPE_CHECKING:
    from .shrinker import ShrinkResult

EXIT_ERROR = 3


def add_shrink_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register the ``shrink`` subcommand."""
    shrink = subparsers.add_parser(
        "shrink",
        help="search for a smaller run that fails the same way",
        description="From a failing sim run, search for a smaller run with the same seed "
        "that the same checker finds invalid (fewer faults, a shorter time limit, fewer "
        "clients, a lower rate), and write it as a new run folder with its own replay.sh. "
        "Exit status: the shrunk run's (1), or 3 if RUN_DIR cannot be shrunk.",
    )
    shrink.add_argument("run_dir", metavar="RUN_DIR")
    shrink.add_argument("--out", default=None, metavar="DIR", help="default: RUN_DIR/../..")
    shrink.add_argument(
        "--checker", default=None, metavar="NAME",
        help="the checker that must still fail (default: the first invalid one)",
    )  # fmt: skip
    shrink.add_argument(
        "--max-runs", type=int, default=40, metavar="N",
        help="candidate runs at most, the first replay included (default 40)",
    )  # fmt: skip
    shrink.add_argument(
        "--max-seconds", type=float, default=900.0, metavar="S",
        help="wall seconds of searching at most (default 900)",
    )  # fmt: skip
    shrink.add_argument(
        "--passes", default=",".join(PASSES), metavar="LIST",
        help=f"which searches to run (default {','.join(PASSES)})",
    )  # fmt: skip
    shrink.set_defaults(handler=shrink_command)


def _passes(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [n for n in names if n not in PASSES]
    if unknown or not names:
        what = f"unknown pass {unknown[0]!r}" if unknown else "empty list"
        raise ShrinkError(f"--passes: {what} (choose from {', '.join(PASSES)})")
    return names


def _number(value: float | None) -> str:
    return "closed" if value is None else f"{value:g}"


def summary_lines(shrunk: ShrinkResult) -> list[str]:
    """The end-of-search summary: sizes before -> after, the new folder, the replay."""
    before, after = shrunk.before, shrunk.after
    rows: list[tuple[str, str, str]] = [
        ("faults", str(before.faults), str(after.faults)),
        ("operations", str(before.operations), str(after.operations)),
        ("time limit s", _number(before.time_limit_s), _number(after.time_limit_s)),
        ("clients", str(before.clients), str(after.clients)),
        ("rate ops/s", _number(before.rate), _number(after.rate)),
        ("virtual s", f"{before.env_s:g}", f"{after.env_s:g}"),
    ]
    failing = [c for c in shrunk.result.checkers if c.name == shrunk.checker]
    lines = [
        f"shrunk {shrunk.original} ({shrunk.checker} invalid) in {len(shrunk.trials)} runs, "
        f"{shrunk.wall_s:g} s ({_stopped(shrunk.stopped)})",
        *(f"  {name:<13} {a:>8} -> {b}" for name, a, b in rows),
    ]
    if failing:
        lines.append(f"{shrunk.checker}: {failing[0].summary}")
    lines += [
        f"verdict: {shrunk.result.validity.value}",
        f"shrunk run: {shrunk.run_dir}",
        f"replay: {shrunk.run_dir / 'replay.sh'}  (or jepsen-lite replay {shrunk.run_dir})",
    ]
    return lines


def _stopped(why: str) -> str:
    return {
        "done": "no smaller candidate fails",
        "budget": "budget spent",
        "interrupted": "interrupted",
    }.get(why, why)


def shrink_command(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """``jepsen-lite shrink`` with parsed options; returns the exit status."""
    from .shrinker import shrink_run

    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr

    def log(line: str) -> None:
        print(line, file=err, flush=True)

    try:
        if args.max_runs < 1:
            raise ShrinkError(f"--max-runs must be at least 1, got {args.max_runs}")
        if not args.max_seconds > 0:
            raise ShrinkError(f"--max-seconds must be positive, got {args.max_seconds:g}")
        shrunk = shrink_run(
            args.run_dir,
            out=args.out,
            checker=args.checker,
            max_runs=args.max_runs,
            max_seconds=args.max_seconds,
            passes=_passes(args.passes),
            log=log,
        )
    except ShrinkError as exc:
        print(f"jepsen-lite shrink: error: {exc}", file=err)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("jepsen-lite shrink: interrupted before any candidate failed", file=err)
        return EXIT_ERROR
    for line in summary_lines(shrunk):
        print(line, file=out)
    return shrunk.result.exit_status
