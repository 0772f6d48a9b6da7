"""Check a list-append history for transactional anomalies (Elle's approach).

:func:`check_list_append` infers the dependency graph (:mod:`.list_append`), finds its
strongly connected components, and inside each looks for the shortest cycle of each kind
(Adya's anomalies, as Elle names them):

- ``G0`` (write cycle): ``ww`` edges only;
- ``G1c`` (circular information flow): ``ww`` and ``wr`` edges, at least one ``wr``;
- ``G-single`` (read skew): exactly one ``rw`` edge, the rest ``ww``/``wr``;
- ``G2`` (anti-dependency cycle, e.g. write skew): two or more ``rw`` edges;
- ``G0-realtime``, ``G1c-realtime``, ``G-single-realtime``, ``G2-realtime``: cycles that
  need at least one ``rt`` edge (one transaction completed before another began, yet the
  other must precede it): allowed by serializability, not by strict serializability;
- ``lost-append`` (:mod:`.lost_appends`): a read that began after an append committed
  and does not contain it, found without a cycle (also when no read ever saw the value):
  forbidden by strict serializability only.

Each consistency model of :data:`MODELS` forbids a set of anomalies; the verdict for a
model is ``invalid`` when one of those was found, ``unknown`` when the search was cut
short (a component too large for the search budget) or nothing could be checked (no
committed read), else ``valid``. Simplification: snapshot isolation is checked as
"no G0, G1 or G-single" (Elle's G-nonadjacent is not searched for).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from ..history.ops import History, Status
from .graph import EDGE_KINDS, RT, RW, WR, WW, DepGraph, Step
from .list_append import Anomaly, infer
from .lost_appends import NAME as LOST_APPEND
from .lost_appends import lost_appends
from .model import Txn, transactions

DATA_ANOMALIES = ("internal", "incompatible-order", "duplicate-elements", "garbage")
"""Anomalies that no model allows (the store returned data no execution could give)."""
CYCLES = ("G0", "G1c", "G-single", "G2")
REALTIME = (*(f"{name}-realtime" for name in CYCLES), LOST_APPEND)

_READ_COMMITTED = frozenset({*DATA_ANOMALIES, "G0", "G1a", "G1b", "G1c"})
_SNAPSHOT = _READ_COMMITTED | {"G-single"}
_SERIALIZABLE = _SNAPSHOT | {"G2"}
MODELS: dict[str, frozenset[str]] = {
    "read-committed": _READ_COMMITTED,
    "snapshot-isolation": _SNAPSHOT,
    "serializable": _SERIALIZABLE,
    "strict-serializable": _SERIALIZABLE | set(REALTIME),
}
"""Each consistency model and the anomalies it forbids."""

SEARCH_TRIES_MAX = 2000
"""Edges tried per anomaly kind per component before the search gives up (then the
verdict is ``unknown`` unless a forbidden anomaly was found anyway)."""


@attrs.frozen(slots=True)
class TxnCheckResult:
    """The verdict for ``model`` and everything found.

    ``anomalies`` maps each anomaly name found to its instances; ``violates`` lists the
    models of :data:`MODELS` that those anomalies rule out. ``reason`` says why the
    verdict is ``unknown`` (else empty)."""

    model: str
    validity: str
    anomalies: dict[str, tuple[Anomaly, ...]]
    violates: tuple[str, ...]
    txns: int
    committed: int
    indeterminate: int
    failed: int
    keys: int
    edges: int
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        """The result as JSON-encodable data (stable keys): ``validity``, ``model``,
        ``txns``, the counts, ``anomalies`` (name to a list of ``{"txns": [...],
        "explanation": [...]}``), ``violates`` and ``reason``."""
        return {
            "validity": self.validity,
            "model": self.model,
            "txns": self.txns,
            "committed": self.committed,
            "indeterminate": self.indeterminate,
            "failed": self.failed,
            "keys": self.keys,
            "edges": self.edges,
            "anomalies": {
                name: [{"txns": list(a.txns), "explanation": list(a.explanation)} for a in found]
                for name, found in self.anomalies.items()
            },
            "violates": list(self.violates),
            "reason": self.reason,
        }

    def summary(self) -> str:
        """One line for people."""
        counts = ", ".join(f"{name} x{len(found)}" for name, found in self.anomalies.items())
        found = f"; found {counts}" if counts else "; no anomalies"
        why = f" ({self.reason})" if self.reason else ""
        return (
            f"{self.validity} for {self.model}{why}: {self.txns} txns ({self.committed} ok, "
            f"{self.indeterminate} info, {self.failed} fail) over {self.keys} keys, "
            f"{self.edges} dependency edges{found}"
        )


def check_list_append(history: History, model: str = "strict-serializable") -> TxnCheckResult:
    """Check ``history`` (``txn`` operations of append and read micro-ops) against
    ``model``. ``HistoryError`` for a malformed history, ``ValueError`` for an unknown
    model or a value appended twice to one key."""
    if model not in MODELS:
        raise ValueError(f"unknown consistency model {model!r}: choose one of {', '.join(MODELS)}")
    return check_txns(transactions(history), model)


def check_txns(txns: Sequence[Txn], model: str = "strict-serializable") -> TxnCheckResult:
    """:func:`check_list_append` over transactions already built."""
    inference = infer(txns)
    graph = inference.graph
    _realtime_edges(txns, graph)
    found: dict[str, list[Anomaly]] = {}
    for anomaly in [*inference.anomalies, *lost_appends(txns)]:
        found.setdefault(anomaly.name, []).append(anomaly)
    complete = _cycles(graph, found)
    forbidden = MODELS[model]
    violates = tuple(m for m, names in MODELS.items() if not names.isdisjoint(found))
    reason = ""
    if not forbidden.isdisjoint(found):
        validity = "invalid"
    elif not complete:
        validity, reason = "unknown", "a component was too large to search completely"
    elif inference.keys == 0:
        validity, reason = "unknown", "no committed read: nothing could be checked"
    else:
        validity = "valid"
    status = [t.status for t in txns]
    return TxnCheckResult(
        model=model,
        validity=validity,
        anomalies={name: tuple(found[name]) for name in sorted(found, key=_order)},
        violates=violates,
        txns=len(txns),
        committed=status.count(Status.OK),
        indeterminate=status.count(Status.INFO) + status.count(Status.PENDING),
        failed=status.count(Status.FAIL),
        keys=inference.keys,
        edges=len(graph),
        reason=reason,
    )


def _order(name: str) -> int:
    names = ("G0", "G1a", "G1b", "G1c", "G-single", "G2", *REALTIME, *DATA_ANOMALIES)
    return names.index(name) if name in names else len(names)


def _realtime_edges(txns: Sequence[Txn], graph: DepGraph) -> None:
    """``rt`` edges, transitively reduced: at each invocation, an edge from every
    committed txn on the frontier (completed, and not followed by another completion
    that already covers it in real time)."""
    events: list[tuple[int, int, Txn]] = []
    for t in txns:
        if t.aborted:
            continue
        events.append((t.call, 1, t))
        if t.committed and t.ret is not None:
            events.append((t.ret, 0, t))
    events.sort(key=lambda e: (e[0], e[1]))
    frontier: set[int] = set()
    before: dict[int, set[int]] = {}
    for _, kind, t in events:
        if kind == 1:
            before[t.id] = set(frontier)
            for p in sorted(frontier):
                graph.add(p, t.id, RT, f"T{p} completed before T{t.id} was invoked")
        else:
            frontier -= before.get(t.id, set())
            frontier.add(t.id)


def _cycles(graph: DepGraph, found: dict[str, list[Anomaly]]) -> bool:
    """Search every component for each cycle kind; False if a search was cut short."""
    complete = True
    data = frozenset({WW, WR, RW})
    for component in graph.components(data):
        for name, via, back in (
            ("G0", WW, frozenset({WW})),
            ("G1c", WR, frozenset({WW, WR})),
            ("G-single", RW, frozenset({WW, WR})),
            ("G2", RW, data),
        ):
            cycle, done = _first_cycle(graph, component, via, back, name)
            complete &= done
            if cycle is not None:
                found.setdefault(name, []).append(_explain(name, cycle))
    everything = frozenset(EDGE_KINDS)
    for component in graph.components(everything):
        cycle, done = _first_cycle(graph, component, RT, everything, "realtime")
        complete &= done
        if cycle is not None:
            name = f"{_kind_of(cycle)}-realtime"
            found.setdefault(name, []).append(_explain(name, cycle))
    return complete


def _first_cycle(
    graph: DepGraph, component: set[int], via: str, back: frozenset[str], name: str
) -> tuple[list[Step] | None, bool]:
    tries = 0
    for edge in graph.edges(frozenset({via}), component):
        if tries >= SEARCH_TRIES_MAX:
            return None, False
        tries += 1
        cycle = graph.cycle_through(edge, back, component)
        if cycle is None:
            continue
        if name == "G2" and sum(step.kind == RW for step in cycle) < 2:
            continue  # one rw: that is G-single, searched for on its own
        return cycle, True
    return None, True


def _kind_of(cycle: list[Step]) -> str:
    kinds = [step.kind for step in cycle if step.kind != RT]
    rw = kinds.count(RW)
    if rw >= 2:
        return "G2"
    if rw == 1:
        return "G-single"
    return "G1c" if WR in kinds else "G0"


def _explain(name: str, cycle: list[Step]) -> Anomaly:
    lines = tuple(f"T{s.src} < T{s.dst} ({s.kind}): {s.why}" for s in cycle)
    return Anomaly(name, tuple(s.src for s in cycle), lines)
