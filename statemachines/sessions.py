"""Exactly-once client sessions (Raft dissertation, section 6.3).

A client registers a session through the log (:class:`~.kv_commands.RegisterSession`);
its id is that entry's log index, so every replica gives the same id. Each later command
carries ``(session_id, seq)``: the table saves the result of every applied command, and
a retry of an applied command gets the saved result back instead of applying again.

Results are discarded when the client acknowledges them: each command carries
``ack_seq``, the client's lowest sequence number whose result it has not yet received;
results of lower numbers are dropped, and a command with such a number is refused
(never applied twice).

Time comes from the log, never from a replica's own clock: the table's clock is the
largest ``now_ms`` it was given by :meth:`SessionTable.tick` (and the calls that tick),
which the store takes from the leader's clock ticks or from the commands' proposers
(``KvConfig.clock``). A session with no
command for longer than ``timeout_ms`` of that clock expires at apply time, identically
on every replica; so does the least recently active session when a registration would
exceed ``sessions_max``. A command of an unknown or expired session is refused.

Everything is kept in apply order (an ordered dict by last activity), and snapshots
list it in that order, so a restored replica expires exactly as the others do.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any


class _Session:
    __slots__ = ("ack_seq", "last_ms", "results")

    def __init__(self, last_ms: int) -> None:
        self.last_ms = last_ms
        self.ack_seq = 0  # results of seqs below this were acknowledged and dropped
        self.results: dict[int, bytes] = {}


class SessionError(Exception):
    """Why a command cannot be applied in its session (becomes an error result)."""

    def __init__(self, message: str, limit: str = "") -> None:
        super().__init__(message)
        self.limit = limit


class SessionTable:
    """The sessions of one store. ``timeout_ms``, ``sessions_max`` and ``results_max``
    (unacknowledged results per session) must be the same on every replica."""

    def __init__(
        self, timeout_ms: int = 600_000, sessions_max: int = 10_000, results_max: int = 1024
    ) -> None:
        if timeout_ms < 1 or sessions_max < 1 or results_max < 1:
            raise ValueError("session timeout, sessions_max and results_max must be >= 1")
        self.timeout_ms = timeout_ms
        self.sessions_max = sessions_max
        self.results_max = results_max
        self.clock_ms = 0
        self._sessions: OrderedDict[int, _Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, session_id: int) -> bool:
        return session_id in self._sessions

    def tick(self, now_ms: int) -> None:
        """Advance the clock to ``now_ms`` (if later) and expire idle sessions."""
        if now_ms > self.clock_ms:
            self.clock_ms = now_ms
        horizon = self.clock_ms - self.timeout_ms
        sessions = self._sessions
        while sessions:
            first = next(iter(sessions.values()))
            if first.last_ms >= horizon:
                break
            sessions.popitem(last=False)

    def register(self, session_id: int, now_ms: int) -> None:
        """Open session ``session_id`` (the registering entry's index)."""
        self.tick(now_ms)
        sessions = self._sessions
        sessions[session_id] = _Session(self.clock_ms)
        sessions.move_to_end(session_id)
        while len(sessions) > self.sessions_max:
            sessions.popitem(last=False)

    def close(self, session_id: int, now_ms: int) -> bool:
        """End a session; False if it was not open."""
        self.tick(now_ms)
        return self._sessions.pop(session_id, None) is not None

    def begin(self, session_id: int, seq: int, ack_seq: int, now_ms: int) -> bytes | None:
        """Start applying command ``seq`` of ``session_id``: the saved result if it was
        applied already, None if it is new (then call :meth:`finish` with its result).
        ``SessionError`` if it must be refused (nothing is saved then)."""
        self.tick(now_ms)
        session = self._sessions.get(session_id)
        if session is None:
            raise SessionError(
                f"session {session_id} is unknown or expired; register a new session"
            )
        if ack_seq > seq:
            raise SessionError(f"ack_seq {ack_seq} is above the command's seq {seq}")
        session.last_ms = self.clock_ms
        self._sessions.move_to_end(session_id)
        if ack_seq > session.ack_seq:
            session.ack_seq = ack_seq
            results = session.results
            for old in [s for s in results if s < ack_seq]:
                del results[old]
        saved = session.results.get(seq)
        if saved is not None:
            return saved
        if seq < session.ack_seq:
            raise SessionError(
                f"request {seq} of session {session_id} was already acknowledged; not applied"
            )
        if len(session.results) >= self.results_max:
            raise SessionError(
                f"session {session_id} holds {len(session.results)} unacknowledged results "
                f"(limit session_results_max={self.results_max})",
                limit="session_results_max",
            )
        return None

    def finish(self, session_id: int, seq: int, result: bytes) -> None:
        """Save the result of the command :meth:`begin` found new."""
        self._sessions[session_id].results[seq] = result

    def saved(self, session_id: int) -> dict[int, bytes]:
        """A copy of the results a session holds (for tests and tools)."""
        session = self._sessions.get(session_id)
        return dict(session.results) if session is not None else {}

    # -- snapshots ----------------------------------------------------------------------
    def dump(self) -> list[Any]:
        """``[clock_ms, [[id, last_ms, ack_seq, [[seq, result], ...]], ...]]``: sessions
        in activity order (the expiry order), results by seq."""
        return [
            self.clock_ms,
            [
                [sid, s.last_ms, s.ack_seq, [[seq, s.results[seq]] for seq in sorted(s.results)]]
                for sid, s in self._sessions.items()
            ],
        ]

    def load(self, data: Any) -> None:
        """Replace the table with :meth:`dump` output; ``ValueError`` if malformed."""

        def natural(x: Any, what: str) -> int:
            if type(x) is not int or x < 0:
                raise ValueError(f"malformed session table in snapshot: {what} {x!r}")
            return x

        if not isinstance(data, list) or len(data) != 2 or not isinstance(data[1], list):
            raise ValueError("malformed session table in snapshot")
        clock = natural(data[0], "clock")
        sessions: OrderedDict[int, _Session] = OrderedDict()
        last = 0
        for item in data[1]:
            if not isinstance(item, list) or len(item) != 4 or not isinstance(item[3], list):
                raise ValueError("malformed session in snapshot")
            sid = natural(item[0], "session id")
            session = _Session(natural(item[1], "last activity"))
            if session.last_ms < last or session.last_ms > clock or sid in sessions:
                raise ValueError(f"session {sid} out of order in snapshot")
            last = session.last_ms
            session.ack_seq = natural(item[2], "ack_seq")
            for pair in item[3]:
                if not isinstance(pair, list) or len(pair) != 2 or type(pair[1]) is not bytes:
                    raise ValueError(f"malformed result of session {sid} in snapshot")
                seq = natural(pair[0], "seq")
                if seq < session.ack_seq or seq in session.results:
                    raise ValueError(f"bad result seq {seq} of session {sid} in snapshot")
                session.results[seq] = pair[1]
            sessions[sid] = session
        self.clock_ms = clock
        self._sessions = sessions
