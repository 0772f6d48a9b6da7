"""The transport interface: how a node's driver sends and receives protocol messages.

A transport moves :class:`~consensus.messages.Message` values between the nodes of one
cluster. It promises nothing about delivery (a message may be lost, duplicated, delayed
or reordered; the cores are safe under all of these) but it promises never to block the
driver:

- :meth:`Transport.send` (and :meth:`Transport.send_batch`) queue and return at once.
  When the destination's bounded queue is full, or the destination is unknown, the
  message is dropped and counted in :class:`TransportStats`; ``send`` returns ``False``.
- Received messages go into :attr:`Transport.inbox`, a bounded Trio channel. When the
  driver falls behind and the inbox is full, new messages are dropped and counted.
  :meth:`Transport.on_deliver` registers a callback run after each message is put there,
  so a driver can drain the inbox from its own loop instead of keeping a task waiting
  on it (one task switch less per batch of messages).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import attrs
import trio

from ..messages import Message
from ..types import NodeId

INBOX_MESSAGES_MAX_DEFAULT = 4096
"""Default bound of a transport's inbox."""

PEER_QUEUE_MESSAGES_MAX_DEFAULT = 4096
"""Default bound of the queue of messages waiting to go to one peer."""


@attrs.define(slots=True)
class TransportStats:
    """Counters a transport keeps; every drop is counted under its reason."""

    sent: int = 0
    received: int = 0
    dropped_queue_full: int = 0
    dropped_unknown_peer: int = 0
    dropped_inbox_full: int = 0
    dropped_closed: int = 0
    decode_errors: int = 0
    refused_connections: int = 0
    connections: int = 0
    bytes_sent: int = 0
    """Bytes of the frames encoded for sending, headers included (a transport without
    frames leaves it 0)."""


class Transport(Protocol):
    """What the runtime needs from a network: non-blocking send, a bounded inbox."""

    @property
    def node_id(self) -> NodeId: ...

    @property
    def inbox(self) -> trio.MemoryReceiveChannel[Message]:
        """Messages addressed to this node, in arrival order."""
        ...

    @property
    def stats(self) -> TransportStats: ...

    def send(self, message: Message) -> bool:
        """Queue ``message`` for ``message.dst``; never blocks; ``False`` if dropped."""
        ...

    def send_batch(self, messages: Iterable[Message]) -> None:
        """:meth:`send` each of ``messages``, then start writing them at once (a
        transport may write them in the calling task, as far as that does not block)."""

    def on_deliver(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback()`` (synchronously, in the delivering task) after every
        message put in the inbox; None removes it. It must not block or raise."""

    async def aclose(self) -> None:
        """Stop sending and receiving. Idempotent."""


class InboxWriter:
    """The sending half of an inbox: ``deliver`` drops and counts when it is full."""

    __slots__ = ("_send", "_stats", "notify")

    def __init__(self, send: trio.MemorySendChannel[Message], stats: TransportStats) -> None:
        self._send = send
        self._stats = stats
        self.notify: Callable[[], None] | None = None

    def deliver(self, message: Message) -> bool:
        try:
            self._send.send_nowait(message)
        except trio.WouldBlock:
            self._stats.dropped_inbox_full += 1
            return False
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            self._stats.dropped_closed += 1
            return False
        self._stats.received += 1
        if self.notify is not None:
            self.notify()
        return True

    def close(self) -> None:
        self._send.close()


def open_inbox(
    stats: TransportStats, messages_max: int = INBOX_MESSAGES_MAX_DEFAULT
) -> tuple[InboxWriter, trio.MemoryReceiveChannel[Message]]:
    """A bounded inbox: the writer half for the transport, the reader half for the driver."""
    if messages_max < 1:
        raise ValueError(f"inbox bound must be >= 1, got {messages_max}")
    send, receive = trio.open_memory_channel[Message](messages_max)
    return InboxWriter(send, stats), receive
