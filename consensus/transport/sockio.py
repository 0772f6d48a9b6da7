"""Lean reads and writes on a connected TCP socket, for the hot paths of the transport,
the client port and the client library.

Trio's ``SocketStream`` is a checkpoint on every call: a ``receive_some`` that finds
data waiting still yields to the scheduler once, a ``send_all`` yields after writing,
and every reader first tries a ``recv`` that fails before it waits. On a busy node that
is several scheduler passes (each an ``epoll_wait`` system call) per message batch.
:class:`SocketIO` reads and writes the socket's file descriptor directly with
non-blocking ``os.read`` / ``os.write`` and waits with ``trio.lowlevel.wait_readable`` /
``wait_writable`` only when the kernel has nothing to read or no room to write:

- :meth:`SocketIO.try_send` writes what the kernel takes *now*, synchronously (no task
  switch: the caller queues the rest for its writer task);
- :meth:`SocketIO.send_all` writes everything, waiting for room as needed;
- :meth:`SocketIO.receive_some` returns data already waiting without yielding, but
  yields at least every ``reads_between_checkpoints`` calls so that a peer that never
  pauses cannot starve the other tasks. After a read that drained the socket (fewer
  bytes than asked for) it waits for readability first instead of trying a read that
  would almost surely fail: in request/response traffic that saves a system call per
  message.

It applies only to plain TCP ``trio.SocketStream`` on POSIX (:func:`SocketIO.wrap`
returns None otherwise, e.g. for TLS, and callers keep the stream API). The stream still
owns the socket: closing it (``aclose``) wakes a task waiting here with
``ClosedResourceError``. Errors are Trio's: ``BrokenResourceError`` for a broken
connection, ``ClosedResourceError`` after close.
"""

from __future__ import annotations

import errno
import os

import trio

_GONE = (errno.EBADF, errno.ENOTSOCK)


class SocketIO:
    """Direct non-blocking I/O on one connected socket (see the module docstring)."""

    __slots__ = ("_drained", "_reads", "_stream", "reads_between_checkpoints")

    def __init__(self, stream: trio.SocketStream, reads_between_checkpoints: int = 8) -> None:
        self._stream = stream
        self._reads = 0
        self._drained = False
        self.reads_between_checkpoints = reads_between_checkpoints

    @classmethod
    def wrap(cls, stream: trio.abc.Stream) -> SocketIO | None:
        """A :class:`SocketIO` for ``stream`` when it is a plain socket stream on POSIX."""
        if os.name != "posix" or type(stream) is not trio.SocketStream:
            return None
        if stream.socket.fileno() < 0:
            return None
        return cls(stream)

    def _fd_or_closed(self) -> int:
        fd = self._stream.socket.fileno()
        if fd < 0:
            raise trio.ClosedResourceError("the socket was closed")
        return fd

    def try_send(self, data: bytes | memoryview) -> int:
        """Write as much of ``data`` as the socket takes now; never blocks. Returns the
        number of bytes written (0 when the send buffer is full)."""
        fd = self._fd_or_closed()
        try:
            return os.write(fd, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno in _GONE:
                raise trio.ClosedResourceError("the socket was closed") from None
            raise trio.BrokenResourceError(f"{type(exc).__name__}: {exc}") from exc

    async def send_all(self, data: bytes | memoryview) -> None:
        """Write all of ``data``, waiting for room in the send buffer when needed.
        A checkpoint only when it has to wait."""
        view = memoryview(data)
        while view:
            sent = self.try_send(view)
            if sent:
                view = view[sent:]
            else:
                await trio.lowlevel.wait_writable(self._fd_or_closed())

    async def receive_some(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` bytes (``b""`` at end of stream), waiting only when none
        are there yet."""
        if self._drained:
            self._drained = False
            self._reads = 0
            await trio.lowlevel.wait_readable(self._fd_or_closed())
        elif self._reads >= self.reads_between_checkpoints:
            self._reads = 0
            await trio.lowlevel.checkpoint()
        while True:
            fd = self._fd_or_closed()
            try:
                data = os.read(fd, max_bytes)
            except BlockingIOError:
                self._reads = 0
                await trio.lowlevel.wait_readable(fd)
                continue
            except OSError as exc:
                if exc.errno in _GONE:
                    raise trio.ClosedResourceError("the socket was closed") from None
                raise trio.BrokenResourceError(f"{type(exc).__name__}: {exc}") from exc
            self._reads += 1
            self._drained = 0 < len(data) < max_bytes
            return data
