"""``consensus kv``: every key-value operation against a cluster, from the shell.

::

    consensus kv --endpoints H:P,... get KEY [--consistency linearizable|lease|stale]
    consensus kv --endpoints H:P,... put KEY VALUE
    consensus kv --endpoints H:P,... delete KEY
    consensus kv --endpoints H:P,... range PREFIX [--end END] [--limit N] [--consistency C]
    consensus kv --endpoints H:P,... cas KEY EXPECTED NEW
    consensus kv --endpoints H:P,... cas KEY NEW --expected-version N | --expected-mod-revision R
    consensus kv --endpoints H:P,... put-if-absent KEY VALUE
    consensus kv --endpoints H:P,... delete-if KEY EXPECTED | KEY --expected-version N ...
    consensus kv --endpoints H:P,... txn FILE.json          ('-' reads standard input)
    consensus kv --endpoints H:P,... watch KEY [--prefix] [--from-revision R] [--count N]
                                           [--timeout S]

Reads are linearizable unless ``--consistency stale``: then the first endpoint that
answers serves it from what it has applied, which may be old (docs/kv.md);
``--consistency lease``: a Raft leader holding its read lease answers without a read
barrier (linearizable only within the cluster's clock drift bound, docs/kv.md). Values are
UTF-8 text. ``--json`` (before or after the operation) prints the result as
one JSON object. Exit status: 0 applied (or found), 1 condition not met (a failed cas,
put-if-absent, delete-if or txn compare; a get of an absent key), 2 error (bad arguments, the store
refused the command, or no answer: then one line names the endpoints tried and what
happened). ``--timeout N`` bounds the whole command to about N seconds.

``watch`` prints each change to KEY (or under prefix KEY) as it comes, from revision R
(default: from now on), polling the first endpoint that answers (a stale read of its
history of recent changes). It exits 0 after N events with ``--count N``; ``--timeout S``
after the operation name is how long to watch (default: until Ctrl-C), ending with status
0, or 1 when ``--count`` events did not all come. The ``--timeout`` before the operation
still bounds each poll. Revisions no longer kept: exit 2 naming the oldest one served.

A txn file is ``{"compare": [...], "success": [...], "failure": [...]}``; a compare is
``{"key": K, "target": "value"|"version"|"create_revision"|"mod_revision"|"exists",
"op": "="|"!="|"<"|">", "value": V}`` (V text, an integer, or true/false for exists); an
op is ``{"get": {"key": K}}``, ``{"put": {"key": K, "value": V}}``, ``{"delete": {"key":
K}}`` or ``{"range": {"prefix": P}}`` / ``{"range": {"start": S, "end": E, "limit": N}}``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import trio

from statemachines.kv_commands import (
    CondResult,
    Delete,
    DeleteResult,
    ErrorResult,
    Get,
    GetResult,
    KeyValue,
    LeaseResult,
    Put,
    PutResult,
    Range,
    RangeResult,
    TxnBranchOp,
    TxnResult,
    WatchEvent,
    compare,
)

from ..client import ClientError, ClientTimeout, KvClient
from ..client.kv import KvError, SessionExpired, WatchCompacted
from ..client.protocol import CONSISTENCY_LEVELS
from ._endpoints import add_client_options, client_tls, parse_endpoints

HELP = (
    "talk to a cluster's key-value store: "
    "get put delete range cas put-if-absent delete-if txn watch lease"
)

APPLIED, NOT_MET, ERROR = 0, 1, 2


def _json_flag(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--json", action="store_true", default=default, help="print the result as JSON"
    )


def configure(parser: argparse.ArgumentParser) -> None:
    add_client_options(parser)
    _json_flag(parser, False)
    ops = parser.add_subparsers(dest="op", metavar="OP", required=True)

    def op(name: str, help_text: str, *args: str) -> argparse.ArgumentParser:
        sub = ops.add_parser(name, help=help_text, description=help_text)
        for arg in args:
            sub.add_argument(arg)
        _json_flag(sub, argparse.SUPPRESS)
        return sub

    def consistency(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--consistency",
            choices=CONSISTENCY_LEVELS,
            default="linearizable",
            help="linearizable (default: read barrier at the leader), lease (a Raft leader "
            "holding its read lease answers at once; else as linearizable) or stale (the "
            "first endpoint that answers, from what it has applied: may be old)",
        )

    consistency(op("get", "print KEY's value; exit 1 if absent", "key"))

    def lease_flag(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--lease", type=int, default=0, metavar="ID", help="attach to lease ID")

    lease_flag(op("put", "set KEY to VALUE", "key", "value"))
    op("delete", "remove KEY", "key")
    ranged = op("range", "list keys starting with PREFIX (or from it to --end)", "prefix")
    ranged.add_argument("--end", help="list [PREFIX, END) instead of a prefix")
    ranged.add_argument("--limit", type=int, default=0, help="at most N keys")
    consistency(ranged)
    cas = op("cas", "compare-and-set: KEY EXPECTED NEW, or KEY NEW with --expected-*", "key")
    cas.add_argument("values", nargs="+", metavar="VALUE")
    which = cas.add_mutually_exclusive_group()
    which.add_argument("--expected-version", type=int, metavar="N")
    which.add_argument("--expected-mod-revision", type=int, metavar="R")
    absent = op("put-if-absent", "set KEY to VALUE only if KEY does not exist", "key", "value")
    lease_flag(absent)
    lease = op("lease", "grant, keep alive or revoke a lease (keys put with --lease ID)")
    lease_ops = lease.add_subparsers(dest="lease_op", metavar="LEASE_OP", required=True)
    for name, what, arg in (
        (
            "grant",
            "grant a lease of TTL_MS milliseconds (at least 1000) and print its id",
            "ttl_ms",
        ),
        ("keep-alive", "renew lease ID once for its TTL", "lease_id"),
        ("revoke", "end lease ID now, deleting its keys", "lease_id"),
    ):
        sub = lease_ops.add_parser(name, help=what, description=what)
        sub.add_argument(arg, type=int, metavar=arg.upper())
        _json_flag(sub, argparse.SUPPRESS)
    delete_if = op("delete-if", "delete KEY if it is EXPECTED (or matches --expected-*)", "key")
    delete_if.add_argument("expected", nargs="?", metavar="EXPECTED")
    which = delete_if.add_mutually_exclusive_group()
    which.add_argument("--expected-version", type=int, metavar="N")
    which.add_argument("--expected-mod-revision", type=int, metavar="R")
    op("txn", "run a transaction from a JSON file ('-': standard input)", "file")
    watch = op("watch", "print the changes to KEY (or under prefix KEY) as they come", "key")
    watch.add_argument("--prefix", action="store_true", help="watch every key starting KEY")
    watch.add_argument(
        "--from-revision",
        type=int,
        default=0,
        metavar="R",
        help="start at revision R (default: from now on)",
    )
    watch.add_argument("--count", type=int, default=0, metavar="N", help="exit after N events")
    watch.add_argument(
        "--timeout",
        dest="watch_timeout",
        type=float,
        default=None,
        metavar="S",
        help="stop watching after S seconds (default: until Ctrl-C)",
    )


# -- output ---------------------------------------------------------------------------


def _text(data: bytes) -> str:
    return data.decode(errors="replace")


def _kv_json(kv: KeyValue | None) -> dict[str, Any] | None:
    if kv is None:
        return None
    return {
        "key": kv.key,
        "value": _text(kv.value),
        "create_revision": kv.create_revision,
        "mod_revision": kv.mod_revision,
        "version": kv.version,
    }


def _kv_line(kv: KeyValue) -> str:
    return (
        f"{kv.key} = {_text(kv.value)}  (version {kv.version}, created at revision "
        f"{kv.create_revision}, modified at {kv.mod_revision})"
    )


def _result_json(result: Any) -> dict[str, Any]:
    if isinstance(result, GetResult):
        return {
            "revision": result.revision,
            "found": result.kv is not None,
            "kv": _kv_json(result.kv),
        }
    if isinstance(result, RangeResult):
        return {
            "revision": result.revision,
            "kvs": [_kv_json(kv) for kv in result.kvs],
            "more": result.more,
        }
    if isinstance(result, PutResult | DeleteResult):
        return {"revision": result.revision, "prev": _kv_json(result.prev)}
    if isinstance(result, CondResult):
        return {
            "applied": result.applied,
            "revision": result.revision,
            "kv": _kv_json(result.kv),
            "prev": _kv_json(result.prev),
        }
    if isinstance(result, LeaseResult):
        return {
            "lease_id": result.lease_id,
            "ttl_ms": result.ttl_ms,
            "expires_ms": result.expires_ms,
            "revision": result.revision,
        }
    assert isinstance(result, TxnResult)
    return {
        "succeeded": result.succeeded,
        "revision": result.revision,
        "responses": [_result_json(r.result) for r in result.responses],
    }


def _result_lines(result: Any) -> list[str]:
    if isinstance(result, GetResult):
        return [_text(result.kv.value)] if result.kv is not None else []
    if isinstance(result, RangeResult):
        lines = [_kv_line(kv) for kv in result.kvs]
        lines.append(
            f"({len(result.kvs)} keys at revision {result.revision}"
            f"{'; more not shown' if result.more else ''})"
        )
        return lines
    if isinstance(result, PutResult):
        was = f", was {_text(result.prev.value)}" if result.prev is not None else ""
        return [f"OK (revision {result.revision}{was})"]
    if isinstance(result, DeleteResult):
        if result.prev is None:
            return [f"OK (not there; revision {result.revision})"]
        return [f"OK (deleted {_text(result.prev.value)}; revision {result.revision})"]
    if isinstance(result, CondResult):
        if result.applied:
            return [f"APPLIED (revision {result.revision})"]
        now = _kv_line(result.kv) if result.kv is not None else "the key does not exist"
        return [f"NOT APPLIED: {now}"]
    if isinstance(result, LeaseResult):
        return [
            f"lease {result.lease_id}: TTL {result.ttl_ms} ms, until {result.expires_ms} ms "
            f"of the store's clock (revision {result.revision})"
        ]
    assert isinstance(result, TxnResult)
    lines = [f"{'SUCCEEDED' if result.succeeded else 'FAILED'} (revision {result.revision})"]
    for response in result.responses:
        inner = response.result
        if isinstance(inner, GetResult):
            lines.append(_kv_line(inner.kv) if inner.kv is not None else "(absent)")
        else:
            lines.extend(_result_lines(inner))
    return lines


def _event_json(event: WatchEvent) -> dict[str, Any]:
    return {"revision": event.revision, "type": event.type, "kv": _kv_json(event.kv)}


def _event_line(event: WatchEvent) -> str:
    if event.type == "put":
        return f"PUT {_kv_line(event.kv)}"
    kv = event.kv
    return f"DELETE {kv.key}  (revision {event.revision}; was {_text(kv.value)})"


def _status(result: Any) -> int:
    if isinstance(result, GetResult):
        return APPLIED if result.kv is not None else NOT_MET
    if isinstance(result, CondResult):
        return APPLIED if result.applied else NOT_MET
    if isinstance(result, TxnResult):
        return APPLIED if result.succeeded else NOT_MET
    return APPLIED


# -- transactions from JSON -----------------------------------------------------------


def _field(item: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = item.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{where}: {name!r} must be {kind.__name__}")
    return value


def _parse_op(item: Any, where: str) -> TxnBranchOp:
    if not isinstance(item, dict) or len(item) != 1:
        raise ValueError(f"{where}: an op is one of {{'get'|'put'|'delete'|'range': {{...}}}}")
    ((name, body),) = item.items()
    if not isinstance(body, dict):
        raise ValueError(f"{where}: {name} needs an object")
    if name == "get":
        return Get(_field(body, "key", str, where))
    if name == "put":
        return Put(_field(body, "key", str, where), _field(body, "value", str, where).encode())
    if name == "delete":
        return Delete(_field(body, "key", str, where))
    if name == "range":
        limit = body.get("limit", 0)
        if "prefix" in body:
            return Range.of_prefix(_field(body, "prefix", str, where), limit)
        return Range(_field(body, "start", str, where), body.get("end"), False, limit)
    raise ValueError(f"{where}: unknown op {name!r}")


def parse_txn(text: str) -> tuple[list[Any], list[TxnBranchOp], list[TxnBranchOp]]:
    """A txn file's compares and branches; ``ValueError`` names what is wrong."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"txn file is not JSON: {exc}") from None
    if not isinstance(doc, dict) or set(doc) - {"compare", "success", "failure"}:
        raise ValueError("txn file must be an object with compare, success, failure")
    compares = []
    for n, item in enumerate(doc.get("compare", [])):
        where = f"compare[{n}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: must be an object")
        operand = item.get("value")
        if isinstance(operand, str):
            operand = operand.encode()
        if not isinstance(operand, bytes | int):  # bool is an int
            raise ValueError(f"{where}: 'value' must be text, an integer or true/false")
        compares.append(
            compare(
                _field(item, "key", str, where),
                _field(item, "target", str, where),
                _field(item, "op", str, where),
                operand,
            )
        )
    branches = [
        [_parse_op(item, f"{branch}[{n}]") for n, item in enumerate(doc.get(branch, []))]
        for branch in ("success", "failure")
    ]
    return compares, branches[0], branches[1]


