"""``consensus status``: each node's role, term, leader, commit and applied index, and
the configuration (voters, learners) with each member's match index from the leader."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import trio

from ..client import Client, ClientError
from ._endpoints import add_client_options, client_tls, parse_endpoints

HELP = "print each node's id, role, term, leader, commit and applied index"


def configure(parser: argparse.ArgumentParser) -> None:
    add_client_options(parser)
    parser.set_defaults(timeout=2.0)
    parser.add_argument("--json", action="store_true", help="print a JSON list of objects")


async def collect(endpoints: list[str], timeout_s: float, tls: Any = None) -> list[dict[str, Any]]:
    """One row per endpoint, in order; unreachable nodes have role "unreachable"."""
    rows: list[dict[str, Any]] = [{} for _ in endpoints]
    async with Client(
        endpoints,
        timeout_s=timeout_s,
        attempt_timeout_s=timeout_s,
        connect_timeout_s=timeout_s,
        tls=tls,
    ) as client:

        async def one(i: int, endpoint: str) -> None:
            try:
                st = await client.status(endpoint)
            except ClientError as exc:
                rows[i] = {
                    "endpoint": endpoint,
                    "id": None,
                    "role": "unreachable",
                    "term": None,
                    "leader": None,
                    "commit_index": None,
                    "applied_index": None,
                    "error": str(exc),
                }
                return
            rows[i] = {
                "endpoint": endpoint,
                "id": st.node_id,
                "role": st.role,
                "term": st.term,
                "leader": st.leader,
                "commit_index": st.commit_index,
                "applied_index": st.applied_index,
                "protocol": st.protocol,
                "voters": list(st.voters),
                "learners": list(st.learners),
                "match_index": {str(p.node_id): p.match_index for p in st.progress},
            }

        async with trio.open_nursery() as nursery:
            for i, endpoint in enumerate(endpoints):
                nursery.start_soon(one, i, endpoint)
    return rows


def configuration_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The configuration as the leader reports it (else as the first node that reports
    one), with each member's match index from the leader."""
    reporting = [r for r in rows if r.get("voters")]
    if not reporting:
        return []
    leaders = [r for r in reporting if r["role"] == "leader"]
    r = leaders[0] if leaders else reporting[0]
    text = f"configuration (from node {r['id']}): voters {r['voters']}"
    if r["learners"]:
        text += f" learners {r['learners']}"
    lines = [text]
    if r["match_index"]:
        lines.append("match index: " + "  ".join(f"{n}={i}" for n, i in r["match_index"].items()))
    return lines


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def run(args: argparse.Namespace) -> int:
    try:
        endpoints = parse_endpoints(args.endpoints)
        rows = trio.run(collect, endpoints, args.timeout, client_tls(args))
    except ValueError as exc:
        print(f"consensus status: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        header = ("ENDPOINT", "ID", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED")
        table = [header] + [
            (
                r["endpoint"],
                _cell(r["id"]),
                r["role"],
                _cell(r["term"]),
                _cell(r["leader"]),
                _cell(r["commit_index"]),
                _cell(r["applied_index"]),
            )
            for r in rows
        ]
        widths = [max(len(row[c]) for row in table) for c in range(len(header))]
        for row in table:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        for line in configuration_lines(rows):
            print(line)
    return 0 if all(r["role"] != "unreachable" for r in rows) else 1
