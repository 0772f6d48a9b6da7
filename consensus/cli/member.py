"""``consensus member list|add|promote|remove``: change a running cluster's membership.

Requests go to the leader (found through ``--endpoints`` like a write). Adding a voter
is ``add`` (a learner, at its peer address) then ``promote`` once it caught up;
replacing a node is add, promote, remove the old one (docs/membership.md).

Exit status: 0 done; 1 the cluster refused or did not answer (the message says why);
2 bad input. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import trio

from ..client import ChangeRefused, Client, ClientError
from ..client.protocol import MemberReply
from ..transport.tcp import Address
from ._endpoints import add_client_options, client_tls, parse_endpoints

HELP = "list, add (as learner), promote or remove cluster members"

ACTIONS = ("list", "add", "promote", "remove")


class _BadInput(Exception):
    pass


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS, help="what to do")
    parser.add_argument("node_id", nargs="?", help="the member's node id (not for list)")
    parser.add_argument("address", nargs="?", help="add: the new node's peer address HOST:PORT")
    add_client_options(parser)
    parser.add_argument("--json", action="store_true", help="print the configuration as JSON")


def parse_request(args: argparse.Namespace) -> tuple[str, int | None, str]:
    """``(action, node id, address)`` checked; ``_BadInput`` says what is wrong."""
    action: str = args.action
    if action == "list":
        if args.node_id is not None:
            raise _BadInput("list takes no node id")
        return action, None, ""
    if args.node_id is None:
        raise _BadInput(f"{action} needs a node id")
    try:
        node = int(args.node_id)
    except ValueError:
        raise _BadInput(f"node id {args.node_id!r} is not an integer") from None
    if node < 1:
        raise _BadInput(f"node id must be >= 1, got {node}")
    address = args.address or ""
    if action == "add":
        if not address:
            raise _BadInput("add needs the new node's peer address: add ID HOST:PORT")
        try:
            Address.parse(address)
        except ValueError as exc:
            raise _BadInput(f"address {address!r}: {exc}") from None
    elif address:
        raise _BadInput(f"{action} takes no address")
    return action, node, address


async def _send(
    endpoints: list[str], timeout_s: float, tls: Any, action: str, node: int | None, address: str
) -> MemberReply:
    async with Client(endpoints, timeout_s=timeout_s, tls=tls) as client:
        if action == "list":
            return await client.member_list()
        assert node is not None
        if action == "add":
            return await client.member_add(node, address)
        if action == "promote":
            return await client.member_promote(node)
        return await client.member_remove(node)


def rows(reply: MemberReply) -> list[dict[str, Any]]:
    return [
        {
            "id": m.node_id,
            "role": m.role,
            "address": m.address or None,
            "match_index": m.match_index,
            "leader": m.node_id == reply.leader_id,
        }
        for m in reply.members
    ]


def _print_table(reply: MemberReply) -> None:
    header = ("ID", "ROLE", "ADDRESS", "MATCH")
    table = [header] + [
        (
            str(r["id"]) + (" *" if r["leader"] else ""),
            r["role"],
            r["address"] or "-",
            "-" if r["match_index"] is None else str(r["match_index"]),
        )
        for r in rows(reply)
    ]
    widths = [max(len(row[c]) for row in table) for c in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"(* leader: node {reply.leader_id})")


def run(args: argparse.Namespace) -> int:
    prog = f"consensus member {args.action}"
    try:
        action, node, address = parse_request(args)
        endpoints = parse_endpoints(args.endpoints)
        tls = client_tls(args)
    except (_BadInput, ValueError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    try:
        reply = trio.run(_send, endpoints, args.timeout, tls, action, node, address)
    except ChangeRefused as exc:
        print(f"{prog}: refused: {exc}", file=sys.stderr)
        return 1
    except ClientError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"leader": reply.leader_id, "members": rows(reply)}, indent=2))
    else:
        _print_table(reply)
    return 0
