"""Crash at every file-system operation of a scripted workload, recover, check.

The simulated disk numbers its operations; for every k the same workload runs with a
crash armed at operation k (a write torn at that point), the machine restarts under
each crash mode, and the store must recover the state after some prefix of the
workload's micro-operations that holds every acknowledged one (see :mod:`.workload`),
and then go on working.
"""

from __future__ import annotations

import contextlib

import pytest

from consensus.storage import FileStorage, WalOptions
from consensus.storage.fs import CrashMode, SimFileSystem, SimulatedCrash
from consensus.types import HardState

from .workload import (
    WORKLOAD,
    Progress,
    describe,
    entry_after,
    model_states,
    run_workload,
)

STATES = model_states(WORKLOAD)
OPTION_SETS = {
    # Records reach the file only at a sync or a segment roll.
    "buffered": WalOptions(segment_bytes_max=4096),
    # Every record is written through at once (unsynced bytes pile up in the file).
    "write-through": WalOptions(segment_bytes_max=4096, buffer_bytes_max=1),
}


def open_storage(fs: SimFileSystem, options: WalOptions) -> FileStorage:
    return FileStorage.open("/data", cluster_id="c", node_id=1, fs=fs, options=options)


def total_ops(options: WalOptions) -> int:
    fs = SimFileSystem(0)
    storage = open_storage(fs, options)
    run_workload(storage, WORKLOAD, Progress())
    return fs.ops


def crash_and_check(options: WalOptions, crash_at: int, mode: CrashMode, seed: int) -> None:
    fs = SimFileSystem(seed)
    fs.crash_at_op = crash_at
    progress = Progress()
    try:
        run_workload(open_storage(fs, options), WORKLOAD, progress)
    except SimulatedCrash:
        pass
    else:
        raise AssertionError(f"op {crash_at} was never reached")
    fs.crash(mode)
    storage = open_storage(fs, options)
    got = storage.recover()
    allowed = STATES[progress.acked : progress.issued + 1]
    assert got in allowed, (
        f"crash at op {crash_at} ({mode.value}, seed {seed}): recovered {describe(got)}\n"
        f"acked {progress.acked}, issued {progress.issued}; the last acked state is "
        f"{describe(STATES[progress.acked])}\nops: {list(fs.op_log)[-6:]}"
    )
    # The recovered store takes new writes, and they survive the next power cut.
    extra = entry_after(got)
    storage.persist(HardState(9, None, 0), [extra], None)
    storage.sync()
    fs.crash(CrashMode.POWER_LOSS)
    again = open_storage(fs, options).recover()
    assert again.entries == (*got.entries, extra)
    assert again.snapshot == got.snapshot


@pytest.mark.parametrize("options_name", list(OPTION_SETS))
@pytest.mark.parametrize("mode", list(CrashMode), ids=lambda m: m.value)
def test_crash_at_every_operation(options_name: str, mode: CrashMode) -> None:
    options = OPTION_SETS[options_name]
    ops = total_ops(options)
    assert ops > 40  # the workload rolls segments, writes snapshots, compacts
    for crash_at in range(1, ops + 1):
        crash_and_check(options, crash_at, mode, seed=crash_at)


@pytest.mark.slow
@pytest.mark.parametrize("options_name", list(OPTION_SETS))
@pytest.mark.parametrize("mode", [CrashMode.TORN, CrashMode.SCRAMBLED], ids=lambda m: m.value)
def test_crash_at_every_operation_many_seeds(options_name: str, mode: CrashMode) -> None:
    options = OPTION_SETS[options_name]
    ops = total_ops(options)
    for seed in range(20):
        for crash_at in range(1, ops + 1):
            crash_and_check(options, crash_at, mode, seed=1000 * seed + crash_at)


def test_model_covers_the_workload() -> None:
    final = STATES[-1]
    assert final.snapshot is not None and final.snapshot.meta.index == 97
    assert [e.index for e in final.entries] == list(range(98, 104))
    assert final.hard_state == HardState(3, 1, 99)
    assert any(s.snapshot is not None and s.snapshot.meta.index == 80 for s in STATES)


@pytest.mark.parametrize("mode", [CrashMode.TORN, CrashMode.SCRAMBLED], ids=lambda m: m.value)
def test_power_loss_after_a_process_crash(mode: CrashMode) -> None:
    """A process crash leaves unsynced bytes in the page cache; recovery reads them. They
    must be made durable before new records vouch for them (watermarks), or a power loss
    right after would look like corruption in the middle of the log."""
    options = OPTION_SETS["write-through"]
    for crash_at in range(1, total_ops(options) + 1):
        fs = SimFileSystem(crash_at)
        fs.crash_at_op = crash_at
        with contextlib.suppress(SimulatedCrash):
            run_workload(open_storage(fs, options), WORKLOAD, Progress())
        fs.crash(CrashMode.PROCESS)
        storage = open_storage(fs, options)
        got = storage.recover()
        extra = entry_after(got)
        storage.persist(None, [extra], None)  # written through, never synced
        fs.crash(mode)
        again = open_storage(fs, options).recover()
        assert again.entries in (got.entries, (*got.entries, extra)), f"crash at {crash_at}"
