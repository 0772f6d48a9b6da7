"""Leaderless per-key Paxos (``paxos-lwt``) in the simulator: how to build a node, the
workload's operations, and the protocol's own safety invariants.

:class:`LwtInvariants` is fed every ``Ready`` (after the batch is durable, before its
messages and answers leave) and checks, incrementally:

- one value per key per ballot: every vote (an acceptor record in a hard-state delta
  whose ``accepted`` ballot is set) for ``(key, ballot)`` carries the same state; once a
  majority voted for it, that state is *chosen* in that ballot.
- chosen states form one chain per key (nothing decided is lost): a state proposed in
  ballot ``b`` computed from the state accepted in ``base`` needs that no state was chosen
  in a ballot strictly between ``base`` and ``b`` (CASPaxos's safety argument: the
  coordinator's promise quorum meets every chosen ballot's accept quorum). Checked both
  when the vote is seen and when a ballot becomes chosen.
- acknowledged means chosen: an operation answered ``DONE`` names the ballot that decided
  it, and that ballot must be chosen for that key when the answer leaves.
- promises never go back: a restarted node promises, per key, at least what it synced.
- per-key linearizability of the client history (:meth:`finish`, after the heal): every
  operation proposed in the run, with its answer (or none: crashed, timed out), is
  checked against a compare-and-set register per key with ``jepsen_lite``'s
  Wing-Gong-Lowe checker. A write that returned the previous value is a ``cas [prev,
  new]``; a failed condition is a read of the value it saw; an operation that gave up with
  ``applied=None`` or was never answered may have happened (``info``); one that gave up
  with ``applied=False`` did not (``fail``).

Workload: 3 keys; clients mix get, put, cas (expecting the value last proposed for the
key), put-if-absent, delete and delete-if, with unique values ``c<client>.<op>``; the
probe client reads the keys in turn, so the history ends with reads of every key.
"""

from __future__ import annotations

import bisect
import random
from typing import Any

from ..core import Ready
from ..lwt import LWT_OP_CODEC, LwtConfig, LwtCore, LwtOp, LwtOpKind, LwtOutcome, LwtStatus
from ..lwt.ops import decode_op, encode_op
from ..messages import Message
from ..messages.lwt import LwtAccepted, LwtHardState, LwtPromise
from ..messages.paxos import ZERO_BALLOT, Ballot
from ..quorum import majority
from ..storage.base import Recovered
from ..storage.lwt_memory import LwtMemoryStorage
from ..types import NodeId, ProposalTicket
from .paxos_spec import ballot_text, term_text
from .protocols import OperationSource, ProtocolSpec
from .violation import ACKNOWLEDGED_LOST, SimViolation

ONE_VALUE_PER_BALLOT = "one-value-per-key-per-ballot"
"""At most one state per key is proposed (and so chosen) in one ballot."""
CHOSEN_LOST = "chosen-state-lost"
"""Every state chosen for a key extends the previously chosen one."""
PROMISE_MONOTONE = "promise-monotone"
"""An acceptor's promised ballot for a key never decreases, not even across a crash."""
LINEARIZABLE = "linearizable"
"""The client history is linearizable per key (a compare-and-set register per key)."""

SIM_LWT_CONFIG = LwtConfig()
"""The configuration simulated nodes run with (the library defaults)."""
KEYS = (b"k0", b"k1", b"k2")
LIN_TIME_LIMIT_S = 20.0
"""Wall-clock budget of one run's linearizability check; beyond it the verdict is
unknown (counted in :attr:`LwtInvariants.lin_unknown`, not a violation)."""

_State = tuple[bytes | None, Ballot, Ballot]  # value, writer, base


class _Op:
    __slots__ = ("call", "op", "outcome", "ret")

    def __init__(self, op: LwtOp, call: int) -> None:
        self.op = op
        self.call = call
        self.ret: int | None = None
        self.outcome: LwtOutcome | None = None


