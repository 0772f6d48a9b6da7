"""``consensus recover``: disaster recovery when a quorum is permanently lost.

Rewrites one surviving node's data dir so that it restarts as a cluster whose only
voters are itself (or the survivors named with ``--voters``), like hashicorp/raft's
``peers.json``: a CONFIG entry naming the new configuration is appended to its log, in
a term above any it has seen. Restarted, the node elects itself (or is elected by the
survivors) and commits everything in its log, the entries it had not seen committed
included. Writes that the lost nodes acknowledged but this node never received are
gone for good. It refuses without ``--force``, prints what it does, and first copies
the data dir to ``DIR.before-recover-TIMESTAMP``. See docs/membership.md.

Exit status: 0 rewritten; 1 refused (no ``--force``, the node is running, nothing to
recover); 2 bad input.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..membership import Membership, MembershipError
from ..raft import RaftCore
from ..runtime.config import ConfigError, build_config
from ..storage.base import StorageError
from ..storage.wal.file_storage import FileStorage
from ..types import Entry, EntryKind, HardState

HELP = "disaster recovery: rewrite one survivor's data dir as a cluster of the survivors"


class Refused(Exception):
    """Recovery is not carried out; the message says why."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="the cluster TOML file")
    parser.add_argument("--id", type=int, dest="node_id", required=True, help="surviving node")
    parser.add_argument(
        "--voters",
        help="comma-separated surviving voters to keep (default: only --id); empty the "
        "data dirs of the others before they restart",
    )
    parser.add_argument(
        "--force", action="store_true", help="really rewrite the data dir (required)"
    )


def parse_voters(text: str | None, node: int) -> list[int]:
    """The new voters: ``node`` plus those listed; ``ValueError`` for bad input."""
    if text is None:
        return [node]
    voters: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            n = int(part)
        except ValueError:
            raise ValueError(f"--voters: {part!r} is not a node id") from None
        if n < 1:
            raise ValueError(f"--voters: node ids are >= 1, got {n}")
        voters.append(n)
    if node not in voters:
        raise ValueError(f"--voters must include the node being recovered (--id {node})")
    if len(set(voters)) != len(voters):
        raise ValueError(f"--voters lists a node twice: {text}")
    return sorted(voters)


def recover(
    config_file: Path,
    node: int,
    voters: list[int],
    *,
    force: bool,
    say: Callable[[str], None] = print,
) -> Path:
    """Rewrite node ``node``'s data dir (see the module docstring); return the backup's
    path. ``Refused`` if not ``force`` or the data cannot be recovered here;
    ``ConfigError``/``StorageError`` for a bad file or data dir."""
    out = say
    config = build_config(config_file=config_file, node_id=node)
    if config.protocol != "raft":
        raise Refused(
            f"recover rewrites Raft data dirs only; protocol {config.protocol} is not supported"
        )
    if config.data_dir is None:
        raise Refused(f"node {node} has no data_dir in {config_file}: nothing to recover")
    data_dir = Path(config.data_dir)
    if not data_dir.is_dir():
        raise Refused(f"data dir {data_dir} of node {node} does not exist")
    storage = FileStorage.open(str(data_dir), cluster_id=config.cluster_id, node_id=node)
    try:
        recovered = storage.recover()
        core = RaftCore(node, config.voters, random.Random(0), recovered=recovered)
        old = core.membership()
        hs = recovered.hard_state or HardState()
        last = storage.last_index()
        last_term = storage.term(last)
        commit = hs.commit
    finally:
        storage.close()
    if last == 0:
        raise Refused(f"data dir {data_dir} of node {node} holds no log: nothing to recover")
    addresses = {n: a for n, a in old.addresses if n in voters}
    try:
        new = Membership.of(voters, (), addresses)
    except MembershipError as exc:
        raise Refused(str(exc)) from None
    term = max(hs.term, last_term) + 1
    lost = sorted(set(old.members) - set(voters))
    lines = [
        "!" * 78,
        f"DISASTER RECOVERY of node {node} ({data_dir}), cluster {config.cluster_id!r}",
        f"  configuration in its data: {old.describe()}",
        f"  new configuration:         {new.describe()}"
        + (f" (nodes {lost} are dropped)" if lost else ""),
        f"  its log: last index {last} (term {last_term}), known committed up to {commit}",
        f"  a CONFIG entry is appended at index {last + 1} in term {term}; on restart "
        f"every entry up to {last} will be committed,",
        f"  including {max(0, last - commit)} it had not seen committed.",
        "  WRITES ACKNOWLEDGED BY THE LOST NODES BUT NOT PRESENT HERE ARE LOST FOR GOOD.",
        "  Never restart a lost node with its old data: empty its data dir and add it",
        "  back with `consensus serve --join` and `consensus member add`.",
    ]
    others = [v for v in voters if v != node]
    if others:
        lines.append(
            f"  Before starting the other survivors {others}, move their data dirs aside "
            "(they catch up from this node)."
        )
    lines.append("!" * 78)
    for line in lines:
        out(line)
    if not force:
        raise Refused("not rewriting anything without --force")
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    backup = data_dir.with_name(f"{data_dir.name}.before-recover-{stamp}")
    if backup.exists():
        raise Refused(f"backup path {backup} exists already; retry in a second")
    shutil.copytree(data_dir, backup)
    out(f"backup of the old data dir: {backup}")
    storage = FileStorage.open(str(data_dir), cluster_id=config.cluster_id, node_id=node)
    try:
        entry = Entry(last + 1, term, new.encode(), EntryKind.CONFIG)
        storage.persist(HardState(term, None, commit), [entry], None)
        storage.sync()
    finally:
        storage.close()
    out(f"node {node}'s data now says {new.describe()}; start it with `consensus serve`.")
    return backup


def run(args: argparse.Namespace) -> int:
    prog = "consensus recover"
    try:
        voters = parse_voters(args.voters, args.node_id)
    except ValueError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    try:
        recover(
            args.config,
            args.node_id,
            voters,
            force=args.force,
            say=lambda line: print(line, file=sys.stderr),
        )
    except ConfigError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except (Refused, StorageError) as exc:
        print(f"{prog}: refused: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0
