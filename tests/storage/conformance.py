"""``check_storage(make)``: the behaviour every Raft storage shares, run against each
implementation (memory, files on the real disk, files on the simulated disk).

Each check takes a fresh harness (see :mod:`.harness`) and asserts through the public
interface only: persist / sync / recover / compact, the reads, restart and crash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from consensus.storage import LogCompacted, LogUnavailable, Recovered

from .harness import entries, hs, snap

Check = Callable[[Any], None]


def check_append_and_read(h: Any) -> None:
    s = h.storage
    assert (s.first_index(), s.last_index(), s.term(0)) == (1, 0, 0)
    assert s.snapshot() is None and s.hard_state() is None
    batch = entries(1, 5, 1)
    s.persist(hs(1, 1, 0), batch, None)
    assert (s.first_index(), s.last_index(), s.term(3)) == (1, 5, 1)
    assert s.entries(2, 4) == batch[1:3]
    assert s.entries(1, 6, bytes_max=100) == batch[:2]  # 40-byte entries
    assert s.entries(1, 6, bytes_max=1) == batch[:1]  # always at least one
    assert s.entries(3, 3) == []
    with pytest.raises(LogUnavailable, match="index 6 is past the last index 5"):
        s.entries(1, 7)
    with pytest.raises(LogUnavailable, match="index 6 is past the last index 5"):
        s.term(6)
    s.sync()
    h.reopen()
    assert h.storage.recover() == Recovered(hs(1, 1, 0), None, tuple(batch))
    assert h.storage.entries(1, 6) == batch


def check_overwrite_suffix(h: Any) -> None:
    s = h.storage
    s.persist(None, entries(1, 5, 1), None)
    s.persist(hs(2, 2, 2), entries(3, 4, 2), None)
    expected = entries(1, 2, 1) + entries(3, 4, 2)
    assert s.last_index() == 4 and s.term(3) == 2 and s.term(2) == 1
    assert s.entries(1, 5) == expected
    gap = "entries start at 7, leaving a gap after the last index 4"
    with pytest.raises(ValueError, match=gap):
        s.persist(None, entries(7, 8, 2), None)
    with pytest.raises(ValueError, match="not consecutive: index 7 follows 5"):
        s.persist(None, [*entries(5, 5, 2), *entries(7, 7, 2)], None)
    assert s.last_index() == 4  # the refused batches left nothing behind
    s.sync()
    h.reopen()
    assert h.storage.recover().entries == tuple(expected)
    h.storage.persist(None, entries(2, 2, 3), None)  # truncate down to 1 entry + new one
    h.storage.sync()
    h.reopen()
    assert h.storage.recover().entries == (*entries(1, 1, 1), *entries(2, 2, 3))


def check_hard_state(h: Any) -> None:
    s = h.storage
    s.persist(hs(1, None, 0), [], None)
    s.persist(hs(2, 3, 0), [], None)
    s.persist(hs(2, 3, 0), entries(1, 1, 2), None)
    assert s.hard_state() == hs(2, 3, 0)
    s.sync()
    s.persist(hs(2, 3, 1), [], None)
    s.sync()
    h.reopen()
    assert h.storage.recover().hard_state == hs(2, 3, 1)
    h.storage.persist(hs(5, None, 1), [], None)
    h.storage.sync()
    h.reopen()
    assert h.storage.hard_state() == hs(5, None, 1)


def check_snapshot_and_compact(h: Any) -> None:
    s = h.storage
    log = entries(1, 10, 1) + entries(11, 120, 2)
    s.persist(hs(2, 1, 100), log, None)
    s.compact(snap(100, 2))
    assert (s.first_index(), s.last_index(), s.term(100)) == (101, 120, 2)
    assert s.snapshot() == snap(100, 2)
    with pytest.raises(LogCompacted, match="index 100 is compacted"):
        s.entries(100, 102)
    with pytest.raises(LogCompacted, match="index 99 is compacted"):
        s.term(99)
    s.compact(snap(50, 1))  # older than the stored one: ignored
    assert s.snapshot() == snap(100, 2)
    expected = Recovered(hs(2, 1, 100), snap(100, 2), tuple(log[100:]))
    assert s.recover() == expected
    h.reopen()
    assert h.storage.recover() == expected
    h.storage.persist(hs(2, 1, 125), entries(121, 125, 2), None)
    h.storage.compact(snap(125, 2))
    h.reopen()
    assert h.storage.recover() == Recovered(hs(2, 1, 125), snap(125, 2), ())
    assert (h.storage.first_index(), h.storage.last_index()) == (126, 125)


def check_received_snapshot(h: Any) -> None:
    s = h.storage
    s.persist(hs(1, 1, 3), entries(1, 8, 1), None)
    s.sync()
    # The leader's snapshot matches (6, 1): entries after it stay.
    s.persist(hs(1, 1, 6), [], snap(6, 1))
    assert (s.first_index(), s.last_index()) == (7, 8)
    # A snapshot that does not match the log drops it all; entries may follow at once.
    s.persist(hs(3, None, 20), entries(21, 22, 3), snap(20, 3))
    assert (s.first_index(), s.last_index(), s.term(20)) == (21, 22, 3)
    with pytest.raises(ValueError, match="entries start at 20, inside the snapshot ending at 20"):
        s.persist(None, entries(20, 20, 3), None)
    s.sync()
    h.reopen()
    assert h.storage.recover() == Recovered(hs(3, None, 20), snap(20, 3), tuple(entries(21, 22, 3)))


def check_recover_after_clean_close(h: Any) -> None:
    for k in range(5):
        h.storage.persist(hs(k + 1, 1, 10 * k), entries(10 * k + 1, 10 * k + 10, k + 1), None)
        h.storage.sync()
    expected = h.storage.recover()
    assert len(expected.entries) == 50
    h.reopen()
    h.reopen()
    assert h.storage.recover() == expected


def check_recover_after_crash(h: Any) -> None:
    s = h.storage
    s.persist(hs(1, 1, 0), entries(1, 20, 1), None)
    s.sync()
    synced = s.recover()
    s.persist(hs(2, 2, 5), entries(15, 30, 2), None)  # never synced
    everything = s.recover()
    h.crash()
    got = h.storage.recover()
    if h.exact_crash:
        assert got == synced
    else:  # a killed process: what the OS already had survives, in order
        kept = entries(1, 14, 1)
        prefixes = [
            Recovered(hs(1, 1, 0), None, (*kept, *entries(15, k, 2))) for k in range(15, 31)
        ]
        assert got in (synced, *prefixes, everything)
    # The store goes on normally after the crash.
    nxt = h.storage.last_index() + 1
    h.storage.persist(hs(3, 3, 5), entries(nxt, nxt, 3), None)
    h.storage.sync()
    h.crash()
    assert h.storage.recover() == Recovered(
        hs(3, 3, 5), None, (*got.entries, *entries(nxt, nxt, 3))
    )


def check_compaction_spanning_segments(h: Any) -> None:
    s = h.storage
    term = 1
    for lo in range(1, 600, 50):
        s.persist(hs(term, 1, lo - 1), entries(lo, lo + 49, term, size=100), None)
        s.sync()
        term += 1
    s.compact(snap(400, 8))
    h.crash()
    got = h.storage.recover()
    assert got.snapshot == snap(400, 8)
    assert [e.index for e in got.entries] == list(range(401, 601))
    assert got.hard_state == hs(12, 1, 550)
    h.storage.compact(snap(600, 12))
    h.reopen()
    assert h.storage.recover() == Recovered(hs(12, 1, 550), snap(600, 12), ())


CHECKS: list[Check] = [
    check_append_and_read,
    check_overwrite_suffix,
    check_hard_state,
    check_snapshot_and_compact,
    check_received_snapshot,
    check_recover_after_clean_close,
    check_recover_after_crash,
    check_compaction_spanning_segments,
]


def check_storage(make: Callable[[], Any]) -> None:
    """Run every check, each on a fresh harness from ``make``."""
    for check in CHECKS:
        h = make()
        try:
            check(h)
        finally:
            h.close()
