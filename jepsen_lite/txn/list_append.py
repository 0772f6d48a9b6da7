"""What a list-append history says about dependencies (Elle's inference).

Because every ``(key, value)`` is appended at most once, a read of a key is a prefix of
that key's version order, and the longest list any committed read saw *is* the version
order, as far as anyone observed it. From it (per key):

- ``ww``: the writer of each element precedes the writer of the next;
- ``wr``: the writer of a read's last element precedes the reader;
- ``rw``: a reader precedes the writer of the element right after the last one it saw
  (the next version, which it did not see).

And anomalies that need no cycle, each of which no consistency model allows:

- ``G1a`` (aborted read): a committed read saw an element appended by a failed txn;
- ``G1b`` (intermediate read): a read's last element was not its writer's last append to
  that key (the reader saw a state the writer never committed);
- ``internal``: a read inside a transaction disagrees with the transaction's own earlier
  appends or reads of that key;
- ``incompatible-order``: two reads of a key where neither is a prefix of the other (no
  single version order exists);
- ``duplicate-elements``: a read that saw one element twice;
- ``garbage``: a read that saw an element nobody appended.

Linear in the size of the history (plus the sort of each key's reads by length).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

import attrs

from ..history.ops import Value, show
from .graph import RW, WR, WW, DepGraph
from .model import APPEND, READ, Txn


@attrs.frozen(slots=True)
class Anomaly:
    """One anomaly found: ``name`` (``G1a``, ``G-single``, ...), the transactions involved,
    and an explanation for people (one line per step for a cycle)."""

    name: str
    txns: tuple[int, ...]
    explanation: tuple[str, ...]


@attrs.define
class Inference:
    """The graph and the anomalies that need no cycle."""

    graph: DepGraph
    anomalies: list[Anomaly]
    keys: int = 0
    unread_appends: int = 0


def infer(txns: Sequence[Txn]) -> Inference:
    """Infer the ``ww``/``wr``/``rw`` graph of ``txns`` and the non-cycle anomalies.

    ``ValueError`` when a ``(key, value)`` is appended twice (the workload's contract)."""
    by_id = {t.id: t for t in txns}
    writer: dict[tuple[Value, Value], int] = {}
    last_append: dict[tuple[int, Value], Value] = {}
    for t in txns:
        for op in t.appends():
            where = (op.key, op.value)
            if where in writer:
                raise ValueError(
                    f"{show(op.value)} is appended to {show(op.key)} twice (T{writer[where]} "
                    f"and T{t.id}): list-append needs unique values per key"
                )
            writer[where] = t.id
            last_append[(t.id, op.key)] = op.value
    anomalies: list[Anomaly] = []
    reads: dict[Value, list[tuple[int, tuple[Value, ...]]]] = {}
    for t in txns:
        if t.committed:
            _internal(t, anomalies)
            for op in t.reads():
                assert isinstance(op.value, tuple)
                reads.setdefault(op.key, []).append((t.id, op.value))
    graph = DepGraph()
    for t in txns:
        if not t.aborted:
            graph.add_node(t.id)
    observed: set[tuple[Value, Value]] = set()
    for key, seen in reads.items():
        longest_reader, longest = max(seen, key=lambda item: (len(item[1]), -item[0]))
        # Every read should be a prefix of the longest; only the longest and the reads
        # that are not need their elements looked at one by one (linear in the input).
        odd = [(reader, values) for reader, values in seen if longest[: len(values)] != values]
        for reader, values in [(longest_reader, longest), *odd]:
            _element_anomalies(key, reader, values, writer, by_id, anomalies)
            observed.update((key, value) for value in values)
        for reader, values in seen:
            _intermediate(key, reader, values, writer, last_append, by_id, anomalies)
        if odd:
            reader, values = odd[0]
            anomalies.append(
                Anomaly(
                    "incompatible-order",
                    (reader, longest_reader),
                    (
                        f"T{reader} read {show(key)} as {show_list(values)} and T{longest_reader} "
                        f"as {show_list(longest)}: neither is a prefix of the other",
                    ),
                )
            )
            continue  # no single version order to infer edges from
        _edges(key, longest, seen, writer, by_id, graph)
    appended = {(k, v) for (k, v) in writer if not by_id[writer[(k, v)]].aborted}
    return Inference(graph, anomalies, len(reads), len(appended - observed))


def _internal(t: Txn, anomalies: list[Anomaly]) -> None:
    """A txn's reads must agree with its own earlier steps on the same key."""
    known: dict[Value, tuple[Value, ...]] = {}  # key -> the list as this txn must see it
    mine: dict[Value, list[Value]] = {}  # key -> appended since the last read (no read yet)
    for op in t.ops:
        if op.f == APPEND:
            if op.key in known:
                known[op.key] = (*known[op.key], op.value)
            else:
                mine.setdefault(op.key, []).append(op.value)
        elif op.f == READ and isinstance(op.value, tuple):
            seen = op.value
            expect = known.get(op.key)
            own = tuple(mine.pop(op.key, ()))
            bad = (expect is not None and seen != expect) or (
                expect is None and own and seen[len(seen) - len(own) :] != own
            )
            if bad:
                want = show(expect) if expect is not None else f"a list ending {show(own)}"
                anomalies.append(
                    Anomaly(
                        "internal",
                        (t.id,),
                        (
                            f"T{t.id} read {show(op.key)} as {show(seen)} where its own earlier "
                            f"steps imply {want}: {t.show()}",
                        ),
                    )
                )
            known[op.key] = seen


def _element_anomalies(
    key: Value,
    reader: int,
    values: tuple[Value, ...],
    writer: dict[tuple[Value, Value], int],
    by_id: dict[int, Txn],
    anomalies: list[Anomaly],
) -> None:
    """Duplicates, elements nobody appended (garbage), elements of failed txns (G1a)."""
    if len(set(values)) != len(values):
        anomalies.append(
            Anomaly(
                "duplicate-elements",
                (reader,),
                (f"T{reader} read {show(key)} as {show_list(values)}: an element twice",),
            )
        )
    for value in values:
        w = writer.get((key, value))
        if w is None:
            anomalies.append(
                Anomaly(
                    "garbage",
                    (reader,),
                    (f"T{reader} read {show(value)} in {show(key)}, which no txn appended",),
                )
            )
        elif by_id[w].aborted:
            anomalies.append(
                Anomaly(
                    "G1a",
                    (w, reader),
                    (
                        f"T{reader} read {show(key)} = {show_list(values)}, whose {show(value)} "
                        f"was appended by T{w}, which failed: {by_id[w].show()}",
                    ),
                )
            )


def _intermediate(
    key: Value,
    reader: int,
    values: tuple[Value, ...],
    writer: dict[tuple[Value, Value], int],
    last_append: dict[tuple[int, Value], Value],
    by_id: dict[int, Txn],
    anomalies: list[Anomaly],
) -> None:
    """G1b: the read ends at an element its (other, live) writer appended more after."""
    if not values:
        return
    last = values[-1]
    w = writer.get((key, last))
    if w is None or w == reader or by_id[w].aborted or last_append.get((w, key)) == last:
        return
    anomalies.append(
        Anomaly(
            "G1b",
            (w, reader),
            (
                f"T{reader} read {show(key)} = {show_list(values)}, ending in {show(last)}, an "
                f"intermediate state of T{w} (which went on to append "
                f"{show(last_append[(w, key)])}): {by_id[w].show()}",
            ),
        )
    )


def _edges(
    key: Value,
    order: tuple[Value, ...],
    seen: list[tuple[int, tuple[Value, ...]]],
    writer: dict[tuple[Value, Value], int],
    by_id: dict[int, Txn],
    graph: DepGraph,
) -> None:
    def live(value: Value) -> int | None:
        w = writer.get((key, value))
        return w if w is not None and not by_id[w].aborted else None

    for before, after in itertools.pairwise(order):
        a, b = live(before), live(after)
        if a is not None and b is not None:
            graph.add(a, b, WW, functools.partial(_ww_why, key, a, before, b, after))
    for reader, values in seen:
        if values:
            w = live(values[-1])
            if w is not None:
                graph.add(w, reader, WR, functools.partial(_wr_why, key, reader, values, w))
        if len(values) < len(order):
            nxt = order[len(values)]
            w = live(nxt)
            if w is not None:
                graph.add(reader, w, RW, functools.partial(_rw_why, key, reader, values, nxt, w))


def show_list(values: tuple[Value, ...]) -> str:
    """A read list for people: the whole of a short one, the last 3 of a long one."""
    if len(values) <= 4:
        return show(values)
    return "[..." + ",".join(show(v) for v in values[-3:]) + f"] ({len(values)} elements)"


def _ww_why(key: Value, a: int, before: Value, b: int, after: Value) -> str:
    return f"T{a} appended {show(before)} to {show(key)}, then T{b} appended {show(after)}"


def _wr_why(key: Value, reader: int, values: tuple[Value, ...], w: int) -> str:
    return f"T{reader} read {show(key)} = {show_list(values)}, whose last element T{w} appended"


def _rw_why(key: Value, reader: int, values: tuple[Value, ...], nxt: Value, w: int) -> str:
    return (
        f"T{reader} read {show(key)} = {show_list(values)}, missing {show(nxt)}, which T{w} "
        f"appended next"
    )
