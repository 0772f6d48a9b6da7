"""A small HTTP/1.1 JSON client over Trio, for etcd's gRPC gateway (``POST /v3/...``).

Only what the gateway needs: ``POST`` of a JSON body, a response with ``Content-Length``
or chunked transfer coding, keep-alive. Standard library and Trio only.

:class:`HttpConnection` is one TCP connection to one member. The errors say how far a
request got, which decides whether it may be sent again:

- :class:`NotConnected` -- the connection could not be opened: the request was never
  sent, so it is safe to send it anywhere else;
- :class:`~consensus.client.client.ClientTimeout` -- no complete answer within the time
  bound; :class:`~consensus.client.client.ConnectionLost` -- the connection broke after
  the request was (perhaps partly) sent. For a write the outcome is unknown;
- :class:`EtcdApiError` -- etcd answered with an error (the gateway's JSON error: gRPC
  ``code`` and ``message``).

After a timeout or a broken connection the connection is closed (a late answer must
never be read as the answer to the next request); :attr:`HttpConnection.closed` then
tells the owner to drop it.
"""

from __future__ import annotations

import json
from typing import Any

import trio

from consensus.client.client import ClientError, ClientTimeout, ConnectionLost

HEADER_BYTES_MAX = 64 * 1024
BODY_BYTES_MAX = 64 * 1024 * 1024

GRPC_INVALID_ARGUMENT = 3
"""The gRPC status etcd gives to requests it refuses before proposing them (a key
written twice in a transaction, an empty key): nothing was applied."""


class NotConnected(ClientError):
    """The connection could not be opened; the request was not sent."""


class EtcdApiError(ClientError):
    """etcd answered ``status`` with a gRPC error ``code`` and ``message``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"etcd error {code} (HTTP {status}): {message}")
        self.status = status
        self.code = code
        self.message = message


class HttpConnection:
    """One keep-alive connection to ``host:port``; :meth:`post` sends one request at a
    time (the owner must not share a connection between concurrent calls)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.closed = False
        self._stream: trio.SocketStream | None = None
        self._buffer = bytearray()

    async def connect(self, timeout_s: float) -> None:
        """Open the TCP connection (at most ``timeout_s``); :class:`NotConnected`."""
        if self._stream is not None:
            return
        try:
            with trio.fail_after(timeout_s):
                self._stream = await trio.open_tcp_stream(self.host, self.port)
        except (OSError, trio.TooSlowError) as exc:
            self.closed = True
            raise NotConnected(f"cannot connect to {self.host}:{self.port}: {exc}") from None

    async def post(self, path: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """``POST path`` with the JSON ``body``; the decoded JSON answer. Connects first
        if needed (:class:`NotConnected`); see the module doc for the other errors."""
        if self.closed:
            raise NotConnected(f"connection to {self.host}:{self.port} is closed")
        deadline = trio.current_time() + timeout_s
        await self.connect(timeout_s)
        assert self._stream is not None
        payload = json.dumps(body, separators=(",", ":")).encode()
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        try:
            with trio.fail_at(deadline):
                await self._stream.send_all(request)
                status, headers, raw = await self._response()
        except trio.TooSlowError:
            await self.aclose()
            raise ClientTimeout(
                f"no answer from {self.host}:{self.port} to {path} within {timeout_s:g} s"
            ) from None
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError, _Eof) as exc:
            await self.aclose()
            raise ConnectionLost(f"connection to {self.host}:{self.port} lost: {exc}") from None
        except BaseException:
            await self.aclose()  # cancelled mid-request: the answer must not be read later
            raise
        if headers.get("connection", "").lower() == "close":
            await self.aclose()
        return _decode(status, raw, f"{self.host}:{self.port}{path}")

    async def aclose(self) -> None:
        """Close the connection (idempotent)."""
        self.closed = True
        stream, self._stream = self._stream, None
        if stream is not None:
            await trio.aclose_forcefully(stream)

    # -- reading the response ---------------------------------------------------------

    async def _fill(self) -> None:
        assert self._stream is not None
        data = await self._stream.receive_some(64 * 1024)
        if not data:
            raise _Eof("closed by the server")
        self._buffer += data

    async def _until(self, marker: bytes, limit: int) -> bytes:
        while True:
            end = self._buffer.find(marker)
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + len(marker)]
                return line
            if len(self._buffer) > limit:
                raise _Eof("response header too long")
            await self._fill()

    async def _exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            await self._fill()
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    async def _response(self) -> tuple[int, dict[str, str], bytes]:
        head = (await self._until(b"\r\n\r\n", HEADER_BYTES_MAX)).decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise _Eof(f"not an HTTP response: {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._chunked()
        else:
            length = int(headers.get("content-length", "0") or 0)
            if length > BODY_BYTES_MAX:
                raise _Eof(f"response body of {length} bytes")
            body = await self._exactly(length)
        return int(parts[1]), headers, body

    async def _chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = (await self._until(b"\r\n", HEADER_BYTES_MAX)).decode("latin-1")
            size = int(size_line.split(";")[0].strip() or "0", 16)
            if size == 0:
                while await self._until(b"\r\n", HEADER_BYTES_MAX):
                    pass  # trailers, up to the empty line
                return bytes(body)
            body += await self._exactly(size)
            await self._exactly(2)  # the chunk's CRLF
            if len(body) > BODY_BYTES_MAX:
                raise _Eof("response body too long")


class _Eof(Exception):
    """The server closed the connection or sent something that is not HTTP."""


def _decode(status: int, raw: bytes, where: str) -> dict[str, Any]:
    try:
        decoded = json.loads(raw) if raw else {}
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        text = raw[:200].decode(errors="replace").strip()
        raise EtcdApiError(status, -1, f"{where}: not a JSON object: {text!r}")
    if status != 200 or "error" in decoded:
        message = str(decoded.get("message") or decoded.get("error") or f"HTTP {status}")
        code = decoded.get("code", -1)
        raise EtcdApiError(status, code if isinstance(code, int) else -1, message)
    return decoded