class LwtInvariants:
    """``paxos-lwt``'s safety properties over one simulated cluster (module doc)."""

    def __init__(self) -> None:
        self._votes: dict[tuple[bytes, Ballot], tuple[_State, set[NodeId]]] = {}
        self._chosen: dict[bytes, list[int]] = {}  # encoded ballots, sorted
        self._proposals: dict[bytes, list[tuple[int, int]]] = {}  # (ballot, base), sorted
        self._synced: dict[tuple[NodeId, bytes], Ballot] = {}
        self._purged: dict[bytes, int] = {}  # key -> highest ballot a node forgot it at
        self.purges = 0
        self._ops: list[_Op] = []
        self._open: dict[tuple[NodeId, int], _Op] = {}
        self._clock = 0
        self.lin_unknown = 0
        self.checked_ops = 0

    # -- the client history -------------------------------------------------------------
    def proposed(self, node: NodeId, ticket: ProposalTicket, data: bytes) -> None:
        self._clock += 1
        record = _Op(decode_op(data), self._clock)
        self._ops.append(record)
        self._open[(node, ticket.index)] = record

    def observe(self, node: NodeId, core: Any, ready: Ready[Any]) -> None:
        lwt: LwtCore = core
        hs: LwtHardState | None = ready.hard_state
        if hs is not None:
            need = majority(len(lwt.voters))
            for gone in hs.purged:
                self._forgotten(node, gone.key, gone.accepted)
            for rec in hs.records:
                if ready.must_sync:
                    self._check_promise(node, rec.key, rec.promised)
                    self._synced[(node, rec.key)] = rec.promised
                if rec.accepted != ZERO_BALLOT:
                    self._vote(node, rec.key, rec.accepted, (rec.value, rec.writer, rec.base), need)
        for result in ready.results:
            record = self._open.pop((node, result.ticket.index), None)
            outcome: LwtOutcome = LWT_OP_CODEC.decode(result.data)
            if record is None:
                continue
            self._clock += 1
            record.ret = self._clock
            record.outcome = outcome
            if outcome.status is LwtStatus.DONE:
                key = record.op.key
                chosen = self._chosen.get(key, [])
                c = outcome.ballot.as_term()
                i = bisect.bisect_left(chosen, c)
                if i == len(chosen) or chosen[i] != c:
                    raise SimViolation(
                        ACKNOWLEDGED_LOST,
                        f"node {node} answered {record.op.kind.name} on {key!r} as decided "
                        f"in ballot {ballot_text(outcome.ballot)}, which no majority accepted",
                    )

    def restarted(self, node: NodeId, core: Any) -> None:
        lwt: LwtCore = core
        for (n, key), synced in self._synced.items():
            if n == node and lwt.record(key).promised.as_term() < synced.as_term():
                raise SimViolation(
                    PROMISE_MONOTONE,
                    f"node {node} restarted promising {ballot_text(lwt.record(key).promised)} "
                    f"for {key!r}, below the {ballot_text(synced)} it had synced",
                )
        # Its operations in flight are lost with it: they stay open (may have happened).
        for pair in [p for p in self._open if p[0] == node]:
            del self._open[pair]

    # -- the checks -----------------------------------------------------------------------
    def _forgotten(self, node: NodeId, key: bytes, ballot: Ballot) -> None:
        """``node`` forgot ``key``, whose absent state every node accepted in ``ballot``."""
        self.purges += 1
        b = ballot.as_term()
        chosen = self._chosen.get(key, [])
        i = bisect.bisect_left(chosen, b)
        votes = self._votes.get((key, ballot))
        if i == len(chosen) or chosen[i] != b or votes is None or votes[0][0] is not None:
            raise SimViolation(
                CHOSEN_LOST,
                f"node {node} forgot {key!r} at ballot {ballot_text(ballot)}, where no "
                f"absent state was chosen",
            )
        if b > self._purged.get(key, 0):
            self._purged[key] = b

    def _check_promise(self, node: NodeId, key: bytes, promised: Ballot) -> None:
        before = self._synced.get((node, key), ZERO_BALLOT)
        if promised.as_term() < before.as_term():
            raise SimViolation(
                PROMISE_MONOTONE,
                f"node {node} promised {ballot_text(promised)} for {key!r} after "
                f"{ballot_text(before)}",
            )

    def _vote(self, node: NodeId, key: bytes, ballot: Ballot, state: _State, need: int) -> None:
        seen = self._votes.get((key, ballot))
        if seen is None:
            seen = (state, set())
            self._votes[(key, ballot)] = seen
            self._new_proposal(key, ballot, state[2])
        elif seen[0] != state:
            raise SimViolation(
                ONE_VALUE_PER_BALLOT,
                f"key {key!r}, ballot {ballot_text(ballot)}: states {seen[0]!r} and {state!r}",
            )
        voters = seen[1]
        if node in voters:
            return
        voters.add(node)
        if len(voters) == need:
            self._new_chosen(key, ballot)

    # Ballots as encoded integers (``Ballot.as_term``, order-preserving) below: comparing
    # attrs records costs far more, and these run for every vote.
    def _new_proposal(self, key: bytes, ballot: Ballot, base: Ballot) -> None:
        chosen = self._chosen.get(key, [])
        b, p = ballot.as_term(), base.as_term()
        if p == 0:
            # Computed from promises that all knew nothing: after a purge, nothing is what
            # forgetting the absent state chosen at the purge ballot leaves.
            p = self._purged.get(key, 0)
        i = bisect.bisect_right(chosen, p)
        if i < len(chosen) and chosen[i] < b:
            raise SimViolation(
                CHOSEN_LOST,
                f"key {key!r}: ballot {ballot_text(ballot)} proposed a state computed from "
                f"ballot {ballot_text(base)}, skipping the state chosen in "
                f"{term_text(chosen[i])}",
            )
        bisect.insort(self._proposals.setdefault(key, []), (b, p))

    def _new_chosen(self, key: bytes, ballot: Ballot) -> None:
        c = ballot.as_term()
        proposals = self._proposals.get(key, [])
        for at in range(bisect.bisect_right(proposals, (c, 2**63)), len(proposals)):
            proposed, base = proposals[at]
            if base < c:
                raise SimViolation(
                    CHOSEN_LOST,
                    f"key {key!r}: ballot {ballot_text(ballot)} was chosen, but ballot "
                    f"{term_text(proposed)} had computed its state from "
                    f"{term_text(base)} below it",
                )
        bisect.insort(self._chosen.setdefault(key, []), c)

    # -- after the heal -------------------------------------------------------------------
    def finish(self) -> None:
        """Check the client history per key (module doc); raise on a violation."""
        # jepsen_lite sits above the simulator in the layering; only this end-of-run
        # check uses it, so it is imported here.
        from jepsen_lite.checker import Verdict, check
        from jepsen_lite.history.pairing import pair_events
        from jepsen_lite.models import CasRegisterModel

        events = history_events(self._ops)
        history = pair_events(events, "paxos-lwt simulation")
        self.checked_ops = len(history.operations)
        result = check(CasRegisterModel(), history, LIN_TIME_LIMIT_S, workers=1)
        if result.verdict is Verdict.NOT_LINEARIZABLE:
            cx = result.counterexample
            detail = "no counterexample"
            if cx is not None:
                bad = cx.failing_op
                detail = (
                    f"key {cx.key!r}: {bad.f} {bad.input!r} -> {bad.output!r} cannot follow "
                    f"{len(cx.linearization)} linearized operations (state {cx.state_text})"
                )
            raise SimViolation(LINEARIZABLE, f"the client history is not linearizable: {detail}")
        if result.verdict is Verdict.UNKNOWN:
            self.lin_unknown += 1


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "backslashreplace")


