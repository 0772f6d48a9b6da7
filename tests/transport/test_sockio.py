"""Direct socket I/O (``SocketIO``): partial writes, waiting for room and data, end of
stream, closed sockets, and which streams it applies to."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from consensus.transport.sockio import SocketIO


def _pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    a, b = trio.socket.socketpair()
    return trio.SocketStream(a), trio.SocketStream(b)


async def test_try_send_writes_what_fits_and_receive_reads_it() -> None:
    left, right = _pair()
    out, into = SocketIO(left), SocketIO(right)
    assert out.try_send(b"hello") == 5
    assert await into.receive_some(100) == b"hello"
    big = b"x" * (8 << 20)  # far more than a socket buffer
    sent = out.try_send(big)
    assert 0 < sent < len(big)
    assert out.try_send(big) == 0  # full: nothing taken, nothing blocks
    await left.aclose()
    await right.aclose()


async def test_send_all_waits_for_room_and_everything_arrives() -> None:
    left, right = _pair()
    out, into = SocketIO(left), SocketIO(right)
    data = bytes(range(256)) * 20_000  # ~5 MiB
    received = bytearray()

    async def read_all() -> None:
        while len(received) < len(data):
            chunk = await into.receive_some(1 << 16)
            assert chunk, "end of stream before all data arrived"
            received.extend(chunk)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_all)
        await out.send_all(data)
    assert bytes(received) == data
    await left.aclose()
    assert await into.receive_some(10) == b""  # the peer closed: end of stream
    await right.aclose()


async def test_receive_yields_now_and_then_even_when_data_is_waiting() -> None:
    left, right = _pair()
    into = SocketIO(right, reads_between_checkpoints=3)
    await left.send_all(b"x" * 10)
    await trio.sleep(0.05)
    with trio.testing.assert_no_checkpoints():  # data is there: no scheduler pass
        reads = [await into.receive_some(1) for _ in range(3)]
    assert reads == [b"x"] * 3
    with trio.testing.assert_checkpoints():
        assert await into.receive_some(1) == b"x"  # the fourth read is a checkpoint
    await left.aclose()
    await right.aclose()


async def test_closed_socket_raises_closed_resource_error() -> None:
    left, right = _pair()
    io = SocketIO(left)
    await left.aclose()
    with pytest.raises(trio.ClosedResourceError, match="the socket was closed"):
        io.try_send(b"x")
    with pytest.raises(trio.ClosedResourceError):
        await io.receive_some(10)
    await right.aclose()


async def test_waiting_reader_is_woken_by_close() -> None:
    left, right = _pair()
    io = SocketIO(right)

    async def close_soon() -> None:
        await trio.sleep(0.05)
        await right.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(close_soon)
        with pytest.raises(trio.ClosedResourceError):
            await io.receive_some(10)
    await left.aclose()


async def test_writing_to_a_reset_connection_is_a_broken_resource() -> None:
    left, right = _pair()
    io = SocketIO(left)
    await right.aclose()
    with pytest.raises(trio.BrokenResourceError, match=r"BrokenPipeError|ConnectionResetError"):
        for _ in range(100):
            io.try_send(b"x" * 65536)
    await left.aclose()


async def test_wrap_applies_only_to_plain_socket_streams() -> None:
    left, right = _pair()
    assert isinstance(SocketIO.wrap(left), SocketIO)
    send, _receive = trio.testing.memory_stream_pair()
    assert SocketIO.wrap(send) is None
    await left.aclose()
    assert SocketIO.wrap(left) is None  # closed
    await right.aclose()
