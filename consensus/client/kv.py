"""The key-value client: ``put`` and ``get`` over :class:`~consensus.client.client.Client`.

A :class:`KvClient` is one session (one ``client_id``, its own sequence numbers) with its
own connections. :meth:`KvClient.session` opens more sessions over the same connections:
many concurrent clients then share one pipelined connection per node, as an application
server with many users would.
"""

from __future__ import annotations

import random

from statemachines.kv import KV_CODEC, Get, KvResult, Put, decode_result

from .client import Client, ClientError


class KvError(ClientError):
    """The store answered with an error result (e.g. a request outside its session)."""


def _checked(result: KvResult) -> bytes | None:
    if not result.ok:
        raise KvError(result.error)
    return result.value


async def _put(client: Client, client_id: int, seq: int, key: str, value: bytes) -> bytes | None:
    command = KV_CODEC.encode(Put(client_id, seq, key, value))
    return _checked(decode_result(await client.propose(command)))


async def _get(client: Client, key: str) -> bytes | None:
    return _checked(decode_result(await client.query(KV_CODEC.encode(Get(key)))))


class KvSession:
    """A session of its own (``client_id``, sequence numbers) on a :class:`KvClient`'s
    connections; valid while that client is open."""

    def __init__(self, client: KvClient, client_id: int) -> None:
        self.client = client
        self.client_id = client_id
        self._seq = 0

    async def put(self, key: str, value: bytes) -> bytes | None:
        """Set ``key``; returns the previous value (None if there was none)."""
        self._seq += 1
        return await _put(self.client, self.client_id, self._seq, key, value)

    async def get(self, key: str) -> bytes | None:
        """Linearizable read of ``key`` (None if absent)."""
        return await _get(self.client, key)


class KvClient(Client):
    async def put(self, key: str, value: bytes) -> bytes | None:
        """Set ``key``; returns the previous value (None if there was none)."""
        return await _put(self, self.client_id, self.next_seq(), key, value)

    async def get(self, key: str) -> bytes | None:
        """Linearizable read of ``key`` (None if absent)."""
        return await _get(self, key)

    def session(self, client_id: int | None = None) -> KvSession:
        """Another session over this client's connections (``client_id``: random if not
        given; it must differ from every other live session's)."""
        return KvSession(self, client_id if client_id is not None else random.getrandbits(62) + 1)
