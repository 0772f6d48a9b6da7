"""``consensus sim``: run one seeded simulation per seed and report what broke.

Example::

    consensus sim --protocol raft --nodes 5 --seeds 0-999 --faults all --time 60

prints one line per seed (commits, elections, messages, events, the faults the seed
enabled) and a total; a seed that violates an invariant prints the invariant, what broke
it, and the command that replays that seed alone. Exit status: 0 when no seed violated
anything, 1 otherwise, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any, TextIO

from ..sim.options import (
    FAULT_LEGEND,
    FaultKind,
    SimConfig,
    available_faults,
    parse_faults,
)
from ..sim.protocols import protocols
from ..sim.simulation import SimResult, run_seed

HELP = "run seeded simulations of a protocol under faults, checking invariants"

NODES_MAX = 25
SEEDS_MAX = 10_000_000
TIME_S_MAX = 86_400.0


def parse_seeds(text: str) -> list[int]:
    """``N``, ``A-B`` (inclusive) or a comma list of those -> the seeds, in order."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        lo_text, dash, hi_text = part.partition("-")
        try:
            lo = int(lo_text)
            hi = int(hi_text) if dash else lo
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{part!r} is not a seed; use N, A-B or a comma list such as 1,5,10-20"
            ) from None
        if lo < 0:
            raise argparse.ArgumentTypeError(f"seeds are >= 0, got {lo}")
        if hi < lo:
            raise argparse.ArgumentTypeError(f"empty seed range {part!r}: {hi} < {lo}")
        if len(seeds) + hi - lo + 1 > SEEDS_MAX:
            raise argparse.ArgumentTypeError(f"more than {SEEDS_MAX} seeds in {text!r}")
        seeds.extend(range(lo, hi + 1))
    return seeds


