"""One script of key-value operations, run through a :class:`KvSession` over any backend,
for comparing the etcd backend with our own store (tests/runner/test_etcd_backend.py)."""

from __future__ import annotations

from consensus.client.kv import KvError, KvSession
from statemachines.kv_commands import Delete, Get, Put, Range, compare


async def kv_script(kv: KvSession) -> list[object]:
    """Every kind of operation the etcd backend maps, with the results (a refused
    command as ``("refused", kind)``)."""
    out: list[object] = []
    out.append(await kv.put_kv("a/1", b"one"))
    out.append(await kv.put_kv("a/1", b"uno"))
    out.append(await kv.put_kv("a/2", b""))  # an empty value: etcd's JSON leaves it out
    out.append(await kv.get_kv("a/1"))
    out.append(await kv.get_kv("a/2"))
    out.append(await kv.get_kv("missing"))
    out.append(await kv.cas("a/1", b"eins", expected_value=b"uno"))
    out.append(await kv.cas("a/1", b"x", expected_value=b"uno"))
    out.append(await kv.cas("a/1", b"zwei", expected_version=2))
    out.append(await kv.cas("a/1", b"zwei", expected_version=3))
    kv_now = await kv.get_kv("a/1")
    assert kv_now is not None
    out.append(await kv.cas("a/1", b"drei", expected_mod_revision=kv_now.mod_revision))
    out.append(await kv.cas("missing", b"x", expected_value=b"x"))
    out.append(await kv.put_if_absent("a/1", b"no"))
    out.append(await kv.put_if_absent("b", b"yes"))
    out.append(await kv.delete_if("b", expected_value=b"no"))
    out.append(await kv.delete_if("b", expected_value=b"yes"))
    out.append(await kv.delete("b"))
    out.append(await kv.delete("a/2"))
    for i in range(5):
        await kv.put(f"c/{i}", str(i).encode())
    out.append(await kv.range("c/", prefix=True))
    out.append(await kv.range("c/", prefix=True, limit=2))
    out.append(await kv.range("c/1", "c/3"))
    out.append(await kv.range("c/3"))
    out.append(await kv.range("", prefix=True))
    out.append(
        await kv.txn(
            [compare("c/0", "value", "=", b"0"), compare("c/9", "exists", "=", False)],
            [Get("c/0"), Put("c/0", b"t"), Delete("c/1"), Range.of_prefix("c/")],
            [Get("c/0")],
        )
    )
    out.append(
        await kv.txn(
            [compare("c/0", "version", ">", 5), compare("c/2", "exists", "!=", False)],
            [Put("c/0", b"never")],
            [Get("c/0"), Get("c/2")],
        )
    )
    out.append(await kv.txn([compare("c/2", "mod_revision", "<", 1)], [], [Delete("nothing")]))
    out.append(await kv.txn([compare("c/2", "create_revision", "!=", 0)], [Delete("c/2")], []))
    try:
        await kv.txn([], [Put("d", b"1"), Put("d", b"2")], [])
        out.append("applied")
    except KvError as exc:
        out.append(("refused", exc.result.kind))
    out.append(await kv.get_kv("d"))
    return out
