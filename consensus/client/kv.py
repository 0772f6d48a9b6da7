"""The key-value client: ``put`` and ``get`` over :class:`~consensus.client.client.Client`."""

from __future__ import annotations

from statemachines.kv import KV_CODEC, Get, KvResult, Put, decode_result

from .client import Client, ClientError


class KvError(ClientError):
    """The store answered with an error result (e.g. a request outside its session)."""


def _checked(result: KvResult) -> bytes | None:
    if not result.ok:
        raise KvError(result.error)
    return result.value


class KvClient(Client):
    async def put(self, key: str, value: bytes) -> bytes | None:
        """Set ``key``; returns the previous value (None if there was none)."""
        command = KV_CODEC.encode(Put(self.client_id, self.next_seq(), key, value))
        return _checked(decode_result(await self.propose(command)))

    async def get(self, key: str) -> bytes | None:
        """Linearizable read of ``key`` (None if absent)."""
        return _checked(decode_result(await self.query(KV_CODEC.encode(Get(key)))))
