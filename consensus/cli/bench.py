"""``consensus bench [SUITE...]``: run benchmark suites, print a table, write JSON and a plot."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..bench import registry
from ..bench.report import BenchReport
from ..bench.target import TargetUnavailable

HELP = "benchmark the protocols (and etcd, PySyncObj) side by side in one run"


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 3,5,7, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers like 3,5,7, got {text!r}")
    return values


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "suites",
        nargs="*",
        metavar="SUITE",
        help=f"suites to run (default: {' '.join(registry.DEFAULT)}); --list names them all",
    )
    parser.add_argument("--list", action="store_true", help="list the suites and exit")
    parser.add_argument("--json", metavar="FILE", help="write every figure as JSON to FILE")
    parser.add_argument("--plot", metavar="FILE.png", help="write a plot of the results")
    parser.add_argument(
        "--runs", type=registry.positive_int, default=3, help="repetitions per cell (median)"
    )
    parser.add_argument("--quick", action="store_true", help="the smallest matrix (smoke run)")
    parser.add_argument(
        "--protocol",
        dest="protocols",
        action="append",
        choices=["raft", "multipaxos", "paxos-lwt"],
        help="protocols to run (repeatable; default: all three)",
    )
    parser.add_argument(
        "--nodes", dest="node_counts", type=_int_list, default=None, help="e.g. 3,5,7"
    )
    parser.add_argument(
        "--seconds", type=registry.positive_float, default=None, help="measured time per run"
    )
    parser.add_argument(
        "--peers", action="store_true", help="add etcd and PySyncObj where installed"
    )
    for name in registry.SUITES:
        module = registry.load(name)
        if module is not None and hasattr(module, "configure"):
            module.configure(parser.add_argument_group(f"suite {name}"))


def run(args: argparse.Namespace) -> int:
    if args.list:
        for name, summary in registry.SUITES.items():
            built = "" if registry.load(name) is not None else " (not built yet)"
            print(f"{name:10} {summary}{built}")
        return 0
    for flag, value in (("--json", args.json), ("--plot", args.plot)):
        if value is not None and not Path(value).resolve().parent.is_dir():
            # Said before the run, not after minutes of measuring.
            print(f"consensus bench: {flag} {value}: no such directory", file=sys.stderr)
            return 2
    names = list(args.suites) or list(registry.DEFAULT)
    if args.peers:
        names += [n for n in ("peers", "embedded") if n not in names]
    unknown = [n for n in names if n not in registry.SUITES]
    if unknown:
        print(
            f"consensus bench: unknown suite {', '.join(unknown)}; "
            f"known: {', '.join(registry.SUITES)}",
            file=sys.stderr,
        )
        return 2
    args.protocols = args.protocols or ["raft", "multipaxos", "paxos-lwt"]
    options = {
        k: v for k, v in vars(args).items() if isinstance(v, str | int | float | bool | list)
    }
    report = BenchReport(argv=sys.argv[1:], options=options)
    for name in names:
        module = registry.load(name)
        if module is None:
            report.skip(name, name, "not built yet")
            print(f"consensus bench: suite {name} is not built yet; skipped", file=sys.stderr)
            continue
        try:
            module.run(args, report)
        except TargetUnavailable as exc:
            report.skip(name, name, str(exc))
            print(f"consensus bench: suite {name} skipped: {exc}", file=sys.stderr)
    report.finish()
    from ..bench.table import print_report  # rich: only when a bench runs, not per command

    print_report(report)
    if args.json:
        try:
            report.write_json(Path(args.json))
        except OSError as exc:
            print(f"consensus bench: --json {args.json}: {exc}", file=sys.stderr)
            return 3
        print(f"wrote {args.json}")
    if args.plot:
        from ..bench.plot import write_plot  # matplotlib only when asked for

        try:
            write_plot(report, Path(args.plot))
        except (ValueError, OSError) as exc:
            print(f"consensus bench: --plot {args.plot}: {exc}", file=sys.stderr)
            return 3
        print(f"wrote {args.plot}")
    return 0
