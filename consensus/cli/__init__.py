"""The ``consensus`` command. Each subcommand lives in its own module of this package.

A subcommand module ``consensus/cli/<name>.py`` defines::

    HELP: str                                     # one line for ``consensus --help``
    def configure(parser: argparse.ArgumentParser) -> None   # add its arguments
    def run(args: argparse.Namespace) -> int                  # exit status

Subcommands whose module does not exist yet print "not built yet" and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

SUBCOMMANDS: dict[str, str] = {
    "sim": "run seeded simulations of a protocol under faults, checking invariants",
    "serve": "run one node of a cluster over TCP",
    "cluster": "start a local cluster of node processes on 127.0.0.1",
    "kv": "talk to a cluster's key-value store",
    "status": "print each node's role, term, leader, commit and applied index",
    "bench": "benchmark the protocols and peers side by side",
    "member": "list, add, promote or remove cluster members",
    "recover": "disaster recovery: restart a cluster from one surviving node's data",
}


def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{name.replace('-', '_')}":
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="consensus",
        description="Raft and Multi-Paxos: simulate, serve, and talk to clusters.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, summary in SUBCOMMANDS.items():
        module = _load(name)
        help_text = getattr(module, "HELP", summary) if module else f"{summary} (not built yet)"
        p = sub.add_parser(name, help=help_text, description=help_text)
        if module is not None:
            module.configure(p)
        else:
            p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = _load(args.command)
    if module is None:
        print(f"consensus {args.command}: not built yet", file=sys.stderr)
        return 2
    status: int = module.run(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
