"""The sim environment's own verdict: core invariants watched while a test runs.

:class:`Invariants` is fed by every node's :class:`WatchedCore` (a thin proxy between
the real Trio driver and the real core) at each ``Ready`` batch the core hands out:

- *state-machine safety*: no two nodes apply different entries at one index. Each index
  remembers the first entry applied there (Raft: term and a SHA-256 of kind and data;
  Multi-Paxos: the hash only, since a chosen value may be re-proposed under a newer
  ballot), and every later application at that index, on any node and after any
  restart, must match it;
- *election safety*: at most one leader per term, from ``core.status()`` at each batch.

A violation is recorded as one line of text (at most :data:`VIOLATIONS_MAX` of them);
nothing stops the run: the runner hands them to the checkers in ``RunFacts``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from consensus.core import Ready, Role
from consensus.errors import NotLeader
from consensus.messages import Message
from consensus.types import Entry, Index, NodeId, ProposalTicket, Term

VIOLATIONS_MAX = 50


def entry_digest(entry: Entry) -> str:
    """A short stable digest of an entry's kind and data."""
    h = hashlib.sha256(str(entry.kind.value).encode() + b"\0" + entry.data)
    return h.hexdigest()[:16]


class Invariants:
    """See the module docstring. ``with_terms``: compare terms as well (Raft)."""

    def __init__(self, with_terms: bool) -> None:
        self.with_terms = with_terms
        self.applied: dict[Index, tuple[Term, str, NodeId]] = {}
        self._first_entries: dict[Index, Entry] = {}
        self.leaders: dict[Term, NodeId] = {}
        self.violations: list[str] = []
        self._seen: set[tuple[str, int, int]] = set()
        self.now: Callable[[], float] = lambda: 0.0

    def _violate(self, key: tuple[str, int, int], text: str) -> None:
        if key in self._seen or len(self.violations) >= VIOLATIONS_MAX:
            return
        self._seen.add(key)
        self.violations.append(f"at {self.now():.3f}s: {text}")

    def violate_once(self, what: str, text: str) -> None:
        """Record a violation the environment itself found (at most once per ``what``)."""
        self._violate((what, 0, 0), text)

    def observe_applied(self, node: NodeId, entries: Sequence[Entry]) -> None:
        applied = self.applied
        first_entries = self._first_entries
        for entry in entries:
            if first_entries.get(entry.index) is entry:
                continue  # the very object applied first here (the sim shares entries)
            digest = entry_digest(entry)
            first = applied.get(entry.index)
            if first is None:
                applied[entry.index] = (entry.term, digest, node)
                first_entries[entry.index] = entry
                continue
            term, first_digest, first_node = first
            if first_digest != digest or (self.with_terms and term != entry.term):
                self._violate(
                    ("state-machine-safety", entry.index, node),
                    f"state-machine safety: node {node} applied (term {entry.term}, "
                    f"{digest}) at index {entry.index}, node {first_node} applied "
                    f"(term {term}, {first_digest})",
                )

    def observe_role(self, node: NodeId, role: Role, term: Term) -> None:
        if role is not Role.LEADER:
            return
        other = self.leaders.setdefault(term, node)
        if other != node:
            a, b = sorted((node, other))
            self._violate(
                ("election-safety", term, a * 1000 + b),
                f"election safety: nodes {a} and {b} both led term {term}",
            )


class WatchedCore:
    """A protocol core as the driver sees it, with two extra powers: it reports each
    ``Ready`` batch to :class:`Invariants`, and it can be frozen (a paused process).

    While ``paused``: ``tick`` does nothing (the timers of a stopped process do not
    fire; the lost ticks are not replayed), ``step`` queues the message (as a stopped
    process's socket buffers would, up to ``queue_max`` messages, beyond which they
    are dropped), ``has_ready`` is False (the Ready loop idles) and new proposals and
    reads are refused with the core's own ``NotLeader`` (they cannot reach a stopped
    process; the sim client does not send to a paused node in the first place).
    :meth:`unpause` steps the queued messages in order.

    Everything else is passed through to the real core unchanged.
    """

    def __init__(
        self, inner: Any, node: NodeId, invariants: Invariants, queue_max: int = 10_000
    ) -> None:
        self.inner = inner
        self.node = node
        self.invariants = invariants
        self.paused = False
        self.queue_max = queue_max
        self.queued: list[Message] = []
        self.dropped_while_paused = 0
        self.ticks = 0
        """Ticks that reached the core (a fast clock makes more per virtual second)."""
        if hasattr(inner, "propose_batch"):
            self.propose_batch = self._propose_batch

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def id(self) -> NodeId:
        node: NodeId = self.inner.id
        return node

    def status(self) -> Any:
        return self.inner.status()

    def advance(self, ready: Ready[Any]) -> None:
        self.inner.advance(ready)

    def tick(self) -> None:
        if not self.paused:
            self.ticks += 1
            self.inner.tick()

    def step(self, message: Message) -> None:
        if self.paused:
            if len(self.queued) < self.queue_max:
                self.queued.append(message)
            else:
                self.dropped_while_paused += 1
            return
        self.inner.step(message)

    def has_ready(self) -> bool:
        return not self.paused and bool(self.inner.has_ready())

    def ready(self) -> Ready[Any]:
        rd: Ready[Any] = self.inner.ready()
        if rd.committed:
            self.invariants.observe_applied(self.node, rd.committed)
        if self.inner.role is Role.LEADER:  # only a leader can break election safety
            self.invariants.observe_role(self.node, Role.LEADER, self.inner.status().term)
        return rd

    def _refuse_if_paused(self) -> None:
        if self.paused:
            raise NotLeader(None, f"node {self.node} is paused")

    def propose(self, data: bytes) -> ProposalTicket:
        self._refuse_if_paused()
        ticket: ProposalTicket = self.inner.propose(data)
        return ticket

    def _propose_batch(self, datas: Sequence[bytes]) -> list[ProposalTicket]:
        self._refuse_if_paused()
        tickets: list[ProposalTicket] = self.inner.propose_batch(datas)
        return tickets

    def read_index(self, context: bytes) -> None:
        self._refuse_if_paused()
        self.inner.read_index(context)

    def unpause(self) -> None:
        self.paused = False
        queued, self.queued = self.queued, []
        for message in queued:
            self.inner.step(message)
