"""The client connection's sends: a lone request on an idle connection is written by
its own task, but the requests that follow a burst of answers (one read answering
several) leave together, in one write (see ``consensus.client.client._Connection``)."""

from __future__ import annotations

import math

import trio

from consensus.client.client import _Connection
from consensus.client.protocol import CLIENT_CODEC, ProposeRequest, ResultReply
from consensus.codec import FrameDecoder
from consensus.runtime.local import free_ports
from consensus.transport.sockio import SocketIO


async def _answer_in_bursts(
    stream: trio.SocketStream, burst: list[int], got: trio.MemorySendChannel[int]
) -> None:
    """Reads requests; answers them ``burst[0]`` at a time, in one write each time."""
    decoder = FrameDecoder(CLIENT_CODEC)
    waiting: list[int] = []
    while True:
        data = await stream.receive_some(65536)
        if not data:
            return
        decoder.feed(data)
        for request in decoder.records():
            waiting.append(request.request_id)
            await got.send(request.request_id)
        if len(waiting) >= burst[0]:
            replies = [CLIENT_CODEC.encode_frame(ResultReply(rid, b"ok")) for rid in waiting]
            waiting.clear()
            await stream.send_all(b"".join(replies))


async def test_requests_after_a_burst_of_answers_leave_in_one_write() -> None:
    port = free_ports(1)[0]
    listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
    got_send, got_recv = trio.open_memory_channel[int](math.inf)
    burst = [4]
    async with trio.open_nursery() as nursery:

        async def serve(stream: trio.SocketStream) -> None:
            async with stream:
                await _answer_in_bursts(stream, burst, got_send)

        await nursery.start(trio.serve_listeners, serve, listeners)
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        conn = _Connection("test", stream)
        sends: list[int] = []  # frames per write to the socket
        conn._io = _CountingIO(stream, sends)
        nursery.start_soon(conn.read_loop)
        nursery.start_soon(conn.write_loop)
        nursery.start_soon(conn.timer_loop)

        async def two_requests(n: int) -> None:
            deadline = trio.current_time() + 10
            for k in range(2):
                reply = await conn.request(ProposeRequest(1000 + 10 * n + k, b"x"), deadline)
                assert isinstance(reply, ResultReply) and reply.result == b"ok"

        async with trio.open_nursery() as clients:
            for n in range(4):
                clients.start_soon(two_requests, n)
        # Four first requests, then the four that follow the burst of four answers: the
        # latter in one write (before the change the first of them went alone).
        assert sends[-1] == 4, sends
        assert sum(sends) == 8
        # An idle connection: a lone request is written at once, by its own task.
        burst[0] = 1
        sends.clear()
        reply = await conn.request(ProposeRequest(1099, b"x"), trio.current_time() + 10)
        assert isinstance(reply, ResultReply)
        assert sends == [1]
        got_send.close()
        assert len([rid async for rid in got_recv]) == 9
        conn.close()
        nursery.cancel_scope.cancel()


class _CountingIO(SocketIO):
    """Notes how many request frames each write to the socket carries."""

    def __init__(self, stream: trio.SocketStream, sends: list[int]) -> None:
        super().__init__(stream)
        self.sends = sends

    def try_send(self, data: bytes | memoryview) -> int:
        self.sends.append(len(data) // len(_frame(1000)))
        return super().try_send(data)


def _frame(rid: int) -> bytes:
    return CLIENT_CODEC.encode_frame(ProposeRequest(rid, b"x"))
