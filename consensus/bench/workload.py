"""A workload that drives any :class:`~consensus.bench.target.Target` and returns figures.

Two loops:

- **closed**: ``clients`` sessions spread over ``connections`` client connections, each
  issuing its next operation as soon as the previous one returns, for ``warmup_s`` (not
  measured) and then ``seconds`` (measured: operations that *start* inside the window).
- **open**: a fixed offered ``rate`` (operations/s). Operation ``i`` is scheduled at
  ``t0 + i / rate`` whatever happened before; ``clients`` sessions take scheduled
  operations from an unbounded queue, and each latency is measured from the operation's
  *scheduled* start, so a slow system is charged the queueing it causes (no coordinated
  omission).

Operations begun (open loop: scheduled) in the window and not done ``drain_s`` after it
count as errors; ``ops_per_s`` is the operations done over the window, or over the time
from its start to the last of them to finish when that is longer.

Operations (``mix``: ``"put"``, ``"put=50,get=50"``, ...): ``put`` a value of
``value_size`` bytes; ``get`` (linearizable: a read barrier), ``get-lease`` (from a Raft
leader's read lease) and ``get-stale`` (the answering node's applied state); ``cas``
expecting the value this session last saw for the key (a refused condition is a
completed operation, counted in ``cas_refused``, after which the session reads the key
outside timing); ``txn`` compares one key with what the session last saw and puts two
(that key and the next). Keys are drawn uniformly from ``keys`` names: 1 key is every
client contending, many keys are uncontended.

Figures (:func:`run_workload`): ``ops_per_s``, ``p50_ms`` ... ``p99.9_ms`` (from
:class:`~consensus.bench.latency.Latency`), ``errors`` (exceptions of any kind),
``cpu_us_per_op`` (CPU time of every process ``target.pids()`` names, from
``/proc/PID/stat``, plus this process's ``time.process_time``, per measured op) and
``cpu_us_per_op_<label>`` per process label and ``cpu_us_per_op_client``; ``rss_mib``
(resident memory of the target's processes at the window's end, summed, from
``/proc/PID/status``) and ``rss_mib_<label>`` per process; ``messages_per_op``,
``bytes_per_op`` (between nodes, frame headers included) and ``fsyncs_per_op`` (every
node's storage) from ``target.counters()`` read at the window's two ends, where the target
has them (not in a failover run: a killed node's counters are gone); with
``failover`` the target's leader is killed in the middle of the window and
``unavailable_ms`` is the time from the kill to the first put, issued right after it
by a probe session, that succeeds; the node is restarted after the window (a failover
that could not be done or timed raises :class:`TargetError` then). A killed process's
CPU time cannot be read after the kill, so a failover run has no figure for it.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable

import attrs
import trio

from .latency import Latency
from .report import Figures
from .target import BenchSession, ReadMode, Target, TargetError

OPS: tuple[str, ...] = ("put", "get", "get-lease", "get-stale", "cas", "txn")
_READS: dict[str, ReadMode] = {"get": "linearizable", "get-lease": "lease", "get-stale": "stale"}


def parse_mix(text: str) -> dict[str, float]:
    """``"put"`` -> ``{"put": 1.0}``; ``"put=50,get=50"`` -> weights normalised to 1.
    ``ValueError`` naming what is wrong."""
    mix: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        op, _, weight = part.partition("=")
        op = op.strip()
        if op not in OPS:
            raise ValueError(f"unknown operation {op!r} in mix {text!r}; known: {', '.join(OPS)}")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            raise ValueError(f"weight {weight!r} of {op!r} is not a number") from None
        if not math.isfinite(w) or w <= 0:
            raise ValueError(f"weight of {op!r} must be positive, got {weight!r}")
        mix[op] = mix.get(op, 0.0) + w
    if not mix:
        raise ValueError(f"empty mix {text!r}")
    total = sum(mix.values())
    return {op: w / total for op, w in mix.items()}


@attrs.frozen
class Workload:
    """What to run; ``rate`` None is the closed loop, else the open loop at ``rate`` ops/s."""

    mix: dict[str, float]
    keys: int = 1000
    value_size: int = 16
    clients: int = 1
    connections: int = 1
    seconds: float = 3.0
    warmup_s: float = 1.0
    rate: float | None = None
    drain_s: float = 2.0
    failover: bool = False
    seed: int = 1


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (None if it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_rss_mib(pid: int) -> float | None:
    """Resident set size of process ``pid`` in MiB (``VmRSS``; None if it cannot be read)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class _Actor:
    """One session's operations on the workload's keys, with the values it last saw."""

    def __init__(self, session: BenchSession, w: Workload, rng: random.Random) -> None:
        self.session, self.w, self.rng = session, w, rng
        self.ops = list(w.mix)
        self.weights = [w.mix[o] for o in self.ops]
        self.seen: dict[str, bytes | None] = {}
        self.n = 0
        self.cas_refused = 0

    def _value(self) -> bytes:
        self.n += 1
        stamp = b"%x-%x:" % (id(self) & 0xFFFFFF, self.n)
        return (stamp * (self.w.value_size // len(stamp) + 1))[: self.w.value_size]

    async def one(self) -> bool:
        """One operation; True if a condition was refused (a read follows, untimed)."""
        op = self.rng.choices(self.ops, self.weights)[0]
        key = f"k{self.rng.randrange(self.w.keys)}"
        if op == "put":
            value = self._value()
            await self.session.put(key, value)
            self.seen[key] = value
        elif op in _READS:
            self.seen[key] = await self.session.get(key, _READS[op])
        elif op == "cas":
            value = self._value()
            if await self.session.cas(key, self.seen.get(key), value):
                self.seen[key] = value
            else:
                self.cas_refused += 1
                return True
        else:
            other = f"k{(int(key[1:]) + 1) % self.w.keys}"
            value = self._value()
            if await self.session.txn([(key, self.seen.get(key))], [(key, value), (other, value)]):
                self.seen[key] = self.seen[other] = value
            else:
                self.cas_refused += 1
                return True
        return False

    async def refresh(self) -> None:
        """Re-read every key this session has a stale view of (after a refused condition)."""
        for key in list(self.seen)[-2:] or [f"k{self.rng.randrange(self.w.keys)}"]:
            self.seen[key] = await self.session.get(key)


async def run_workload(
    target: Target, w: Workload, *, clock: Callable[[], float] = time.perf_counter
) -> Figures:
    """Drive ``target`` (started) with ``w``; the figures of the measured window (see the
    module doc). The target is left running (its killed node restarted)."""
    latency = Latency()
    errors = 0
    refused = 0
    done = 0
    started = 0  # measured operations begun (open loop: scheduled in the window)
    rng = random.Random(w.seed)
    begin = end = math.inf  # the measured window, fixed once the loop starts
    last_done = 0.0
    all_done = trio.Event()
    queue_send, queue_recv = trio.open_memory_channel[float](math.inf)

    def measured(start: float) -> bool:
        return begin <= start < end

    def settle() -> None:
        if clock() >= end and done + errors >= started:
            all_done.set()

    async def do(actor: _Actor, start: float) -> None:
        nonlocal errors, refused, done, last_done, started
        counted = measured(start)
        if counted and w.rate is None:
            started += 1
        try:
            was_refused = await actor.one()
        except Exception:
            if counted:
                errors += 1
                settle()
            await trio.sleep(0.01)  # no hot loop against a node that is down
            return
        now = clock()
        if counted:
            latency.record(now - start)
            done += 1
            last_done = now
            refused += was_refused
            settle()
        if was_refused:
            try:
                await actor.refresh()
            except Exception:
                await trio.sleep(0.01)

    async def closed_worker(actor: _Actor) -> None:
        while clock() < end:
            await do(actor, clock())

    async def open_worker(actor: _Actor) -> None:
        async for scheduled in queue_recv:
            await do(actor, scheduled)

    async def dispatcher(t0: float) -> None:
        nonlocal started
        assert w.rate is not None
        async with queue_send:
            i = 0
            while True:
                scheduled = t0 + i / w.rate
                if scheduled >= end:
                    return
                delay = scheduled - clock()
                if delay > 0:
                    await trio.sleep(delay)
                started += measured(scheduled)
                queue_send.send_nowait(scheduled)
                i += 1

    async def connection(n: int) -> None:
        async with target.open_client() as client, trio.open_nursery() as nursery:
            for _ in range(n, w.clients, connections):
                actor = _Actor(client.session(), w, random.Random(rng.getrandbits(64)))
                nursery.start_soon(closed_worker if w.rate is None else open_worker, actor)

    unavailable_s: float | None = None

    failover_error: str | None = None

    async def failover() -> None:
        nonlocal unavailable_s, failover_error
        await trio.sleep(w.seconds / 2)
        try:
            async with target.open_client() as client:
                probe = client.session()
                await probe.put("bench-failover", b"before")
                killed_at = clock()
                await target.kill_leader()
                await probe.put("bench-failover", b"after")
                unavailable_s = clock() - killed_at
        except Exception as exc:  # reported after the run, not as a crash of the nursery
            failover_error = f"failover: {type(exc).__name__}: {exc}"

    connections = max(1, min(w.connections, w.clients))
    async with trio.open_nursery() as nursery:
        t0 = clock()
        begin = t0 + w.warmup_s
        end = begin + w.seconds
        if w.rate is not None:
            nursery.start_soon(dispatcher, t0)
        for n in range(connections):
            nursery.start_soon(connection, n)
        await trio.sleep(max(0.0, begin - clock()))
        pids = target.pids()
        counted_before = {} if w.failover else await target.counters()
        cpu_before = {label: process_cpu_s(pid) for label, pid in pids.items()}
        client_before = time.process_time()
        if w.failover:
            nursery.start_soon(failover)
        await trio.sleep(max(0.0, end - clock()))
        cpu_after = {label: process_cpu_s(pid) for label, pid in pids.items()}
        client_cpu = time.process_time() - client_before
        rss = {label: process_rss_mib(pid) for label, pid in pids.items()}
        counted_after = await target.counters() if counted_before else {}
        settle()
        with trio.move_on_after(w.drain_s):  # operations begun in the window finish
            await all_done.wait()
        errors += max(0, started - done - errors)  # still not done: errors
        nursery.cancel_scope.cancel()
    if w.failover:
        await target.restart_killed()
        if failover_error is None and unavailable_s is None:
            failover_error = (
                f"failover: no write succeeded within {w.drain_s:g} s of the window's end"
            )
        if failover_error is not None:
            raise TargetError(failover_error)

    window = max(w.seconds, last_done - begin)
    figures: Figures = {"ops_per_s": done / window if window > 0 else 0.0}
    figures.update({k: v for k, v in latency.figures().items() if k != "max_ms"})
    figures["errors"] = float(errors)
    figures["ops"] = float(done)
    if "cas" in w.mix or "txn" in w.mix:
        figures["cas_refused"] = float(refused)
    if w.rate is not None:
        figures["offered_per_s"] = float(w.rate)
    if done:
        total = client_cpu
        for label, before in cpu_before.items():
            after = cpu_after.get(label)
            if before is not None and after is not None:
                figures[f"cpu_us_per_op_{label}"] = (after - before) / done * 1e6
                total += after - before
        figures["cpu_us_per_op_client"] = client_cpu / done * 1e6
        figures["cpu_us_per_op"] = total / done * 1e6
    # Counters span the window (operations begun in it and still running add a little).
    for name in ("messages", "bytes", "fsyncs"):
        if done and name in counted_before and name in counted_after:
            figures[f"{name}_per_op"] = (counted_after[name] - counted_before[name]) / done
    known = {label: mib for label, mib in rss.items() if mib is not None}
    for label, mib in known.items():
        figures[f"rss_mib_{label}"] = mib
    if known:
        figures["rss_mib"] = sum(known.values())
    if unavailable_s is not None:
        figures["unavailable_ms"] = unavailable_s * 1e3
    return figures
