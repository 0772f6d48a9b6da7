"""The fake backend is a real store: writes apply, conditions are checked."""

from __future__ import annotations

from .fakes import LocalBackend, local_session


async def test_local_session_applies_and_checks_conditions() -> None:
    kv = local_session()
    await kv.put("a", b"1")
    assert await kv.get("a") == b"1"
    assert (await kv.cas("a", b"2", expected_value=b"1")).applied
    refused = await kv.cas("a", b"3", expected_value=b"1")
    assert not refused.applied and refused.kv is not None and refused.kv.value == b"2"


async def test_fail_next_after_applies_then_raises() -> None:
    backend = LocalBackend()
    kv = local_session(backend)
    await kv.put("a", b"1")
    backend.fail_next.append(("after", TimeoutError("lost reply")))
    try:
        await kv.put("a", b"2")
    except TimeoutError:
        pass
    else:
        raise AssertionError("the queued failure was not raised")
    assert await kv.get("a") == b"2"  # applied although the caller saw an error