def _nodes(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= n <= NODES_MAX:
        raise argparse.ArgumentTypeError(f"must be between 1 and {NODES_MAX}, got {n}")
    return n


def _seconds(text: str) -> float:
    try:
        s = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < s <= TIME_S_MAX:
        raise argparse.ArgumentTypeError(f"must be > 0 and <= {TIME_S_MAX:g} seconds, got {text}")
    return s


def _faults(text: str) -> str:
    """Checked against every fault kind here; against the protocol's in :func:`run`."""
    try:
        parse_faults(text, available_faults())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def configure(parser: argparse.ArgumentParser) -> None:
    names = sorted(protocols())
    parser.add_argument(
        "--protocol",
        choices=names,
        default="raft" if "raft" in names else None,
        help="the protocol to simulate (default: raft)",
    )
    parser.add_argument(
        "--nodes", type=_nodes, default=5, help=f"cluster size, 1..{NODES_MAX} (default: 5)"
    )
    parser.add_argument(
        "--seeds",
        type=parse_seeds,
        default=parse_seeds("0-99"),
        metavar="SEEDS",
        help="N, A-B or a comma list of those (default: 0-99)",
    )
    kinds = ",".join(k.value for k in available_faults())
    parser.add_argument(
        "--faults",
        type=_faults,
        default="all",
        metavar="FAULTS",
        help=f"all, none, or a comma list of {kinds}; each seed enables a random non-empty "
        "subset with random intensities (default: all)",
    )
    parser.add_argument(
        "--time",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="virtual seconds of faults per seed, before the heal phase (default: 10)",
    )
    parser.add_argument(
        "--membership",
        action="store_true",
        help="membership nemesis: 2 spare nodes, and the leader is asked to add, promote, "
        "remove and replace nodes while the faults run (raft)",
    )
    parser.add_argument("--trace", metavar="FILE", help="write one line per event to FILE")
    parser.add_argument("--quiet", action="store_true", help="print totals and violations only")
    parser.add_argument("--json", action="store_true", help="print one JSON document")


LEGEND = "\n".join(
    (
        "checked after every event: election safety, one vote per term, log matching, "
        "leader completeness,",
        "  state machine safety, apply order, no acknowledged proposal lost, no stale read "
        "(Multi-Paxos: one value",
        "  per slot, promises monotone); then the cluster is healed and must commit new "
        "proposals; per-seed",
        "  budgets fail a seed that stops making progress (no-progress, budget-exceeded).",
        "fault abbreviations (each seed enables a random subset of --faults):",
        *(f"  {name:<15} {meaning}" for name, meaning in FAULT_LEGEND),
        "--membership also checks: at most one uncommitted change in a leader's log, every "
        "committed",
        "  configuration one step from the one before; convergence is over the final members.",
    )
)


def faults_text(faults: frozenset[FaultKind], available: tuple[FaultKind, ...]) -> str:
    """The shortest --faults text that means ``faults``."""
    if faults == frozenset(available):
        return "all"
    if not faults:
        return "none"
    return ",".join(k.value for k in FaultKind if k in faults)


def replay_command(args: argparse.Namespace, seed: int) -> str:
    return (
        f"consensus sim --protocol {args.protocol} --nodes {args.nodes} --seeds {seed} "
        f"--faults {args.faults_text} --time {args.time:g}"
        + (" --membership" if getattr(args, "membership", False) else "")
    )


def _seed_line(r: SimResult) -> str:
    status = "ok" if r.violation is None else "VIOLATION"
    changes = (
        f"  changes {r.changes} (refused {r.changes_refused})"
        if r.faults.membership_every_us
        else ""
    )
    return (
        f"seed {r.seed}: {status}  commits {r.commits}  elections {r.elections}  "
        f"messages {r.messages}  events {r.events}{changes}  faults {r.faults.describe()}"
    )


def _seed_json(r: SimResult, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "seed": r.seed,
        "ok": r.ok,
        "commits": r.commits,
        "acked": r.acked,
        "reads": r.reads,
        "elections": r.elections,
        "messages": r.messages,
        "events": r.events,
        "crashes": r.crashes,
        "storage_failures": r.storage_failures,
        "partitions": r.partitions,
        "end_s": r.end_us / 1e6,
        "faults": r.faults.describe(),
        "snapshot_every_entries": r.snapshot_every_entries,
    }
    if r.faults.membership_every_us:
        out["changes"] = r.changes
        out["changes_refused"] = r.changes_refused
    if r.violation is not None:
        out["violation"] = {
            "invariant": r.violation.invariant,
            "detail": r.violation.detail,
            "time_s": r.violation.time_us / 1e6,
            "replay": replay_command(args, r.seed),
        }
    return out


def run(args: argparse.Namespace) -> int:
    specs = protocols()
    if args.protocol is None or args.protocol not in specs:
        print("consensus sim: no protocol available to simulate", file=sys.stderr)
        return 2
    spec = specs[args.protocol]
    available = available_faults(disk=spec.make_disk_storage is not None)
    try:
        faults = parse_faults(args.faults, available)
    except ValueError as exc:
        print(
            f"consensus sim: error: argument --faults: {exc} (protocol {spec.name})",
            file=sys.stderr,
        )
        return 2
    args.faults_text = faults_text(faults, available)
    membership = bool(getattr(args, "membership", False))
    if membership and not spec.reconfigurable:
        print(
            f"consensus sim: error: argument --membership: protocol {spec.name} cannot "
            "change its membership",
            file=sys.stderr,
        )
        return 2
    config = SimConfig(
        nodes=args.nodes,
        duration_us=round(args.time * 1_000_000),
        faults=faults,
        membership=membership,
    )
    trace: TextIO | None = None
    if args.trace:
        try:
            trace = open(args.trace, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            print(f"consensus sim: error: argument --trace: {exc}", file=sys.stderr)
            return 2
    # The WAL logs every torn tail it truncates: routine under disk faults, noise here.
    storage_log = logging.getLogger("consensus.storage")
    storage_level = storage_log.level
    storage_log.setLevel(logging.ERROR)
    out = sys.stdout
    results: list[SimResult] = []
    started = time.perf_counter()
    interrupted = False
    try:
        for seed in args.seeds:
            r = run_seed(spec, config, seed, trace)
            results.append(r)
            if args.json:
                continue
            if not args.quiet or r.violation is not None:
                print(_seed_line(r), file=out)
            if r.violation is not None:
                print(f"  {r.violation.describe()}", file=out)
                print(f"  replay: {replay_command(args, seed)}", file=out)
            out.flush()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        storage_log.setLevel(storage_level)
        if trace is not None:
            trace.close()
    wall_s = time.perf_counter() - started
    failed = [r for r in results if r.violation is not None]
    events = sum(r.events for r in results)
    totals = {
        "seeds": len(results),
        "violations": len(failed),
        "commits": sum(r.commits for r in results),
        "elections": sum(r.elections for r in results),
        "messages": sum(r.messages for r in results),
        "events": events,
        "wall_s": round(wall_s, 3),
        "events_per_s": round(events / wall_s) if wall_s > 0 else 0,
        "seeds_per_min": round(len(results) * 60 / wall_s, 1) if wall_s > 0 else 0,
        "interrupted": interrupted,
    }
    if args.json:
        doc: dict[str, Any] = {
            "protocol": args.protocol,
            "nodes": args.nodes,
            "faults": args.faults_text,
            "time_s": args.time,
            "membership": membership,
            "totals": totals,
            "violations": [_seed_json(r, args) for r in failed],
        }
        if not args.quiet:
            doc["seeds"] = [_seed_json(r, args) for r in results]
        json.dump(doc, out, indent=2)
        out.write("\n")
    else:
        print(
            f"total: {totals['seeds']} seed{'' if totals['seeds'] == 1 else 's'}, "
            f"{totals['violations']} with violations; "
            f"commits {totals['commits']}, elections {totals['elections']}, "
            f"messages {totals['messages']}, events {events}; "
            f"{totals['events_per_s']} events/s, {totals['seeds_per_min']} seeds/min "
            f"({wall_s:.1f} s wall)" + (" [interrupted]" if interrupted else ""),
            file=out,
        )
        if not args.quiet:
            print(LEGEND, file=out)
    if interrupted:
        return 130
    return 1 if failed else 0