# -- running --------------------------------------------------------------------------


def _lease_id(value: int) -> int:
    if value < 0:
        raise ValueError(f"a lease id is an integer >= 1, got {value}")
    return value


async def _execute(kv: KvClient, args: argparse.Namespace) -> Any:
    op = args.op
    if op == "get":
        return await kv.kv.read(Get(args.key), args.consistency)
    if op == "range":
        if args.end is not None:
            return await kv.range(
                args.prefix, args.end, limit=args.limit, consistency=args.consistency
            )
        return await kv.range(
            args.prefix, prefix=True, limit=args.limit, consistency=args.consistency
        )
    if op == "put":
        return await kv.put_kv(args.key, args.value.encode(), lease=_lease_id(args.lease))
    if op == "delete":
        return await kv.delete(args.key)
    if op == "put-if-absent":
        lease = _lease_id(args.lease)
        return await kv.put_if_absent(args.key, args.value.encode(), lease=lease)
    if op == "lease":
        if args.lease_op == "grant":
            if args.ttl_ms < 1:
                raise ValueError("lease grant takes a TTL in milliseconds >= 1")
            return await kv.grant_lease(args.ttl_ms)
        lease_id = _lease_id(args.lease_id)
        if args.lease_op == "keep-alive":
            return await kv.keep_alive(lease_id)
        return await kv.revoke_lease(lease_id)
    if op == "cas":
        by_meta = args.expected_version is not None or args.expected_mod_revision is not None
        values = [v.encode() for v in args.values]
        if len(values) != (1 if by_meta else 2):
            raise ValueError(
                "cas takes KEY EXPECTED NEW, or KEY NEW with --expected-version "
                "or --expected-mod-revision"
            )
        if by_meta:
            return await kv.cas(
                args.key,
                values[0],
                expected_version=args.expected_version,
                expected_mod_revision=args.expected_mod_revision,
            )
        return await kv.cas(args.key, values[1], expected_value=values[0])
    if op == "delete-if":
        by_meta = args.expected_version is not None or args.expected_mod_revision is not None
        if by_meta == (args.expected is not None):
            raise ValueError(
                "delete-if takes KEY EXPECTED, or KEY with --expected-version "
                "or --expected-mod-revision"
            )
        if by_meta:
            return await kv.delete_if(
                args.key,
                expected_version=args.expected_version,
                expected_mod_revision=args.expected_mod_revision,
            )
        return await kv.delete_if(args.key, expected_value=args.expected.encode())
    assert op == "txn"
    return await kv.txn(*args.txn)