def _as_register(op: LwtOp, outcome: LwtOutcome | None) -> tuple[str, Any, str, Any]:
    """(f, invoke value, completion type, completion value) for the cas-register model."""
    kind = op.kind
    value = _text(op.value)
    expect = _text(op.expect)
    if outcome is not None and outcome.status is LwtStatus.DONE:
        seen = _text(outcome.value)
        if kind is LwtOpKind.GET or not outcome.applied:
            return "read", None, "ok", seen
        new = None if kind in (LwtOpKind.DELETE, LwtOpKind.DELETE_IF) else value
        return "cas", (seen, new), "ok", (seen, new)
    completion = "fail" if outcome is not None and outcome.applied is False else "info"
    if kind is LwtOpKind.GET:
        return "read", None, completion, None
    if kind is LwtOpKind.PUT:
        return "write", value, completion, value
    if kind is LwtOpKind.DELETE:
        return "write", None, completion, None
    if kind is LwtOpKind.PUT_IF_ABSENT:
        return "cas", (None, value), completion, (None, value)
    if kind is LwtOpKind.CAS:
        return "cas", (expect, value), completion, (expect, value)
    return "cas", (expect, None), completion, (expect, None)  # DELETE_IF


def history_events(ops: list[_Op]) -> list[Any]:
    """The recorded operations as ``jepsen_lite`` events in real-time order (one process
    per operation; an operation never answered has no completion: it stays open)."""
    from jepsen_lite.history.ops import Event, EventType

    timeline: list[tuple[int, int, int]] = []  # (time, 0 invoke / 1 completion, op number)
    for number, record in enumerate(ops):
        timeline.append((record.call, 0, number))
        if record.ret is not None:
            timeline.append((record.ret, 1, number))
    timeline.sort()
    events: list[Any] = []
    for _, what, number in timeline:
        record = ops[number]
        f, invoke_value, completion, value = _as_register(record.op, record.outcome)
        key = _text(record.op.key)
        if what == 0:
            events.append(Event(number, EventType.INVOKE, f, invoke_value, key))
        else:
            events.append(Event(number, EventType(completion), f, value, key))
    return events


