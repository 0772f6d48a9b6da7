"""Snapshots: byte-identical across replicas applying the same log (however each got
there), and restore refuses malformed images."""

from __future__ import annotations

import random

import cbor2
import pytest

from consensus.types import Entry
from statemachines.kv import SNAPSHOT_VERSION, KvStateMachine
from statemachines.kv_commands import (
    KV_CODEC,
    Cas,
    CloseSession,
    Command,
    Delete,
    Put,
    PutIfAbsent,
    RegisterSession,
    Txn,
    Write,
    compare,
)


def random_log(seed: int, length: int = 400) -> list[Entry]:
    """A log of many sessions (some expiring, some closed), retries and duplicates."""
    rng = random.Random(seed)
    entries: list[Entry] = []
    sessions: dict[int, int] = {}  # id -> last seq
    now = 1_000
    for index in range(1, length + 1):
        now += rng.randrange(0, 20_000)
        roll = rng.random()
        key = rng.choice("abcdefgh")
        if roll < 0.08 or not sessions:
            data = KV_CODEC.encode(RegisterSession(now))
            sessions[index] = 0
        elif roll < 0.1:
            sid = rng.choice(sorted(sessions))
            data = KV_CODEC.encode(CloseSession(sid, now))
        elif roll < 0.2 and entries:
            data = rng.choice(entries).data  # a duplicated delivery or a retry
        else:
            sid = rng.choice(sorted(sessions))
            sessions[sid] += 1
            seq = sessions[sid]
            op = rng.choice(
                [
                    Put(key, b"%d" % index),
                    Delete(key),
                    Cas(key, b"c", expected_version=rng.randrange(3)),
                    PutIfAbsent(key, b"p"),
                    Txn(
                        [compare(key, "exists", "=", True)],
                        [Put(key + "!", b"t"), Delete(key)],
                        [Put(key, b"f")],
                    ),
                ]
            )
            ack = max(1, seq - rng.randrange(3))
            data = KV_CODEC.encode(Command(sid, seq, ack, now, Write.of(op)))
        entries.append(Entry(index, 1, data))
    return entries


@pytest.mark.parametrize("seed", range(5))
def test_replicas_applying_the_same_log_have_identical_snapshots(seed: int) -> None:
    log = random_log(seed)
    replica_a, replica_b = KvStateMachine(), KvStateMachine()
    results_a = [replica_a.apply(e) for e in log]
    results_b = [replica_b.apply(e) for e in log]
    assert results_a == results_b
    assert replica_a.snapshot() == replica_b.snapshot()
    for cut in (len(log) // 3, 2 * len(log) // 3):  # a replica restored from a snapshot
        lead, late = KvStateMachine(), KvStateMachine()
        for e in log[:cut]:
            lead.apply(e)
        late.restore(lead.snapshot())
        assert [late.apply(e) for e in log[cut:]] == results_a[cut:]
        assert late.snapshot() == replica_a.snapshot()


def _image(**changes: object) -> bytes:
    sm = KvStateMachine()
    sm.apply(Entry(1, 1, KV_CODEC.encode(Command(0, 1, 1, 5, Write.of(Put("a", b"1"))))))
    sm.apply(Entry(2, 1, KV_CODEC.encode(Command(0, 2, 2, 5, Write.of(Put("b", b"2"))))))
    image = cbor2.loads(sm.snapshot())
    image.update(changes)
    return bytes(cbor2.dumps(image, canonical=True))


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (b"\xff", "not valid CBOR"),
        (cbor2.dumps([1, 2]), "unknown format or version"),
        (_image(version=SNAPSHOT_VERSION + 1), "unknown format or version"),
        (_image(extra=1), "missing or unknown fields"),
        (_image(revision=-1), "revision is not an integer"),
        (_image(applied="x"), "applied is not an integer"),
        (_image(data={"a": b"1"}), "data is not a list"),
        (_image(data=[["a", "text", 1, 1, 1]]), "malformed key entry"),
        (_image(data=[["a", b"1", 1, 1]]), "malformed key entry"),
        (_image(data=[["a", b"1", 2, 1, 1]]), "metadata of 'a' is inconsistent"),
        (_image(data=[["a", b"1", 1, 9, 1]]), "metadata of 'a' is inconsistent"),
        (_image(data=[["a", b"1", 1, 1, 0]]), "metadata of 'a' is inconsistent"),
        (_image(data=[["b", b"1", 1, 1, 1], ["a", b"1", 2, 2, 1]]), "not sorted and unique"),
        (_image(data=[["a", b"1", 1, 1, 1], ["a", b"1", 2, 2, 1]]), "not sorted and unique"),
        (_image(sessions=[0]), "malformed session table"),
    ],
)
def test_restore_refuses_malformed_snapshots_and_keeps_the_store(
    image: bytes, message: str
) -> None:
    sm = KvStateMachine()
    sm.apply(Entry(1, 1, KV_CODEC.encode(Command(0, 1, 1, 5, Write.of(Put("z", b"9"))))))
    before = sm.snapshot()
    with pytest.raises(ValueError, match=message):
        sm.restore(image)
    assert sm.snapshot() == before


def test_a_valid_image_restores() -> None:
    sm = KvStateMachine()
    sm.restore(_image())
    assert sorted(sm.data) == ["a", "b"] and sm.revision == 2
