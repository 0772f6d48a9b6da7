"""A ``KvStore`` over one :class:`KvStateMachine`: every write becomes a log entry in
one registered session, reads go through ``query``; the log is kept for replays."""

from __future__ import annotations

from consensus.types import Entry
from statemachines.kv import KvStateMachine
from statemachines.kv_commands import (
    KV_CODEC,
    Command,
    KvConfig,
    ReadOp,
    RegisterSession,
    Result,
    SessionResult,
    Txn,
    Write,
    WriteOp,
    decode_result,
)


class Replica:
    def __init__(self, config: KvConfig | None = None, session: bool = True) -> None:
        self.machine = KvStateMachine(config or KvConfig())
        self.log: list[Entry] = []
        self.now_ms = 1000
        self.seq = 0
        self.session_id = 0
        if session:
            result = self.append(KV_CODEC.encode(RegisterSession(self.now_ms)))
            assert isinstance(result, SessionResult)
            self.session_id = result.session_id

    def append(self, data: bytes) -> Result:
        entry = Entry(len(self.log) + 1, 1, data)
        self.log.append(entry)
        return decode_result(self.machine.apply(entry))

    def command(self, op: WriteOp | Txn) -> Command:
        self.seq += 1
        self.now_ms += 1
        return Command(self.session_id, self.seq, self.seq, self.now_ms, Write.of(op))

    def write(self, op: WriteOp | Txn) -> Result:
        return self.append(KV_CODEC.encode(self.command(op)))

    def read(self, op: ReadOp) -> Result:
        return decode_result(self.machine.query(KV_CODEC.encode(op)))
