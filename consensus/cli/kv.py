"""``consensus kv``: put and (linearizable) get against a cluster's key-value store."""

from __future__ import annotations

import argparse
import sys

import trio

from ..client import ClientError, KvClient
from ._endpoints import add_client_options, client_tls, parse_endpoints

HELP = "talk to a cluster's key-value store: put KEY VALUE, get KEY"


def configure(parser: argparse.ArgumentParser) -> None:
    add_client_options(parser)
    ops = parser.add_subparsers(dest="op", metavar="OP", required=True)
    put = ops.add_parser("put", help="set KEY to VALUE; prints the previous value")
    put.add_argument("key")
    put.add_argument("value")
    get = ops.add_parser("get", help="print KEY's value (linearizable read)")
    get.add_argument("key")


async def _run(args: argparse.Namespace, endpoints: list[str]) -> int:
    async with KvClient(endpoints, timeout_s=args.timeout, tls=client_tls(args)) as kv:
        if args.op == "put":
            previous = await kv.put(args.key, args.value.encode())
            print("OK" if previous is None else f"OK (was {previous.decode(errors='replace')})")
            return 0
        value = await kv.get(args.key)
        if value is None:
            print(f"{args.key}: not found", file=sys.stderr)
            return 1
        print(value.decode(errors="replace"))
        return 0


def run(args: argparse.Namespace) -> int:
    try:
        endpoints = parse_endpoints(args.endpoints)
        return trio.run(_run, args, endpoints)
    except ValueError as exc:
        print(f"consensus kv: error: {exc}", file=sys.stderr)
        return 2
    except ClientError as exc:
        print(f"consensus kv: error: {exc}", file=sys.stderr)
        return 1
