"""The key-value store over ``paxos-lwt`` as a conformance-suite store: a hand-driven
3-node cluster of real ``LwtCore``s (``tests/lwt/harness.py``) with the store's change
function, requests routed by ``KvRegisters`` and coordinated by each node in turn."""

from __future__ import annotations

from lwt.harness import Net  # tests/lwt (the test root is on sys.path)

from consensus.lwt import LwtOp, LwtOpKind
from consensus.lwt.routing import Answer
from statemachines.kv_commands import (
    KV_CODEC,
    Command,
    KvConfig,
    ReadOp,
    Result,
    Txn,
    Write,
    WriteOp,
    decode_result,
)
from statemachines.kv_lwt import KvRegisters


class LwtReplica:
    def __init__(self, config: KvConfig | None = None, nodes: int = 3) -> None:
        self.machine = KvRegisters(config)
        self.net = Net(nodes, change=self.machine.change)
        self.calls = 0
        self.rounds = 0

    def serve(self, request: bytes, *, write: bool) -> Result:
        routed = self.machine.route(request, write=write)
        if isinstance(routed, Answer):
            return decode_result(routed.data)
        self.calls += 1
        node = self.net.voters[self.calls % len(self.net.voters)]
        outcome = self.net.run(node, LwtOp(LwtOpKind.APPLY, routed.key, routed.command))
        assert outcome.ok, outcome
        self.rounds += 1
        return decode_result(self.machine.answer(routed.command, outcome.value))

    def write(self, op: WriteOp | Txn) -> Result:
        return self.serve(KV_CODEC.encode(Command(0, 0, 0, 0, Write.of(op))), write=True)

    def read(self, op: ReadOp) -> Result:
        return self.serve(KV_CODEC.encode(op), write=False)