async def _watch(args: argparse.Namespace, endpoints: list[str]) -> tuple[int, str | None]:
    """``consensus kv watch``: print events until ``--count`` or the watch's timeout."""
    if args.count < 0 or args.from_revision < 0:
        raise ValueError("--count and --from-revision take integers >= 0")
    if args.watch_timeout is not None and args.watch_timeout <= 0:
        raise ValueError("watch --timeout takes a number of seconds > 0")
    client = KvClient(endpoints, timeout_s=args.timeout, tls=client_tls(args))
    with trio.move_on_after(args.watch_timeout or math.inf):
        async with client as kv:
            try:
                events = kv.watch(args.key, prefix=args.prefix, from_revision=args.from_revision)
                async for event in events:
                    if args.json:
                        print(json.dumps(_event_json(event), sort_keys=True), flush=True)
                    else:
                        print(_event_line(event), flush=True)
                    args.seen += 1
                    if args.seen == args.count:
                        return APPLIED, None
            except WatchCompacted as exc:
                return ERROR, str(exc)
    return (NOT_MET if args.count else APPLIED), None


async def _run(args: argparse.Namespace, endpoints: list[str]) -> tuple[int, str | None]:
    """(exit status, error line or None); prints results itself."""
    if args.op == "watch":
        return await _watch(args, endpoints)
    writes = args.op not in ("get", "range")
    # The whole command is bounded below; the client's own bound is a backstop.
    client = KvClient(endpoints, timeout_s=args.timeout + 1, tls=client_tls(args))
    with trio.move_on_after(args.timeout) as scope:
        async with client as kv:
            try:
                result = await _execute(kv, args)
            except KvError as exc:
                return ERROR, f"refused by the store ({exc.result.kind}): {exc}"
            if isinstance(result, ErrorResult):  # a read answers refusals as results
                return ERROR, f"refused by the store ({result.kind}): {result.message}"
            if args.json:
                print(json.dumps(_result_json(result), sort_keys=True))
            else:
                for line in _result_lines(result):
                    print(line)
                if isinstance(result, GetResult) and result.kv is None:
                    print(f"{args.key}: not found", file=sys.stderr)
            if kv.kv.session_id is not None:
                with trio.move_on_after(min(1.0, args.timeout / 4)):
                    with contextlib.suppress(ClientError):
                        await kv.kv.close()
            return _status(result), None
    assert scope.cancelled_caught
    unknown = ""
    if writes:
        unknown = (
            "; the write's outcome is unknown" if client.requests_sent else "; nothing was sent"
        )
    return ERROR, (
        f"no answer within {args.timeout:g}s from {', '.join(endpoints)} "
        f"(last: {client.last_error or 'nothing heard'}){unknown}"
    )


def run(args: argparse.Namespace) -> int:
    try:
        endpoints = parse_endpoints(args.endpoints)
        if args.op == "txn":
            text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
            args.txn = parse_txn(text)
        args.seen = 0
        status, error = trio.run(_run, args, endpoints)
    except KeyboardInterrupt:
        if args.op != "watch":
            raise
        status, error = (NOT_MET if args.count and args.seen < args.count else APPLIED), None
    except (ValueError, OSError) as exc:
        status, error = ERROR, str(exc)
    except SessionExpired as exc:
        status, error = ERROR, f"{exc} (the write's outcome is unknown)"
    except ClientTimeout as exc:
        status, error = ERROR, str(exc)
    except ClientError as exc:
        status, error = ERROR, f"{exc} (endpoints {args.endpoints})"
    if error is not None:
        print(f"consensus kv: error: {error}", file=sys.stderr)
    return status
