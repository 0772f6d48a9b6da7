"""The ``jepsen-lite`` command: ``run`` tests under faults (``replay`` and ``shrink`` them),
``check`` recorded histories for linearizability, ``check-txn`` list-append histories for
transactional anomalies, ``report`` on run folders (HTML page and plots).

``main(argv)`` returns the exit status instead of exiting, so tests can call it. A bad
command line is bad input: exit status 3, like a malformed history (argparse's own 2
would read as "unknown" to ``check``'s callers).
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from .check_cli import EXIT_BAD_INPUT, add_check_parser
from .check_txn_cli import add_check_txn_parser
from .report.cli import add_report_parser
from .run_cli import add_run_parsers
from .shrink.cli import add_shrink_parser


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.format_usage()}{self.prog}: error: {message}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = _Parser(
        prog="jepsen-lite",
        description="A Jepsen-style fault injector (run, replay) and checkers of recorded "
        "histories: linearizability (check) and transactional anomalies (check-txn).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    add_run_parsers(subparsers)
    add_shrink_parser(subparsers)
    add_check_parser(subparsers)
    add_check_txn_parser(subparsers)
    add_report_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the subcommand, return its status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # --help and --version exit 0 from inside argparse
        return exc.code if isinstance(exc.code, int) else 0
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    status: int = args.handler(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
