"""A lock on the key-value store: a key taken with put-if-absent under a lease, waited
for by watching its deletion.

::

    python examples/lock.py 127.0.0.1:8001,127.0.0.1:8002,127.0.0.1:8003 NAME [HOLD_S]

prints ``acquired locks/NAME (lease L)``, holds it for HOLD_S seconds (default 1), then
``released``. Run two at once: the second waits until the first releases.

How it works. The holder grants a lease, keeps it alive (every third of its TTL) and
puts ``locks/NAME`` with put-if-absent attached to the lease. A waiter that finds the
key taken watches it from the revision after its failed attempt, and tries again when it
sees the key deleted: by the holder's release (revoke), or by the lease expiring if the
holder died. Expiry runs by the store's clock, which the leader moves with its clock
ticks (docs/kv.md, "The store's clock"), so a dead holder's lease ends about TTL after
its last keep-alive (a TTL is at least 1 s). Not a fencing token: a holder cut
off for longer than its TTL may still believe it holds the lock (compare the lease id,
or the key's create revision, in the writes the lock protects).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator

import trio

from consensus.client import ClientError, KvClient


async def acquire(kv: KvClient, name: str, lease_id: int) -> None:
    """Wait until ``locks/NAME`` is ours (attached to ``lease_id``)."""
    key = f"locks/{name}"
    while True:
        taken = await kv.put_if_absent(key, str(lease_id).encode(), lease=lease_id)
        if taken.applied:
            return
        async for event in kv.watch(key, from_revision=taken.revision + 1, poll_s=0.05):
            if event.type == "delete":
                break


async def _keep_alive(kv: KvClient, lease_id: int, ttl_ms: int) -> None:
    while True:
        await trio.sleep(ttl_ms / 3000)
        await kv.keep_alive(lease_id)


@contextlib.asynccontextmanager
async def locked(kv: KvClient, name: str, ttl_ms: int = 3000) -> AsyncIterator[int]:
    """Hold the lock ``name`` for the block; yields the lease id. Released (the lease
    revoked) on leaving the block."""
    lease_id = (await kv.grant_lease(ttl_ms)).lease_id
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_keep_alive, kv, lease_id, ttl_ms)
            await acquire(kv, name, lease_id)
            try:
                yield lease_id
            finally:
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True), contextlib.suppress(ClientError):
            await kv.revoke_lease(lease_id)


async def main(endpoints: list[str], name: str, hold_s: float = 1.0) -> None:
    async with KvClient(endpoints) as kv, locked(kv, name) as lease_id:
        print(f"acquired locks/{name} (lease {lease_id})", flush=True)
        await trio.sleep(hold_s)
    print("released", flush=True)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    trio.run(main, sys.argv[1].split(","), sys.argv[2], float(sys.argv[3]) if sys.argv[3:] else 1.0)
