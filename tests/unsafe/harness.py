"""A mailbox cluster for the unsafe cores: each node's core and store, messages delivered
in order unless their link is blocked, storage left out (nothing crashes here)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from consensus.messages import Message
from consensus.types import ProposalTicket
from consensus.unsafe.lww import LwwCore
from consensus.unsafe.primary_backup import PbConfig, PrimaryBackupCore
from statemachines.kv_commands import KV_CODEC, Command, Get, GetResult, Put, Write
from statemachines.unsafe_kv import LwwKv, PrimaryBackupKv


def put(key: str, value: bytes) -> bytes:
    """A session-less put command."""
    return KV_CODEC.encode(Command(0, 0, 0, 0, Write.of(Put(key, value))))


class Mailbox:
    """Cores and stores of nodes 1..n (see the module docstring)."""

    def __init__(self, cores: dict[int, Any], stores: dict[int, Any]) -> None:
        self.cores = cores
        self.stores = stores
        self.blocked: set[tuple[int, int]] = set()
        self.queue: list[Message] = []
        self.answers: dict[tuple[int, int], tuple[int, bytes]] = {}
        self.reads: dict[tuple[int, bytes], int] = {}

    def isolate(self, node: int) -> None:
        self.blocked |= {(node, o) for o in self.cores if o != node}
        self.blocked |= {(o, node) for o in self.cores if o != node}

    def heal(self) -> None:
        self.blocked.clear()

    def drain(self) -> None:
        """Handle every Ready and deliver every message until nothing moves."""
        moved = True
        while moved:
            moved = False
            for node, core in self.cores.items():
                while core.has_ready():
                    moved = True
                    rd = core.ready()
                    self.queue.extend(m for m in rd.messages if (m.src, m.dst) not in self.blocked)
                    for entry in rd.committed:
                        result = self.stores[node].apply(entry)
                        self.answers[(node, entry.index)] = (entry.term, result)
                    for state in rd.read_states:
                        self.reads[(node, state.context)] = state.index
                    core.advance(rd)
            queue, self.queue = self.queue, []
            for message in queue:
                moved = True
                self.cores[message.dst].step(message)

    def tick(self, times: int = 1, only: Callable[[int], bool] = lambda n: True) -> None:
        for _ in range(times):
            for node, core in self.cores.items():
                if only(node):
                    core.tick()
            self.drain()

    def answer(self, node: int, ticket: ProposalTicket) -> bytes | None:
        """The store's answer to a proposal (None: not answered, or dropped)."""
        term, result = self.answers.get((node, ticket.index), (None, b""))
        return result if term == ticket.term else None

    def get(self, node: int, key: str) -> bytes | None:
        result = KV_CODEC.decode(self.stores[node].query(KV_CODEC.encode(Get(key))))
        assert isinstance(result, GetResult)
        return None if result.kv is None else result.kv.value


def primary_backup(n: int = 3) -> Mailbox:
    voters = list(range(1, n + 1))
    cores = {
        i: PrimaryBackupCore(i, voters, random.Random(i), config=PbConfig(election_ticks=10))
        for i in voters
    }
    return Mailbox(cores, {i: PrimaryBackupKv() for i in voters})


def lww(clocks: dict[int, int]) -> Mailbox:
    voters = sorted(clocks)

    def clock_of(node: int) -> Callable[[], int]:
        return lambda: clocks[node]

    cores = {i: LwwCore(i, voters, random.Random(i), clock_ms=clock_of(i)) for i in voters}
    return Mailbox(cores, {i: LwwKv() for i in voters})
