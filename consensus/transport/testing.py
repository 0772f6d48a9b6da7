"""A conformance suite every transport runs: ``await check_transport(maker)``.

``maker(node_ids)`` is an async context manager that yields connected transports, one
per id, with default bounds and no injected faults. The suite checks what the runtime
relies on: messages arrive intact and in order per link (also through ``send_batch``),
sends never block, every drop is counted, a closed transport refuses to send, a large
message gets through, and the ``on_deliver`` callback runs once per delivery.
It raises ``AssertionError`` naming the failed property.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager

import trio

from ..messages import AppendEntries, Heartbeat, Message
from ..types import Entry, NodeId
from .base import Transport

Maker = Callable[[Sequence[NodeId]], AbstractAsyncContextManager[Mapping[NodeId, Transport]]]

WAIT_S = 20.0


async def _receive(transport: Transport, count: int) -> list[Message]:
    got: list[Message] = []
    with trio.fail_after(WAIT_S):
        while len(got) < count:
            got.append(await transport.inbox.receive())
    return got


def _heartbeat(src: NodeId, dst: NodeId, n: int) -> Heartbeat:
    return Heartbeat(src=src, dst=dst, term=1, commit=n, context=n.to_bytes(4, "big"))


async def check_delivery(maker: Maker) -> None:
    """Every node reaches every other node, with the message unchanged."""
    async with maker((1, 2, 3)) as nodes:
        for src in nodes:
            for dst in nodes:
                if src != dst:
                    assert nodes[src].send(_heartbeat(src, dst, src * 10 + dst)), "send refused"
        for dst, transport in nodes.items():
            got = await _receive(transport, len(nodes) - 1)
            want = {_heartbeat(src, dst, src * 10 + dst) for src in nodes if src != dst}
            assert set(got) == want, f"node {dst} received {got}, want {want}"


async def check_fifo(maker: Maker) -> None:
    """Without faults, one link delivers in send order."""
    async with maker((1, 2)) as nodes:
        count = 500
        for n in range(count):
            assert nodes[1].send(_heartbeat(1, 2, n))
            if n % 50 == 0:
                await trio.sleep(0)
        got = await _receive(nodes[2], count)
        commits = [m.commit for m in got if isinstance(m, Heartbeat)]
        assert commits == list(range(count)), "messages on one link were reordered"


async def check_unknown_peer(maker: Maker) -> None:
    """A message for a node the transport does not know is dropped and counted."""
    async with maker((1, 2)) as nodes:
        before = nodes[1].stats.dropped_unknown_peer
        assert nodes[1].send(_heartbeat(1, 99, 0)) is False, "send to unknown node 99 accepted"
        assert nodes[1].stats.dropped_unknown_peer == before + 1, "unknown-peer drop not counted"


async def check_never_blocks(maker: Maker) -> None:
    """A burst far beyond every bound returns at once; each message is counted once as
    delivered or dropped, and the link still works afterwards."""
    async with maker((1, 2)) as nodes:
        a, b = nodes[1], nodes[2]
        burst = 20_000
        accepted = sum(a.send(_heartbeat(1, 2, n)) for n in range(burst))  # no checkpoint
        assert accepted + a.stats.dropped_queue_full == burst, (
            "a send was neither queued nor counted"
        )
        with trio.fail_after(WAIT_S):
            while b.stats.received + b.stats.dropped_inbox_full < accepted:
                await trio.sleep(0.01)
        drained = 0
        while True:
            try:
                b.inbox.receive_nowait()
            except trio.WouldBlock:
                break
            drained += 1
        assert drained == b.stats.received, "inbox count differs from what was received"
        assert a.send(_heartbeat(1, 2, 7)), "link dead after a burst"
        (last,) = await _receive(b, 1)
        assert last == _heartbeat(1, 2, 7)


async def check_large_message(maker: Maker) -> None:
    """A 1 MiB entry crosses intact."""
    async with maker((1, 2)) as nodes:
        payload = bytes(range(256)) * 4096
        message = AppendEntries(
            src=1,
            dst=2,
            term=3,
            prev_index=0,
            prev_term=0,
            entries=(Entry(index=1, term=3, data=payload),),
            commit=0,
        )
        assert nodes[1].send(message)
        (got,) = await _receive(nodes[2], 1)
        assert got == message, "large message changed in transit"


async def check_send_batch(maker: Maker) -> None:
    """``send_batch`` delivers like ``send``: mixed with single sends, in order per link,
    also when a batch is far larger than what a socket takes at once."""
    async with maker((1, 2, 3)) as nodes:
        a = nodes[1]
        payload = bytes(range(256)) * 256  # 64 KiB per message: batches overflow buffers
        sent: dict[NodeId, list[int]] = {2: [], 3: []}
        n = 0
        for round_ in range(20):
            batch: list[Message] = []
            for dst in (2, 3):
                for _ in range(3):
                    n += 1
                    batch.append(
                        AppendEntries(1, dst, 1, n, 0, (Entry(1, 1, payload),), 0)
                        if round_ % 4 == 0
                        else _heartbeat(1, dst, n)
                    )
                    sent[dst].append(n)
            a.send_batch(batch)
            n += 1
            assert a.send(_heartbeat(1, 2, n)), "send refused"
            sent[2].append(n)
            if round_ % 5 == 0:
                await trio.sleep(0)
        for dst in (2, 3):
            got = await _receive(nodes[dst], len(sent[dst]))
            order = [
                m.prev_index if isinstance(m, AppendEntries) else m.commit
                for m in got
                if isinstance(m, AppendEntries | Heartbeat)
            ]
            assert order == sent[dst], f"node {dst} got {order}, want {sent[dst]}"


async def check_on_deliver(maker: Maker) -> None:
    """The ``on_deliver`` callback runs once per message put in the inbox, and stops
    after being removed."""
    async with maker((1, 2)) as nodes:
        calls = 0

        def count() -> None:
            nonlocal calls
            calls += 1

        nodes[2].on_deliver(count)
        for n in range(5):
            assert nodes[1].send(_heartbeat(1, 2, n))
        await _receive(nodes[2], 5)
        assert calls == 5, f"on_deliver ran {calls} times for 5 messages"
        nodes[2].on_deliver(None)
        assert nodes[1].send(_heartbeat(1, 2, 9))
        await _receive(nodes[2], 1)
        assert calls == 5, "on_deliver ran after it was removed"


async def check_close(maker: Maker) -> None:
    """After ``aclose`` a transport refuses to send (and counts it); closing twice is fine."""
    async with maker((1, 2)) as nodes:
        await nodes[1].aclose()
        await nodes[1].aclose()
        assert nodes[1].send(_heartbeat(1, 2, 0)) is False, "closed transport accepted a send"
        assert nodes[1].stats.dropped_closed >= 1


CHECKS = (
    check_delivery,
    check_fifo,
    check_unknown_peer,
    check_never_blocks,
    check_large_message,
    check_send_batch,
    check_on_deliver,
    check_close,
)


async def check_transport(maker: Maker) -> None:
    """Run every check of the suite against transports made by ``maker``."""
    for check in CHECKS:
        await check(maker)
