"""The messages of the next ``Ready``, with the leader's per-peer batching.

Two lists. ``early`` holds the leader's phase-2 traffic (``Accept``, ``Commit``): it
vouches for nothing on the leader's own disk, so the driver may send it while it persists
the batch (``Ready.early_messages``), overlapping the leader's fsync with its followers'.
That is safe because the leader's own vote only ever completes a majority through an
``Accepted`` that answers this very batch, and the driver handles that answer's effects
(applying, acknowledging, announcing) in a later batch, after this one is durable.
``msgs`` holds everything else (Promises, Accepteds, Nacks: replies that vouch for the
local acceptor state), sent only after persisting.

While a batch is open (between two ``ready()`` calls) every Accept for one peer goes into
one ``Accept`` message (up to ``max_entries``), and a moved commit index updates the
``commit`` of that Accept, or of one ``Commit`` message per peer, instead of adding
another. ``ready()`` closes the batch (:meth:`close`): a message handed to the driver is
never changed afterwards. Both lists are drained by every ``advance``, so they hold at
most what one batch of inputs produced.
"""

from __future__ import annotations

import attrs

from ..messages import Accept, Ballot, Commit, PaxosMessage
from ..types import Entry, Index, NodeId


class Outbox:
    __slots__ = ("_open_accept", "_open_commit", "early", "msgs")

    def __init__(self) -> None:
        self.msgs: list[PaxosMessage] = []
        self.early: list[PaxosMessage] = []
        self._open_accept: dict[NodeId, int] = {}
        self._open_commit: dict[NodeId, int] = {}

    def __bool__(self) -> bool:
        return bool(self.msgs or self.early)

    def send(self, msg: PaxosMessage) -> None:
        self.msgs.append(msg)

    def accept(
        self,
        src: NodeId,
        peer: NodeId,
        ballot: Ballot,
        entry: Entry,
        commit: Index,
        max_entries: int,
    ) -> None:
        """Send ``entry`` to ``peer`` in the open Accept to it, or in a new one."""
        pos = self._open_accept.get(peer)
        if pos is not None:
            m = self.early[pos]
            if isinstance(m, Accept) and m.ballot == ballot and len(m.entries) < max_entries:
                self.early[pos] = Accept(src, peer, ballot, (*m.entries, entry), commit)
                return
        self._open_accept[peer] = len(self.early)
        self.early.append(Accept(src, peer, ballot, (entry,), commit))

    def announce(self, src: NodeId, peer: NodeId, ballot: Ballot, commit: Index) -> None:
        """Tell ``peer`` the commit index, merged into an open Accept or Commit to it."""
        for opened in (self._open_accept, self._open_commit):
            pos = opened.get(peer)
            if pos is None:
                continue
            m = self.early[pos]
            if isinstance(m, Accept | Commit) and m.ballot == ballot:
                if m.commit < commit:
                    self.early[pos] = attrs.evolve(m, commit=commit)
                return
        self._open_commit[peer] = len(self.early)
        self.early.append(Commit(src, peer, ballot, commit))

    def close(self) -> None:
        """The batch so far is handed out: never merge into it again."""
        self._open_accept.clear()
        self._open_commit.clear()

    def taken(self, early: int, msgs: int) -> None:
        """The driver handled the first ``early`` early messages and ``msgs`` messages."""
        del self.msgs[:msgs]
        del self.early[:early]
        for opened in (self._open_accept, self._open_commit):
            for peer, pos in list(opened.items()):
                if pos < early:
                    del opened[peer]
                else:
                    opened[peer] = pos - early
