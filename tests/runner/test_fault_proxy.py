"""FaultProxy between two fake endpoints: frames pass whole; loss, duplication, delay
and reordering act as asked; partitions drop one direction, or cut and refuse a pair."""

from __future__ import annotations

import random
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import pytest
import trio

from consensus.transport.tcp import Address
from jepsen_lite.runner.envs.fault_proxy import FaultProxy, PacketFaults

HEADER = struct.Struct(">I")


def frame(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body


class FrameReader:
    """Reads whole frames from a stream, noting when each arrived."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    async def read(self) -> bytes | None:
        while True:
            if len(self.buffer) >= 4:
                (length,) = HEADER.unpack_from(self.buffer)
                if len(self.buffer) >= 4 + length:
                    body = bytes(self.buffer[4 : 4 + length])
                    del self.buffer[: 4 + length]
                    return body
            data = await self.stream.receive_some(65536)
            if not data:
                return None
            self.buffer += data

    async def read_all(self, quiet_s: float = 0.3) -> list[bytes]:
        """Frames until nothing arrives for ``quiet_s`` (or the stream ends)."""
        out: list[bytes] = []
        while True:
            with trio.move_on_after(quiet_s):
                body = await self.read()
                if body is None:
                    return out
                out.append(body)
                continue
            return out


@attrs.define
class Fake:
    """Node 2's fake peer port: the streams the proxy opened to it."""

    address: Address
    accepted: trio.MemoryReceiveChannel[trio.SocketStream]


@asynccontextmanager
async def proxy_pair(seed: int = 1) -> AsyncIterator[tuple[FaultProxy, Fake]]:
    send, receive = trio.open_memory_channel[trio.SocketStream](10)
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    fake = Fake(Address("127.0.0.1", listener.socket.getsockname()[1]), receive)
    unused = Address("127.0.0.1", 1)
    proxy = FaultProxy({1: unused, 2: fake.address}, random.Random(seed))

    async def accept_loop() -> None:
        while True:
            await send.send(await listener.accept())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(accept_loop)
        await nursery.start(proxy.serve)
        yield proxy, fake
        nursery.cancel_scope.cancel()


async def connect(proxy: FaultProxy, fake: Fake) -> tuple[trio.SocketStream, trio.SocketStream]:
    """Node 1 dials node 2 through the proxy; both sides exchange a handshake frame."""
    address = proxy.peer_address(1, 2)
    dialer = await trio.open_tcp_stream(address.host, address.port)
    await dialer.send_all(frame(b"hello"))
    with trio.fail_after(5):
        acceptor = await fake.accepted.receive()
        assert await FrameReader(acceptor).read() == b"hello"
        await acceptor.send_all(frame(b"ack"))
        assert await FrameReader(dialer).read() == b"ack"
    return dialer, acceptor


async def test_frames_pass_whole_even_when_split() -> None:
    async with proxy_pair() as (proxy, fake):
        dialer, acceptor = await connect(proxy, fake)
        data = b"".join(frame(bytes([i]) * (i * 100)) for i in range(1, 30))
        for i in range(0, len(data), 7):  # in pieces that split headers and bodies
            await dialer.send_all(data[i : i + 7])
        got = await FrameReader(acceptor).read_all()
        assert got == [bytes([i]) * (i * 100) for i in range(1, 30)]
        assert proxy.stats.link(1, 2).forwarded == 30  # handshake + 29


async def test_loss_drops_frames_but_never_the_handshake() -> None:
    async with proxy_pair() as (proxy, fake):
        await proxy.packet(PacketFaults(loss=1.0))
        dialer, acceptor = await connect(proxy, fake)  # the handshake still passes
        for i in range(20):
            await dialer.send_all(frame(b"x%d" % i))
        assert await FrameReader(acceptor).read_all() == []
        assert proxy.stats.link(1, 2).dropped_loss == 20
        await proxy.packet(PacketFaults(loss=0.5))
        for i in range(200):
            await dialer.send_all(frame(b"y%d" % i))
        got = await FrameReader(acceptor).read_all()
        assert 40 < len(got) < 160  # binomial(200, 0.5): far inside
        assert got == sorted(got, key=lambda b: int(b[1:]))  # order kept


async def test_duplicate_sends_every_frame_twice() -> None:
    async with proxy_pair() as (proxy, fake):
        dialer, acceptor = await connect(proxy, fake)
        await proxy.packet(PacketFaults(duplicate=1.0))
        for i in range(10):
            await dialer.send_all(frame(b"d%d" % i))
        got = await FrameReader(acceptor).read_all()
        assert got == [b"d%d" % i for i in range(10) for _ in range(2)]


async def test_delay_holds_each_frame_at_least_that_long_in_order() -> None:
    async with proxy_pair() as (proxy, fake):
        dialer, acceptor = await connect(proxy, fake)
        await proxy.packet(PacketFaults(delay_ms=150, jitter_ms=50))
        reader = FrameReader(acceptor)
        sent = trio.current_time()
        for i in range(20):
            await dialer.send_all(frame(b"%02d" % i))
        got = [await reader.read() for _ in range(20)]
        assert trio.current_time() - sent >= 0.150  # none left before its delay
        assert got == [b"%02d" % i for i in range(20)]
        assert proxy.stats.link(1, 2).delayed == 20


async def test_reorder_lets_later_frames_overtake() -> None:
    async with proxy_pair(seed=3) as (proxy, fake):
        dialer, acceptor = await connect(proxy, fake)
        await proxy.packet(PacketFaults(reorder=0.5, reorder_window_ms=100))
        await dialer.send_all(b"".join(frame(b"%03d" % i) for i in range(100)))
        got = await FrameReader(acceptor).read_all()
        assert sorted(got) == [b"%03d" % i for i in range(100)]  # nothing lost
        assert got != sorted(got)
        assert proxy.stats.link(1, 2).reordered > 20


async def test_one_way_partition_drops_one_direction_only() -> None:
    async with proxy_pair() as (proxy, fake):
        dialer, acceptor = await connect(proxy, fake)
        await proxy.partition(frozenset({(1, 2)}))
        await dialer.send_all(frame(b"lost"))
        await acceptor.send_all(frame(b"passes"))
        assert await FrameReader(dialer).read() == b"passes"
        assert await FrameReader(acceptor).read_all() == []
        await proxy.heal()
        await dialer.send_all(frame(b"after-heal"))
        assert await FrameReader(acceptor).read() == b"after-heal"
        assert proxy.stats.link(1, 2).dropped_partition == 1


async def test_two_way_partition_cuts_and_refuses_until_healed() -> None:
    async with proxy_pair() as (proxy, fake):
        dialer, acceptor = await connect(proxy, fake)
        await proxy.partition(frozenset({(1, 2), (2, 1)}))
        with trio.fail_after(5):
            assert await FrameReader(dialer).read() is None  # cut
            assert await FrameReader(acceptor).read() is None
        address = proxy.peer_address(1, 2)
        again = await trio.open_tcp_stream(address.host, address.port)
        with trio.fail_after(5):
            try:
                refused = await again.receive_some(10) == b""  # closed at once
            except trio.BrokenResourceError:  # or reset
                refused = True
            assert refused
        assert proxy.stats.cut == 1 and proxy.stats.refused == 1
        await proxy.heal()
        dialer, acceptor = await connect(proxy, fake)
        await dialer.send_all(frame(b"ok"))
        assert await FrameReader(acceptor).read() == b"ok"


async def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="loss must be in"):
        PacketFaults(loss=1.5)
    with pytest.raises(ValueError, match="delay_ms must be >= 0"):
        PacketFaults(delay_ms=-1)
    async with proxy_pair() as (proxy, _):
        with pytest.raises(ValueError, match="without a listener"):
            await proxy.partition(frozenset({(1, 7)}))
        assert proxy.peer_args(1) == ["--peer", f"2={proxy.peer_address(1, 2)}"]
