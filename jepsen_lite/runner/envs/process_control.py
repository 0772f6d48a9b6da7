"""Process control for environments with real node processes.

:class:`ProcessControl` is what an environment needs from "the machines": start a named
process, crash it (SIGKILL), restart it with the same command, freeze and thaw it
(SIGSTOP / SIGCONT), stop it, and list what runs. :class:`LocalProcesses` implements it
on this host with :mod:`subprocess`; a multi-host environment would implement the same
protocol over ssh or an agent, and the local environment would not change.

Contract of :class:`LocalProcesses`: every process it starts is in its own session
(``start_new_session``, so a Ctrl-C on the terminal reaches only the runner, which then
stops the nodes itself), is remembered by name and pid, and is stopped and reaped by
:meth:`LocalProcesses.stop_all` -- which the context manager calls on every way out: a
normal exit, an exception, ``KeyboardInterrupt`` and ``trio.Cancelled``. ``stop_all`` is
synchronous and does not checkpoint, so it also runs in a cancelled scope.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

import attrs
import trio


class ProcessError(Exception):
    """A process operation could not be done; the message names the process and why."""


class ProcessControl(Protocol):
    """Named processes on the machines of an environment (see the module doc)."""

    async def start(self, name: str, argv: Sequence[str], log_path: Path) -> int:
        """Start ``argv`` as ``name`` (stdout and stderr appended to ``log_path``); its pid.
        ``ProcessError`` if ``name`` is already running."""
        ...

    async def kill(self, name: str) -> None:
        """SIGKILL ``name`` and wait until it is gone (a no-op if it is not running)."""
        ...

    async def restart(self, name: str) -> int:
        """Start ``name`` again with the command it was started with (killing it first if
        it still runs); the new pid."""
        ...

    async def pause(self, name: str) -> None:
        """SIGSTOP ``name``: it keeps its memory and sockets but runs no code."""
        ...

    async def resume(self, name: str) -> None:
        """SIGCONT ``name``."""
        ...

    async def stop(self, name: str, timeout_s: float = 5.0) -> int | None:
        """SIGTERM ``name`` (resuming it if paused), SIGKILL after ``timeout_s``; its exit
        status (negative: killed by that signal), ``None`` if it was not running."""
        ...

    def pids(self) -> Mapping[str, int]:
        """The pid of every process started and still running, by name."""
        ...


@attrs.frozen(slots=True)
class _Spec:
    argv: tuple[str, ...]
    log_path: Path


class LocalProcesses:
    """:class:`ProcessControl` on this host. Use as a (sync or async) context manager;
    every process still running at exit is stopped (SIGTERM, then SIGKILL after
    ``stop_timeout_s``) and reaped."""

    def __init__(self, *, env: Mapping[str, str] | None = None, stop_timeout_s: float = 3.0):
        self.env = dict(env) if env is not None else None
        self.stop_timeout_s = stop_timeout_s
        self._specs: dict[str, _Spec] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._paused: set[str] = set()
        self.started: list[int] = []
        """Every pid this object ever started (for tests that check none survives)."""

    # -- context management: stop everything on every way out -------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()

    # -- the protocol -----------------------------------------------------------------

    async def start(self, name: str, argv: Sequence[str], log_path: Path) -> int:
        await trio.lowlevel.checkpoint()
        return self.start_now(name, argv, log_path)

    def start_now(self, name: str, argv: Sequence[str], log_path: Path) -> int:
        """:meth:`start` without Trio."""
        running = self._procs.get(name)
        if running is not None and running.poll() is None:
            raise ProcessError(f"process {name} is already running (pid {running.pid})")
        if not argv:
            raise ProcessError(f"process {name}: empty command")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            try:
                proc = subprocess.Popen(
                    list(argv),
                    stdout=log,
                    stderr=log,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    env=self.env,
                )
            except OSError as exc:
                raise ProcessError(f"cannot start {name} ({argv[0]}): {exc}") from None
        self._specs[name] = _Spec(tuple(argv), log_path)
        self._procs[name] = proc
        self._paused.discard(name)
        self.started.append(proc.pid)
        return proc.pid

    async def kill(self, name: str) -> None:
        proc = self._proc(name)
        if proc.poll() is None:
            _signal(proc, signal.SIGKILL)
            await _wait(proc, None)
        self._paused.discard(name)

    async def restart(self, name: str) -> int:
        spec = self._specs.get(name)
        if spec is None:
            raise ProcessError(f"no process named {name} was started")
        await self.kill(name)
        return await self.start(name, spec.argv, spec.log_path)

    async def pause(self, name: str) -> None:
        proc = self._proc(name)
        if proc.poll() is not None:
            raise ProcessError(f"cannot pause {name}: it is not running")
        _signal(proc, signal.SIGSTOP)
        self._paused.add(name)
        await trio.lowlevel.checkpoint()

    async def resume(self, name: str) -> None:
        proc = self._proc(name)
        if proc.poll() is None:
            _signal(proc, signal.SIGCONT)
        self._paused.discard(name)
        await trio.lowlevel.checkpoint()

    async def stop(self, name: str, timeout_s: float = 5.0) -> int | None:
        proc = self._proc(name)
        if proc.poll() is not None:
            return proc.returncode
        _signal(proc, signal.SIGTERM)
        _signal(proc, signal.SIGCONT)  # a paused process handles SIGTERM only when running
        self._paused.discard(name)
        return await _wait(proc, timeout_s)

    def pids(self) -> dict[str, int]:
        return {n: p.pid for n, p in self._procs.items() if p.poll() is None}

    def paused(self, name: str) -> bool:
        """Whether ``name`` was paused and not resumed since."""
        return name in self._paused

    def returncode(self, name: str) -> int | None:
        """``name``'s exit status, ``None`` while it runs."""
        return self._proc(name).poll()

    def log_path(self, name: str) -> Path:
        spec = self._specs.get(name)
        if spec is None:
            raise ProcessError(f"no process named {name} was started")
        return spec.log_path

    def stop_all(self, timeout_s: float | None = None) -> dict[str, int | None]:
        """Stop every running process (SIGTERM + SIGCONT, SIGKILL after ``timeout_s``,
        default ``stop_timeout_s``) and reap it; exit statuses by name. Synchronous and
        never interrupted by Trio, so it is safe in ``finally`` blocks of cancelled
        code. A second ``KeyboardInterrupt`` while waiting SIGKILLs what is left."""
        limit = self.stop_timeout_s if timeout_s is None else timeout_s
        live = [p for p in self._procs.values() if p.poll() is None]
        for proc in live:
            _signal(proc, signal.SIGTERM)
            _signal(proc, signal.SIGCONT)
        deadline = time.monotonic() + limit
        try:
            for proc in live:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(max(0.0, deadline - time.monotonic()))
        finally:
            for proc in live:
                if proc.poll() is None:
                    _signal(proc, signal.SIGKILL)
                    proc.wait()
            self._paused.clear()
        return {n: p.returncode for n, p in self._procs.items()}

    def _proc(self, name: str) -> subprocess.Popen[bytes]:
        proc = self._procs.get(name)
        if proc is None:
            raise ProcessError(f"no process named {name} was started")
        return proc


def failure_with_log_tail(who: str, what: str, log: Path, lines: int) -> str:
    """``"<who> <what>; last lines of <log>: ..."`` (its last ``lines`` lines), or that the
    log is empty: how a process that failed to start or answer is reported."""
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        text = []
    tail = "\n".join(text[-lines:])
    return f"{who} {what}; " + (f"last lines of {log}:\n{tail}" if text else f"{log} is empty")


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # exited meanwhile: harmless
        os.kill(proc.pid, sig)


async def _wait(proc: subprocess.Popen[bytes], timeout_s: float | None) -> int | None:
    """Wait for ``proc`` to exit without blocking Trio; SIGKILL it after ``timeout_s``."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    pause = 0.001
    while proc.poll() is None:
        if deadline is not None and time.monotonic() >= deadline:
            _signal(proc, signal.SIGKILL)
            deadline = None
        await trio.sleep(pause)
        pause = min(pause * 2, 0.02)
    return proc.returncode
