"""Client sessions: deduplication of retried commands by (client_id, seq).

Every command carries the client's id and a sequence number that the client never
reuses for a different command. A retry (after a timeout, a lost answer or a leader
change) carries the same pair, so when the first attempt was already applied the table
returns that attempt's result instead of applying the command again.

The table keeps the results of the last ``window`` commands applied per client and at
most ``clients_max`` clients, evicting the client whose last command is oldest in log
order. Eviction depends only on the applied commands, so every replica evicts the same
sessions. A command older than its client's window is answered with an error, never
applied: the client has long moved on from it. ``client_id`` 0 means "no session": such
commands are applied every time they are committed.

A later version can add exactly-once guarantees across evictions (session registration
and expiry through the log); the command format already carries what that needs.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

WINDOW_DEFAULT = 128
CLIENTS_MAX_DEFAULT = 10_000


class _Session:
    __slots__ = ("floor", "results")

    def __init__(self) -> None:
        self.results: dict[int, bytes] = {}
        self.floor = 0  # seqs <= floor were evicted from the window


class SessionTable:
    def __init__(self, window: int = WINDOW_DEFAULT, clients_max: int = CLIENTS_MAX_DEFAULT):
        if window < 1 or clients_max < 1:
            raise ValueError("session window and clients_max must be >= 1")
        self.window = window
        self.clients_max = clients_max
        self._sessions: OrderedDict[int, _Session] = OrderedDict()

    def lookup(self, client_id: int, seq: int) -> bytes | bool | None:
        """The cached result of (client_id, seq); ``None`` if it is new; ``False`` if it
        is older than the client's window (stale, must not be applied)."""
        if client_id == 0:
            return None
        session = self._sessions.get(client_id)
        if session is None:
            return None
        if seq in session.results:
            return session.results[seq]
        if seq <= session.floor:
            return False
        return None

    def record(self, client_id: int, seq: int, result: bytes) -> None:
        """Remember the result of a newly applied command."""
        if client_id == 0:
            return
        session = self._sessions.get(client_id)
        if session is None:
            session = self._sessions[client_id] = _Session()
            while len(self._sessions) > self.clients_max:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(client_id)
        session.results[seq] = result
        while len(session.results) > self.window:
            # evict in apply order (the same on every replica): usually the lowest seq
            oldest = next(iter(session.results))
            del session.results[oldest]
            session.floor = max(session.floor, oldest)

    def __len__(self) -> int:
        return len(self._sessions)

    # -- snapshots ----------------------------------------------------------------------
    def dump(self) -> list[Any]:
        """The table in apply order (clients and results), so that a replica restored from
        a snapshot evicts exactly as the replicas that applied the commands."""
        return [[cid, s.floor, list(s.results.items())] for cid, s in self._sessions.items()]

    def load(self, data: Any) -> None:
        """Replace the table with ``dump()`` output; ``ValueError`` if it is malformed."""
        sessions: OrderedDict[int, _Session] = OrderedDict()
        try:
            for cid, floor, results in data:
                session = _Session()
                session.floor = int(floor)
                session.results = {int(seq): bytes(res) for seq, res in results}
                sessions[int(cid)] = session
        except (TypeError, ValueError) as exc:
            raise ValueError(f"malformed session table in snapshot: {exc}") from None
        self._sessions = sessions
