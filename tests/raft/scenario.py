"""The interpreter of the scripted Raft scenarios in ``testdata/*.txt``.

A scenario file is a sequence of blocks separated by blank lines; ``#`` lines before a
block are comments. A block is one or more commands, a ``----`` line, and the output the
commands must print. :func:`run_file` runs a file and returns it rewritten with the actual
output, so a test compares the two and ``REWRITE_SCENARIOS=1`` can write them back. The
command language is described in ``testdata/README.md``.

Everything printed is what a reader who knows Raft wants to see: Ready batches (hard
state, entries, messages, applied entries, reads), messages as they arrive, and role
changes (``2 becomes leader term=3``) under the input that caused them.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

import attrs

from consensus.core import Ready, Role
from consensus.errors import ConsensusError
from consensus.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    ReadIndex,
    ReadIndexResponse,
    RequestVote,
    RequestVoteResponse,
    TimeoutNow,
)
from consensus.raft import RaftConfig
from consensus.raft.progress import ProgressState
from consensus.types import Entry, EntryKind, HardState, NodeId

from .harness import MessageFilter, Network, time_out

# -- formatting ---------------------------------------------------------------------------


def fmt_data(data: bytes) -> str:
    text = data.decode("ascii", "replace")
    if data.isascii() and text.isprintable():
        return f'"{text}"'
    return "0x" + data.hex()


def fmt_entry(e: Entry) -> str:
    what = "noop" if e.kind is EntryKind.NOOP else fmt_data(e.data)
    return f"{e.index}@{e.term} {what}"


def fmt_entries(entries: tuple[Entry, ...] | list[Entry]) -> str:
    return ", ".join(fmt_entry(e) for e in entries)


def fmt_ctx(ctx: bytes | None) -> str:
    if ctx is None:
        return ""
    if ctx.isascii() and ctx.decode("ascii").isprintable():
        return f" ctx={ctx.decode('ascii')}"
    if len(ctx) == 8:  # the leader's read round number (see consensus/raft/readindex.py)
        return f" round={int.from_bytes(ctx, 'big')}"
    return f" ctx=0x{ctx.hex()}"


def fmt_msg(m: Message) -> str:
    head = f"{m.src}->{m.dst} {type(m).__name__}"
    if isinstance(m, RequestVote):
        flags = (" prevote" if m.pre_vote else "") + (" transfer" if m.transfer else "")
        return f"{head} term={m.term} last={m.last_index}@{m.last_term}{flags}"
    if isinstance(m, RequestVoteResponse):
        verdict = "granted" if m.granted else "rejected"
        return f"{head} term={m.term} {verdict}" + (" prevote" if m.pre_vote else "")
    if isinstance(m, AppendEntries):
        body = f" entries=[{fmt_entries(m.entries)}]" if m.entries else ""
        return f"{head} term={m.term} prev={m.prev_index}@{m.prev_term} commit={m.commit}{body}"
    if isinstance(m, AppendEntriesResponse):
        if m.success:
            return f"{head} term={m.term} ok index={m.index}"
        return f"{head} term={m.term} rejected index={m.index} hint={m.hint_index}@{m.hint_term}"
    if isinstance(m, Heartbeat):
        return f"{head} term={m.term} commit={m.commit}{fmt_ctx(m.context)}"
    if isinstance(m, HeartbeatResponse):
        return f"{head} term={m.term}{fmt_ctx(m.context)}"
    if isinstance(m, InstallSnapshot):
        done = " done" if m.done else ""
        return (
            f"{head} term={m.term} snap={m.meta.index}@{m.meta.term} offset={m.offset} "
            f"bytes={len(m.data)}{done}"
        )
    if isinstance(m, InstallSnapshotResponse):
        verdict = "ok" if m.success else "refused"
        done = " done" if m.done else ""
        return f"{head} term={m.term} snap={m.index} {verdict} next_offset={m.next_offset}{done}"
    if isinstance(m, TimeoutNow):
        return f"{head} term={m.term}"
    if isinstance(m, ReadIndex):
        return f"{head} term={m.term}{fmt_ctx(m.context)}"
    if isinstance(m, ReadIndexResponse):
        verdict = f"index={m.index} ok" if m.ok else "refused"
        return f"{head} term={m.term}{fmt_ctx(m.context)} {verdict}"
    return f"{head} {m!r}"


def fmt_ready(id: NodeId, rd: Ready[HardState]) -> list[str]:
    lines = [f"> {id} ready" + (" (must sync)" if rd.must_sync else "")]
    if rd.hard_state is not None:
        hs = rd.hard_state
        vote = "none" if hs.vote is None else str(hs.vote)
        lines.append(f"  hard state term={hs.term} vote={vote} commit={hs.commit}")
    if rd.snapshot is not None:
        meta = rd.snapshot.meta
        lines.append(f"  snapshot {meta.index}@{meta.term} ({len(rd.snapshot.data)} bytes)")
    if rd.entries:
        lines.append(f"  entries {fmt_entries(rd.entries)}")
    lines.extend(f"  send {fmt_msg(m)} (early)" for m in rd.early_messages)
    lines.extend(f"  send {fmt_msg(m)}" for m in rd.messages)
    if rd.committed:
        lines.append(f"  apply {fmt_entries(rd.committed)}")
    lines.extend(f"  read state{fmt_ctx(r.context)} index={r.index}" for r in rd.read_states)
    lines.extend(f"  dropped read{fmt_ctx(c)}" for c in rd.dropped_reads)
    return lines


# -- the interpreter ---------------------------------------------------------------------

_CONFIG_KEYS = {
    "prevote": "pre_vote",
    "checkquorum": "check_quorum",
    "election": "election_ticks",
    "heartbeat": "heartbeat_ticks",
    "maxinflight": "max_inflight_msgs",
    "maxentries": "max_entries_per_msg",
    "maxbytes": "max_bytes_per_msg",
    "maxuncommitted": "max_uncommitted_entries",
    "chunk": "snapshot_chunk_bytes",
}


class ScenarioError(Exception):
    """A scenario file is malformed (a bad command, not a failed expectation)."""


def _ids(args: list[str]) -> list[NodeId]:
    try:
        return [int(a) for a in args]
    except ValueError:
        raise ScenarioError(f"expected node ids, got {args}") from None


def _pairs(spec: str) -> list[tuple[NodeId, NodeId]]:
    """``2->3,1->3`` -> [(2, 3), (1, 3)]."""
    out = []
    for part in spec.split(","):
        src, _, dst = part.partition("->")
        out.append((int(src), int(dst)))
    return out


@attrs.define
class Interpreter:
    net: Network | None = None
    out: list[str] = attrs.field(factory=list)
    seen: dict[NodeId, tuple[Role, int, NodeId | None]] = attrs.field(factory=dict)

    # -- plumbing -----------------------------------------------------------------------
    @property
    def network(self) -> Network:
        if self.net is None:
            raise ScenarioError("no cluster yet: start with `cluster voters=...`")
        return self.net

    def run(self, line: str) -> None:
        words = shlex.split(line)
        name, args = words[0], words[1:]
        handler: Callable[[list[str]], None] | None = getattr(
            self, "cmd_" + name.replace("-", "_"), None
        )
        if handler is None:
            raise ScenarioError(f"unknown command {name!r}")
        handler(args)

    def emit(self, line: str) -> None:
        self.out.append(line)

    def note_changes(self, indent: str = "  ") -> None:
        """Print every node whose (role, term, leader) changed since last time."""
        net = self.network
        for v in net.up():
            st = net.status(v)
            now = (st.role, st.term, st.leader)
            if self.seen.get(v) != now:
                self.seen[v] = now
                lead = ""
                if st.role is Role.FOLLOWER:
                    lead = f" leader={st.leader if st.leader is not None else 'none'}"
                self.emit(f"{indent}{v} becomes {st.role.value} term={st.term}{lead}")

    def _all_or(self, args: list[str]) -> list[NodeId]:
        return _ids(args) if args else sorted(self.network.nodes)

    # -- commands -----------------------------------------------------------------------
    def cmd_cluster(self, args: list[str]) -> None:
        voters: list[NodeId] = [1, 2, 3]
        seed = 0
        config: dict[str, int | bool] = {}
        for arg in args:
            key, _, value = arg.partition("=")
            if key == "voters":
                voters = _ids(value.split(","))
            elif key == "seed":
                seed = int(value)
            elif key in _CONFIG_KEYS:
                config[_CONFIG_KEYS[key]] = (
                    value == "true" if value in ("true", "false") else int(value)
                )
            else:
                raise ScenarioError(f"unknown cluster option {key!r}")
        self.net = Network(voters, RaftConfig(**config), seed)  # type: ignore[arg-type]
        self.seen = {}
        for v in voters:
            st = self.network.status(v)
            self.seen[v] = (st.role, st.term, st.leader)
        timeouts = ", ".join(
            f"{v}:{self.network.core(v).randomized_election_ticks}" for v in voters
        )
        self.emit(f"election timeouts (ticks) {timeouts}")

    def cmd_tick(self, args: list[str]) -> None:
        ids = _ids(args[:1])
        n = int(args[1]) if len(args) > 1 else 1
        for _ in range(n):
            self.network.tick(ids[0])
            self.note_changes("")

    def cmd_tick_election(self, args: list[str]) -> None:
        for v in _ids(args):
            for _ in range(self.network.config.election_ticks):
                self.network.tick(v)
                self.note_changes("")

    def cmd_tick_heartbeat(self, args: list[str]) -> None:
        for v in _ids(args):
            for _ in range(self.network.config.heartbeat_ticks):
                self.network.tick(v)
                self.note_changes("")

    def cmd_campaign(self, args: list[str]) -> None:
        for v in _ids(args):
            time_out(self.network.core(v))
            self.note_changes("")

    def cmd_process_ready(self, args: list[str]) -> None:
        for v in self._all_or(args):
            for rd in self.network.process_ready(v):
                self.out.extend(fmt_ready(v, rd))

    def _deliver(self, which: MessageFilter | None, drop: MessageFilter | None) -> None:
        net = self.network
        taken = [m for m in net.inflight if which is None or which(m)]
        net.inflight = [m for m in net.inflight if not (which is None or which(m))]
        for m in taken:
            if not net.nodes[m.dst].up:
                self.emit(f"{fmt_msg(m)} (lost: {m.dst} is down)")
            elif not net.reachable(m):
                self.emit(f"{fmt_msg(m)} (lost: partition)")
            elif drop is not None and drop(m):
                self.emit(f"{fmt_msg(m)} (dropped)")
            else:
                self.emit(fmt_msg(m))
                net.core(m.dst).step(m)
                self.note_changes()

    def cmd_deliver_msgs(self, args: list[str]) -> None:
        which: MessageFilter | None = None
        drop: MessageFilter | None = None
        for arg in args:
            if arg.startswith("drop="):
                pairs = set(_pairs(arg.removeprefix("drop=")))
                drop = lambda m, pairs=pairs: (m.src, m.dst) in pairs  # noqa: E731
            else:
                dsts = set(_ids(arg.split(",")))
                which = lambda m, dsts=dsts: m.dst in dsts  # noqa: E731
        self._deliver(which, drop)

    def cmd_drop_msgs(self, args: list[str]) -> None:
        which: MessageFilter | None = None
        if args:
            pairs = set(_pairs(args[0]))
            which = lambda m: (m.src, m.dst) in pairs  # noqa: E731
        for m in self.network.drop(which):
            self.emit(f"{fmt_msg(m)} (dropped)")

    def cmd_stabilize(self, args: list[str]) -> None:
        """Process readies and deliver messages until quiet; with node ids, only those
        nodes' readies and the messages addressed to them (the rest wait in flight)."""
        ids = set(self._all_or(args))
        to_ids: MessageFilter | None = (lambda m: m.dst in ids) if args else None
        for _ in range(200):
            before = len(self.out)
            self.cmd_process_ready(args)
            self._deliver(to_ids, None)
            if len(self.out) == before:
                return
        raise ScenarioError("stabilize: no fixed point after 200 rounds")

    def cmd_propose(self, args: list[str]) -> None:
        v, data = _ids(args[:1])[0], args[1].encode()
        try:
            ticket = self.network.propose(v, data)
        except ConsensusError as e:
            self.emit(f"error {type(e).__name__}: {e}")
        else:
            self.emit(f"ok index={ticket.index} term={ticket.term}")
        self.note_changes("")

    def cmd_read_index(self, args: list[str]) -> None:
        v, ctx = _ids(args[:1])[0], args[1].encode()
        self.network.core(v).read_index(ctx)
        self.emit("ok")

    def cmd_transfer(self, args: list[str]) -> None:
        frm, to = _ids(args)
        try:
            self.network.core(frm).transfer_leadership(to)
        except ConsensusError as e:
            self.emit(f"error {type(e).__name__}: {e}")
        else:
            self.emit("ok")

    def cmd_partition(self, args: list[str]) -> None:
        groups = [_ids(g.split()) for g in " ".join(args).split("|")]
        self.network.partition(*groups)
        self.emit("ok")

    def cmd_heal(self, args: list[str]) -> None:
        self.network.heal()
        self.emit("ok")

    def cmd_crash(self, args: list[str]) -> None:
        for v in _ids(args):
            self.network.crash(v)
            self.seen.pop(v, None)
            self.emit(f"{v} is down")

    def cmd_restart(self, args: list[str]) -> None:
        net = self.network
        for v in _ids(args):
            net.restart(v)
            core = net.core(v)
            vote = "none" if core.vote is None else str(core.vote)
            self.emit(
                f"{v} restarted term={core.term} vote={vote} commit={core.log.committed} "
                f"last={core.log.last_index()} snapshot={core.log.snapshot_index}"
                f"@{core.log.snapshot_term}"
            )
            self.note_changes()

    def cmd_compact(self, args: list[str]) -> None:
        v, index = _ids(args)
        snap = self.network.compact(v, index)
        self.emit(f"{v} compacted to {index}@{snap.meta.term} ({len(snap.data)} bytes)")

    def cmd_status(self, args: list[str]) -> None:
        net = self.network
        for v in self._all_or(args):
            if not net.nodes[v].up:
                self.emit(f"{v} down")
                continue
            st = net.status(v)
            vote = net.core(v).vote
            self.emit(
                f"{v} {st.role.value} term={st.term} vote={vote if vote else 'none'} "
                f"leader={st.leader if st.leader else 'none'} commit={st.commit_index} "
                f"applied={st.applied_index} last={st.last_index}"
            )

    def cmd_log(self, args: list[str]) -> None:
        net = self.network
        for v in self._all_or(args):
            if not net.nodes[v].up:
                self.emit(f"{v} down")
                continue
            log = net.core(v).log
            snap = (
                f" snapshot={log.snapshot_index}@{log.snapshot_term}" if log.snapshot_index else ""
            )
            self.emit(f"{v} commit={log.committed}{snap} [{fmt_entries(log.entries)}]")

    def cmd_applied(self, args: list[str]) -> None:
        net = self.network
        for v in self._all_or(args):
            self.emit(f"{v} applied [{fmt_entries(net.nodes[v].applied)}]")

    def cmd_progress(self, args: list[str]) -> None:
        core = self.network.core(_ids(args)[0])
        for peer, pr in sorted(core.progress.items()):
            if peer == core.id:
                continue
            line = f"{peer} {pr.state.value} match={pr.match} next={pr.next_index}"
            if pr.state is ProgressState.REPLICATE:
                line += f" inflight={len(pr.inflight)}"
            elif pr.state is ProgressState.SNAPSHOT:
                line += f" snapshot={pr.snapshot_index} offset={pr.snapshot_offset}"
            elif pr.paused:
                line += " paused"
            self.emit(line)


