"""One single-decree Paxos instance: acceptor, proposer and learner composed on one node.

Every node of the instance is an acceptor and a learner, and proposes when asked. The
value is an :class:`~consensus.types.Entry` at slot 1 whose ``term`` is the ballot of the
proposer's first attempt, kept on every retry, so ``(1, term)`` names the proposal.

The node speaks the Multi-Paxos messages restricted to slot 1 (``Prepare``, ``Promise``,
``Accept``, ``Accepted``, ``Nack``, ``Chosen``) and has the core contract's output:
``ready()`` gives a :class:`~consensus.core.Ready` whose ``hard_state`` is the whole
acceptor state as a :class:`PaxosHardState` (``commit`` is 1 once the value is known
chosen) and must be durable, when ``must_sync``, before the batch's messages are sent;
``entries`` holds the chosen entry once, to persist; ``committed`` delivers it once.

Liveness: a proposer that has not seen its round through within a random number of ticks
in ``[retry_ticks_min, retry_ticks_max)`` retries with a higher ballot; a ``Nack`` makes
it jump past the ballot the acceptor promised and back off for such a random time, so
duelling proposers eventually separate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from ..core import Ready, Recovered
from ..errors import InvariantViolation, ProposalDropped
from ..messages import (
    Accept,
    Accepted,
    Ballot,
    Chosen,
    Message,
    Nack,
    PaxosHardState,
    PaxosMessage,
    Prepare,
    Promise,
)
from ..quorum import VoteResult
from ..types import Entry, NodeId, ProposalTicket
from .acceptor import AcceptorState, on_accept, on_prepare
from .learner import AcceptTally, Learner
from .proposer import PhaseOne, next_ballot

if TYPE_CHECKING:
    import random

SLOT = 1


@attrs.frozen(slots=True)
class InstanceConfig:
    """Retry timing of a single-decree proposer, in ticks."""

    retry_ticks_min: int = 10
    retry_ticks_max: int = 20

    def __attrs_post_init__(self) -> None:
        if not 1 <= self.retry_ticks_min < self.retry_ticks_max:
            raise ValueError(
                f"InstanceConfig needs 1 <= retry_ticks_min < retry_ticks_max, got "
                f"{self.retry_ticks_min} and {self.retry_ticks_max}"
            )


class SinglePaxos:
    """A node of one single-decree Paxos instance among ``acceptors`` (which include it)."""

    def __init__(
        self,
        id: NodeId,
        acceptors: Sequence[NodeId],
        rng: random.Random,
        config: InstanceConfig | None = None,
        recovered: Recovered[PaxosHardState] | None = None,
    ) -> None:
        if id not in acceptors:
            raise ValueError(f"node {id} is not among the acceptors {sorted(acceptors)}")
        if len(set(acceptors)) != len(acceptors):
            raise ValueError(f"acceptors must be distinct, got {list(acceptors)}")
        self.id = id
        self.acceptors = tuple(sorted(acceptors))
        self._rng = rng
        self._config = config or InstanceConfig()
        rec = recovered or Recovered()
        hs = rec.hard_state or PaxosHardState()
        if len(hs.accepted) > 1 or any(r.slot != SLOT for r in hs.accepted):
            raise ValueError(f"a single-decree instance stores one record at slot 1: {hs}")
        self._acceptor = AcceptorState(hs.promised, hs.accepted[0] if hs.accepted else None)
        self._learner = Learner(rec.entries[0] if rec.entries else None)
        # proposer
        self._own: Entry | None = None
        self._seen = hs.promised  # highest ballot heard of, for choosing the next one
        self._phase1: PhaseOne | None = None
        self._phase2: AcceptTally | None = None
        self._retry_elapsed = 0
        self._retry_ticks = self._random_retry()
        # outputs
        self._stored = (self._acceptor, self._learner.value is not None)
        self._synced_acceptor = self._acceptor
        self._msgs: list[PaxosMessage] = []
        self._persisted_chosen = self._learner.value is not None
        self._delivered = False

    # -- inspection ---------------------------------------------------------------------
    @property
    def chosen(self) -> Entry | None:
        """The chosen value, once this node has learned it."""
        return self._learner.value

    @property
    def acceptor_state(self) -> AcceptorState:
        return self._acceptor

    # -- inputs -------------------------------------------------------------------------
    def propose(self, data: bytes) -> ProposalTicket:
        """Start proposing ``data``; returns where it would be chosen.

        Raises ``ProposalDropped`` if this node already proposed or knows a chosen value.
        """
        if self._learner.value is not None:
            raise ProposalDropped(f"a value is already chosen: {self._learner.value!r}")
        if self._own is not None:
            raise ProposalDropped(f"node {self.id} is already proposing {self._own!r}")
        ballot = self._start_round()
        self._own = Entry(SLOT, ballot.as_term(), data)
        self._maybe_phase2()
        return ProposalTicket(SLOT, self._own.term)

    def tick(self) -> None:
        if self._own is None or self._learner.value is not None:
            return
        self._retry_elapsed += 1
        if self._retry_elapsed >= self._retry_ticks:
            self._start_round()
            self._maybe_phase2()

    def step(self, message: Message) -> None:
        """Handle one message; stale, duplicated and foreign messages are ignored."""
        m = message
        if not isinstance(m, PaxosMessage) or m.dst != self.id or m.src == self.id:
            return
        if m.src not in self.acceptors:
            return
        if isinstance(m, Prepare | Accept) and self._learner.value is not None:
            # Chosen already: tell the proposer instead of voting.
            self._send(Chosen(self.id, m.src, (self._learner.value,), SLOT))
        elif isinstance(m, Prepare):
            self._on_prepare(m)
        elif isinstance(m, Accept):
            self._on_accept(m)
        elif isinstance(m, Promise):
            self._on_promise(m)
        elif isinstance(m, Accepted):
            self._on_accepted(m)
        elif isinstance(m, Nack):
            self._on_nack(m)
        elif isinstance(m, Chosen):
            for entry in m.entries:
                if entry.index == SLOT:
                    self._learn(entry)

    # -- acceptor -----------------------------------------------------------------------
    def _on_prepare(self, m: Prepare) -> None:
        if m.first_slot > SLOT or m.ballot.node != m.src:
            return
        self._seen = max(self._seen, m.ballot)
        self._acceptor, ok = on_prepare(self._acceptor, m.ballot)
        if ok:
            votes = (self._acceptor.accepted,) if self._acceptor.accepted else ()
            self._send(Promise(self.id, m.src, m.ballot, m.first_slot, 0, votes))
        else:
            self._send(Nack(self.id, m.src, m.ballot, self._acceptor.promised))

    def _on_accept(self, m: Accept) -> None:
        entries = [e for e in m.entries if e.index == SLOT]
        if len(entries) != 1 or m.ballot.node != m.src:
            return
        self._seen = max(self._seen, m.ballot)
        self._acceptor, ok = on_accept(self._acceptor, m.ballot, entries[0])
        if ok:
            self._send(Accepted(self.id, m.src, m.ballot, (SLOT,)))
        else:
            self._send(Nack(self.id, m.src, m.ballot, self._acceptor.promised))

    # -- proposer -----------------------------------------------------------------------
    def _start_round(self) -> Ballot:
        ballot = next_ballot(self.id, max(self._seen, self._acceptor.promised))
        self._seen = ballot
        # Our own promise is hard state, durable in the same Ready as the Prepares.
        self._acceptor, ok = on_prepare(self._acceptor, ballot)
        if not ok:
            raise InvariantViolation(f"node {self.id} refused its own ballot {ballot}")
        self._phase1 = PhaseOne(ballot, self.acceptors)
        self._phase1.promised(self.id, self._acceptor.accepted)
        self._phase2 = None
        self._retry_elapsed = 0
        self._retry_ticks = self._random_retry()
        for peer in self.acceptors:
            if peer != self.id:
                self._send(Prepare(self.id, peer, ballot, SLOT))
        return ballot

    def _on_promise(self, m: Promise) -> None:
        p1 = self._phase1
        if p1 is None or m.ballot != p1.ballot:
            return
        votes = [v for v in m.accepted if v.slot == SLOT]
        p1.promised(m.src, votes[0] if votes else None)
        self._maybe_phase2()

    def _maybe_phase2(self) -> None:
        p1 = self._phase1
        if p1 is None or self._own is None or p1.result() is not VoteResult.WON:
            return
        self._phase1 = None
        value = p1.value(self._own)
        self._acceptor, ok = on_accept(self._acceptor, p1.ballot, value)
        if not ok:  # we promised someone higher meanwhile: this round is lost
            self._retry_elapsed = 0
            return
        tally = AcceptTally(p1.ballot, value, self.acceptors)
        self._phase2 = tally
        for peer in self.acceptors:
            if peer != self.id:
                self._send(Accept(self.id, peer, p1.ballot, (value,), 0))
        if tally.record(self.id):
            self._on_chosen(tally.entry)

    def _on_accepted(self, m: Accepted) -> None:
        tally = self._phase2
        if tally is None or m.ballot != tally.ballot or SLOT not in m.slots:
            return
        if tally.record(m.src):
            self._on_chosen(tally.entry)

    def _on_nack(self, m: Nack) -> None:
        current = self._phase1.ballot if self._phase1 else None
        if self._phase2 is not None:
            current = self._phase2.ballot
        if current is None or m.ballot != current or m.promised <= current:
            return
        self._seen = max(self._seen, m.promised)
        self._phase1 = None
        self._phase2 = None
        self._retry_elapsed = 0  # back off for a fresh random time, then jump past it
        self._retry_ticks = self._random_retry()

    def _on_chosen(self, entry: Entry) -> None:
        self._phase2 = None
        self._learn(entry)
        for peer in self.acceptors:
            if peer != self.id:
                self._send(Chosen(self.id, peer, (entry,), SLOT))

    # -- learner ------------------------------------------------------------------------
    def _learn(self, entry: Entry) -> None:
        if self._learner.learn(entry):
            self._phase1 = None
            self._phase2 = None

    # -- output -------------------------------------------------------------------------
    def _send(self, m: PaxosMessage) -> None:
        self._msgs.append(m)

    def _random_retry(self) -> int:
        cfg = self._config
        return self._rng.randrange(cfg.retry_ticks_min, cfg.retry_ticks_max)

    def _hard_state(self) -> PaxosHardState:
        acc = self._acceptor
        return PaxosHardState(
            acc.promised,
            SLOT if self._learner.value is not None else 0,
            (acc.accepted,) if acc.accepted is not None else (),
        )

    def has_ready(self) -> bool:
        return bool(
            self._msgs
            or self._stored != (self._acceptor, self._learner.value is not None)
            or (self._learner.value is not None and not self._delivered)
        )

    def ready(self) -> Ready[PaxosHardState]:
        chosen = self._learner.value
        changed = self._stored != (self._acceptor, chosen is not None)
        return Ready(
            hard_state=self._hard_state() if changed else None,
            entries=(chosen,) if chosen is not None and not self._persisted_chosen else (),
            must_sync=self._acceptor != self._synced_acceptor,
            messages=tuple(self._msgs),
            committed=(chosen,) if chosen is not None and not self._delivered else (),
        )

    def advance(self, ready: Ready[PaxosHardState]) -> None:
        hs = ready.hard_state
        if hs is not None:
            acc = AcceptorState(hs.promised, hs.accepted[0] if hs.accepted else None)
            self._stored = (acc, hs.commit == SLOT)
            self._synced_acceptor = acc
        if ready.entries:
            self._persisted_chosen = True
        if ready.committed:
            self._delivered = True
        del self._msgs[: len(ready.messages)]