class _Operations:
    """The workload's operations for one run (module doc)."""

    def __init__(self) -> None:
        self._last: dict[bytes, bytes | None] = {}
        self._probes = 0

    def __call__(self, rng: random.Random, client: int, token: int, probe: bool) -> bytes:
        if probe:
            self._probes += 1
            return encode_op(LwtOp(LwtOpKind.GET, KEYS[self._probes % len(KEYS)]))
        key = KEYS[rng.randrange(len(KEYS))]
        value = b"c%d.%d" % (client, token)
        last = self._last.get(key)
        draw = rng.random()
        if draw < 0.25:
            op = LwtOp(LwtOpKind.GET, key)
        elif draw < 0.45:
            op = LwtOp(LwtOpKind.PUT, key, value)
        elif draw < 0.7:
            op = LwtOp(LwtOpKind.CAS, key, value, last)
        elif draw < 0.8:
            op = LwtOp(LwtOpKind.PUT_IF_ABSENT, key, value)
        elif draw < 0.9:
            op = LwtOp(LwtOpKind.DELETE, key)
        else:
            op = LwtOp(LwtOpKind.DELETE_IF, key, None, last)
        if op.kind in (LwtOpKind.PUT, LwtOpKind.CAS, LwtOpKind.PUT_IF_ABSENT):
            self._last[key] = value
        elif op.kind is LwtOpKind.DELETE:
            self._last[key] = None
        return encode_op(op)


def _operations() -> OperationSource:
    return _Operations()


def _make_core(
    node: NodeId, voters: tuple[NodeId, ...], rng: random.Random, recovered: Any
) -> LwtCore:
    rec: Recovered[LwtHardState] | None = recovered
    return LwtCore(node, voters, rng, SIM_LWT_CONFIG, rec)


def _vouches(msg: Message) -> bool:
    return type(msg) is LwtPromise or type(msg) is LwtAccepted


LWT_SPEC = ProtocolSpec(
    name="paxos-lwt",
    make_core=_make_core,
    make_storage=LwtMemoryStorage,
    make_invariants=LwtInvariants,
    reads=False,
    vouches=_vouches,
    term_text=term_text,
    operations=_operations,
)
