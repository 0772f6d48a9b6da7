"""LocalProcesses: start, SIGKILL, restart, SIGSTOP/SIGCONT, stop; and that no process it
started survives an error, a Trio cancellation or a Ctrl-C of the program using it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import trio

from jepsen_lite.runner.envs.process_control import LocalProcesses, ProcessError

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def state_of(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


async def wait_state(pid: int, wanted: str) -> str:
    with trio.move_on_after(5):
        while state_of(pid) not in wanted:
            await trio.sleep(0.005)
    return state_of(pid)


async def wait_log(path: Path, count: int) -> int:
    with trio.move_on_after(10):
        while path.read_text().count("up") < count:
            await trio.sleep(0.01)
    return path.read_text().count("up")


async def test_kill_restart_pause_resume_stop(tmp_path: Path) -> None:
    async with LocalProcesses() as procs:
        pid = await procs.start("a", SLEEPER, tmp_path / "a.log")
        assert procs.pids() == {"a": pid} and alive(pid)
        assert await wait_log(tmp_path / "a.log", 1) == 1
        with pytest.raises(ProcessError, match="a is already running"):
            await procs.start("a", SLEEPER, tmp_path / "a.log")
        await procs.pause("a")
        assert await wait_state(pid, "T") == "T"
        await procs.resume("a")
        assert await wait_state(pid, "SR") in "SR"
        await procs.kill("a")
        assert not alive(pid) and procs.pids() == {}
        assert procs.returncode("a") == -signal.SIGKILL
        pid2 = await procs.restart("a")
        assert pid2 != pid and alive(pid2)
        assert await wait_log(tmp_path / "a.log", 2) == 2  # appended to the same log
        await procs.pause("a")
        assert await procs.stop("a") == -signal.SIGTERM  # a paused process stops too
        assert not alive(pid2)


async def test_unknown_names_and_bad_commands_are_clear_errors(tmp_path: Path) -> None:
    async with LocalProcesses() as procs:
        with pytest.raises(ProcessError, match="no process named b"):
            await procs.kill("b")
        with pytest.raises(ProcessError, match="cannot start c"):
            await procs.start("c", [str(tmp_path / "missing")], tmp_path / "c.log")


async def test_no_process_survives_an_error(tmp_path: Path) -> None:
    procs = LocalProcesses()
    with pytest.raises(RuntimeError, match="boom"):
        async with procs:
            for name in "xyz":
                await procs.start(name, SLEEPER, tmp_path / f"{name}.log")
            await procs.pause("y")
            raise RuntimeError("boom")
    assert len(procs.started) == 3
    assert not any(alive(pid) for pid in procs.started)


async def test_no_process_survives_cancellation(tmp_path: Path) -> None:
    procs = LocalProcesses()
    with trio.move_on_after(0.3) as scope:
        async with procs:
            await procs.start("x", SLEEPER, tmp_path / "x.log")
            await procs.start("y", SLEEPER, tmp_path / "y.log")
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert len(procs.started) == 2
    assert not any(alive(pid) for pid in procs.started)


def test_no_process_survives_ctrl_c(tmp_path: Path) -> None:
    program = textwrap.dedent(
        f"""
        import signal  # SIGINT is ignored in a background job; the test sends it
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import sys, trio
        from pathlib import Path
        from jepsen_lite.runner.envs.process_control import LocalProcesses
        SLEEPER = {SLEEPER!r}

        async def main():
            async with LocalProcesses() as procs:
                for name in ("n1", "n2"):
                    pid = await procs.start(name, SLEEPER, Path({str(tmp_path)!r}) / name)
                    print(pid, flush=True)
                await procs.pause("n2")
                print("ready", flush=True)
                await trio.sleep_forever()

        trio.run(main)
        """
    )
    runner = subprocess.Popen(
        [sys.executable, "-c", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert runner.stdout is not None
        pids = [int(runner.stdout.readline()), int(runner.stdout.readline())]
        assert runner.stdout.readline().strip() == "ready"
        assert all(alive(pid) for pid in pids)
        runner.send_signal(signal.SIGINT)
        _, err = runner.communicate(timeout=20)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert "KeyboardInterrupt" in err
    assert not any(alive(pid) for pid in pids)
