"""Real node processes under load while the leader is SIGKILLed and restarted again and
again: the history the clients saw must be linearizable (checked by jepsen_lite).

It exercises everything on the fast path at once: proposals batched per Ready, inline
fsync, pipelined sessions sharing connections, per-attempt deadlines and retries with
the same ``(client_id, seq)`` across leader changes.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import signal
import time
from pathlib import Path

import pytest
import trio

from consensus.client import ClientError, KvClient, KvError
from consensus.runtime.local import LocalCluster, find_leader, write_cluster_file
from jepsen_lite.cli import main as jepsen_lite
from jepsen_lite.history import HistoryWriter

SECONDS = 8.0


@pytest.mark.slow
async def test_history_under_leader_kills_is_linearizable(tmp_path: Path) -> None:
    cluster = LocalCluster(write_cluster_file(tmp_path, 3, cluster_id="linz"))
    cluster.start_all()
    endpoints = [cluster.endpoints[n] for n in sorted(cluster.endpoints)]
    rng = random.Random(7)
    processes = itertools.count(1)
    values = itertools.count(1)
    stop_at = time.monotonic() + SECONDS
    counts = {"ok": 0, "info": 0, "kills": 0}
    history = tmp_path / "history.jsonl"
    try:
        await find_leader(endpoints)
        with HistoryWriter.open(history) as record:

            async def client(kv: KvClient) -> None:
                process = next(processes)
                session = kv.session()
                while time.monotonic() < stop_at:
                    key = f"k{rng.randrange(3)}"
                    if rng.random() < 0.5:
                        value = next(values)
                        record.invoke(process, "write", value, key=key)
                        try:
                            await session.put(key, str(value).encode())
                        except KvError:
                            record.fail(process, "write", value, key=key)
                        except ClientError:  # outcome unknown: a new process goes on
                            record.info(process, "write", value, key=key)
                            counts["info"] += 1
                            process, session = next(processes), kv.session()
                        else:
                            record.ok(process, "write", value, key=key)
                            counts["ok"] += 1
                    else:
                        record.invoke(process, "read", None, key=key)
                        try:
                            got = await session.get(key)
                        except ClientError:
                            record.info(process, "read", None, key=key)
                            counts["info"] += 1
                            process = next(processes)
                        else:
                            seen = None if got is None else int(got)
                            record.ok(process, "read", seen, key=key)
                            counts["ok"] += 1

            async def nemesis() -> None:
                while time.monotonic() < stop_at - 1.0:
                    await trio.sleep(rng.uniform(0.8, 1.4))
                    with contextlib.suppress(RuntimeError):
                        leader = await find_leader(endpoints, timeout_s=5)
                        cluster.kill(leader, signal.SIGKILL)
                        counts["kills"] += 1
                        await trio.sleep(rng.uniform(0.2, 0.5))
                        cluster.start(leader)

            async with contextlib.AsyncExitStack() as stack:
                options = {"timeout_s": 3.0, "attempt_timeout_s": 0.5}
                shared = await stack.enter_async_context(KvClient(endpoints, **options))
                own = [
                    await stack.enter_async_context(KvClient(endpoints, **options))
                    for _ in range(3)
                ]
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(nemesis)
                    for _ in range(8):  # sessions pipelined over one connection
                        nursery.start_soon(client, shared)
                    for kv in own:  # and clients with connections of their own
                        nursery.start_soon(client, kv)
    finally:
        cluster.stop_all()
    assert counts["kills"] >= 3, counts
    assert counts["ok"] > 1000, counts
    status = await trio.to_thread.run_sync(
        jepsen_lite, ["check", "--model", "register", "--time-limit", "120", str(history)]
    )
    assert status == 0, f"history not linearizable (jepsen-lite exit {status}): {history}"