# -- files ------------------------------------------------------------------------------


@attrs.frozen
class Block:
    prefix: tuple[str, ...]  # comment and blank lines before the commands
    commands: tuple[str, ...]
    expected: tuple[str, ...]
    line: int  # 1-based line of the first command


def parse(text: str) -> tuple[list[Block], list[str]]:
    """Blocks, and the trailing lines after the last block."""
    blocks: list[Block] = []
    prefix: list[str] = []
    commands: list[str] = []
    lines = text.splitlines()
    i = 0
    start = 0
    while i < len(lines):
        line = lines[i]
        if not commands and (not line.strip() or line.startswith("#")):
            prefix.append(line)
            i += 1
            continue
        if line == "----":
            if not commands:
                raise ScenarioError(f"line {i + 1}: `----` without commands")
            i += 1
            expected: list[str] = []
            while i < len(lines) and lines[i].strip():
                expected.append(lines[i])
                i += 1
            blocks.append(Block(tuple(prefix), tuple(commands), tuple(expected), start))
            prefix, commands = [], []
            continue
        if not line.strip():
            raise ScenarioError(f"line {i + 1}: blank line inside commands")
        if not commands:
            start = i + 1
        commands.append(line)
        i += 1
    if commands:
        raise ScenarioError(f"line {start}: commands without `----`")
    return blocks, prefix


def run_file(text: str) -> tuple[str, list[tuple[Block, list[str]]]]:
    """Run a scenario; returns the file rewritten with actual outputs, and each block with
    its actual output."""
    blocks, trailer = parse(text)
    interp = Interpreter()
    results: list[tuple[Block, list[str]]] = []
    out_lines: list[str] = []
    for block in blocks:
        interp.out = []
        for command in block.commands:
            try:
                interp.run(command)
            except ScenarioError as e:
                raise ScenarioError(f"line {block.line}: {command}: {e}") from None
        actual = interp.out or ["ok"]
        results.append((block, actual))
        out_lines += [*block.prefix, *block.commands, "----", *actual]
    out_lines += trailer
    return "\n".join(out_lines) + "\n", results
