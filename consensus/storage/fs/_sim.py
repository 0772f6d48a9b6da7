"""An in-memory file system with seeded, countable faults, for crash tests and simulation.

Model. Each file (inode) holds the bytes the process sees (``data``) and the bytes on the
platter (``durable``); ``fsync`` copies one to the other. Names are kept twice too: the
current directory entries and the durable ones; creations, renames and removals wait in
an ordered journal until ``fsync_dir`` of their directory. :meth:`SimFileSystem.crash`
then decides what survives, by :class:`CrashMode`:

- ``PROCESS``: the process died, the kernel did not: everything written survives (and is
  still not durable against a later power loss).
- ``POWER_LOSS``: only durable bytes and names survive.
- ``TORN``: like a power cut during write-back: each file keeps its durable bytes plus a
  random prefix of the bytes appended since its last fsync, and a random prefix of the
  journal of name changes is applied.
- ``SCRAMBLED``: like ``TORN``, but the surviving unsynced bytes come back sector by
  sector (512 bytes), each one either intact or zeroed, as out-of-order write-back leaves
  them.

Faults are injected by operation count, never by luck: every mutating call (open, append,
write, write_at, fsync, fsync_dir, rename, remove, truncate, mkdir) is numbered from 1 in
``ops``.
With ``crash_at_op = k`` call number k raises :class:`SimulatedCrash` instead of running
(an append or write first lands a random prefix of its bytes when
``tear_crashing_write``), and every later call raises too until :meth:`crash`. With
``fsync_fail_at_op = k`` (or :meth:`fail_next_fsync`) that fsync raises ``OSError(EIO)``
and, as on Linux, the dirty bytes it should have written are dropped: a later fsync that
succeeds leaves zeros there. :meth:`flip_bit` damages stored bytes (media corruption).
All randomness comes from the seed given to the constructor.

Simplifications: directories are durable as soon as :meth:`mkdir` returns; ``write`` on an
existing file reverts wholly to the old contents on a power loss.
"""

from __future__ import annotations

import collections
import enum
import errno
import posixpath
import random
import threading

SECTOR_BYTES = 512


class CrashMode(enum.Enum):
    PROCESS = "process"
    POWER_LOSS = "power-loss"
    TORN = "torn"
    SCRAMBLED = "scrambled"


class SimulatedCrash(Exception):
    """The simulated machine went down at this call (see ``SimFileSystem.crash_at_op``)."""


class _Inode:
    __slots__ = ("data", "durable", "lost", "rewritten")

    def __init__(self) -> None:
        self.data = bytearray()
        self.durable = bytearray()
        self.rewritten = False  # durable may not be a prefix of data
        self.lost: list[tuple[int, int]] = []  # ranges a failed fsync dropped


_Change = tuple[str, _Inode | None]  # path -> inode, or None for "removed"
_NameOp = tuple[str, tuple[_Change, ...]]  # (directory, changes applied together)


class _SimAppendFile:
    __slots__ = ("_fs", "_generation", "_inode", "_path")

    def __init__(self, fs: SimFileSystem, path: str, inode: _Inode) -> None:
        self._fs = fs
        self._path = path
        self._inode = inode
        self._generation = fs.generation

    @property
    def path(self) -> str:
        return self._path

    def _check(self) -> None:
        if self._generation != self._fs.generation:
            raise OSError(errno.EBADF, "file handle opened before a crash", self._path)

    def append(self, data: bytes) -> None:
        with self._fs.mutex:
            self._fs._begin("append", self._path, self._inode, data)
            self._check()
            self._inode.data += data

    def fsync(self) -> None:
        with self._fs.mutex:
            self._fs._begin("fsync", self._path)
            self._check()
            self._fs._fsync_inode(self._path, self._inode)

    def close(self) -> None:
        self._generation = -1


class _SimLock:
    __slots__ = ("_fs", "_generation", "_path")

    def __init__(self, fs: SimFileSystem, path: str) -> None:
        self._fs = fs
        self._path = path
        self._generation = fs.generation

    def release(self) -> None:
        with self._fs.mutex:
            if self._generation == self._fs.generation:
                self._fs.locks.discard(self._path)
            self._generation = -1


class SimFileSystem:
    """:class:`~consensus.storage.fs.FileSystem` in memory, with the faults described in
    the module docstring. Thread-safe (one mutex around every call)."""

    def __init__(self, seed: int | random.Random = 0) -> None:
        self.rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        self.mutex = threading.RLock()
        self._names: dict[str, _Inode] = {}
        self._durable_names: dict[str, _Inode] = {}
        self._journal: list[_NameOp] = []
        self._dirs: set[str] = {"/"}
        self.locks: set[str] = set()
        self.generation = 0
        self.ops = 0
        self.fsyncs = 0
        self.crashes = 0
        self.crash_at_op: int | None = None
        self.tear_crashing_write = True
        self.fsync_fail_at_op: int | None = None
        self._fail_next_fsync = False
        self._down: str | None = None
        self._garble = False
        self.op_log: collections.deque[str] = collections.deque(maxlen=512)

    # -- fault control --------------------------------------------------------------
    def fail_next_fsync(self) -> None:
        """Make the next fsync (file or directory) fail with ``EIO``."""
        self._fail_next_fsync = True

    @property
    def is_down(self) -> bool:
        return self._down is not None

    def crash(self, mode: CrashMode = CrashMode.POWER_LOSS, garble: bool = False) -> None:
        """The machine restarts: keep what ``mode`` says survives, invalidate every open
        handle and lock, and clear the armed faults. With ``garble`` (for ``TORN`` and
        ``SCRAMBLED``), one bit of each file's surviving unsynced tail comes back flipped."""
        with self.mutex:
            self._garble = garble
            if mode is not CrashMode.PROCESS:
                keep = 0
                if mode in (CrashMode.TORN, CrashMode.SCRAMBLED):
                    keep = self.rng.randint(0, len(self._journal))
                for _, changes in self._journal[:keep]:
                    self._apply_changes(self._durable_names, changes)
                self._journal.clear()
                self._names = dict(self._durable_names)
                for inode in {id(i): i for i in self._names.values()}.values():
                    inode.data = self._survivors(inode, mode)
                    inode.durable = bytearray(inode.data)
                    inode.rewritten = False
                    inode.lost.clear()
            self.generation += 1
            self.locks.clear()
            self._down = None
            self.crash_at_op = None
            self.fsync_fail_at_op = None
            self._fail_next_fsync = False
            self.crashes += 1

    def flip_bit(self, path: str, offset: int, bit: int = 0) -> None:
        """Flip one stored bit (in the durable and the visible copy): media corruption."""
        with self.mutex:
            inode = self._inode(path)
            if not 0 <= offset < len(inode.data) or not 0 <= bit < 8:
                raise ValueError(f"no bit {bit} at byte {offset} of {path} ({len(inode.data)} B)")
            inode.data[offset] ^= 1 << bit
            if offset < len(inode.durable):
                inode.durable[offset] ^= 1 << bit

    def durable_bytes(self, path: str) -> bytes:
        """What ``path`` would hold after a power loss (if its name survives)."""
        with self.mutex:
            return bytes(self._inode(path).durable)

    # -- FileSystem -----------------------------------------------------------------
    def open(self, path: str) -> _SimAppendFile:
        path = self._norm(path)
        with self.mutex:
            self._begin("open", path)
            inode = self._names.get(path)
            if inode is None:
                inode = self._create(path)
            return _SimAppendFile(self, path, inode)

    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        with self.mutex:
            self._check_up()
            data = self._inode(self._norm(path)).data
            end = len(data) if length is None else offset + length
            return bytes(data[offset:end])

    def size(self, path: str) -> int:
        with self.mutex:
            self._check_up()
            return len(self._inode(self._norm(path)).data)

    def write(self, path: str, data: bytes) -> None:
        path = self._norm(path)
        with self.mutex:
            inode = self._names.get(path)
            self._begin("write", path, inode, data, replace=True)
            if inode is None:
                inode = self._create(path)
            inode.data = bytearray(data)
            inode.rewritten = True

    def write_at(self, path: str, offset: int, data: bytes) -> None:
        path = self._norm(path)
        with self.mutex:
            inode = self._inode(path)
            self._begin("write_at", path)
            if offset > len(inode.data):
                inode.data += bytes(offset - len(inode.data))
            inode.data[offset : offset + len(data)] = data
            inode.rewritten = True
            # Rewritten pages are dirty again: the next fsync writes them.
            end = offset + len(data)
            kept: list[tuple[int, int]] = []
            for lo, hi in inode.lost:
                if lo < offset:
                    kept.append((lo, min(hi, offset)))
                if hi > end:
                    kept.append((max(lo, end), hi))
            inode.lost = kept

    def fsync(self, path: str) -> None:
        path = self._norm(path)
        with self.mutex:
            self._begin("fsync", path)
            self._fsync_inode(path, self._inode(path))

    def rename(self, src: str, dst: str) -> None:
        src, dst = self._norm(src), self._norm(dst)
        with self.mutex:
            self._begin("rename", f"{src} -> {dst}")
            inode = self._inode(src)
            directory = posixpath.dirname(src)
            if posixpath.dirname(dst) != directory:
                raise OSError(errno.EXDEV, "rename across directories is not modelled", dst)
            self._change(directory, ((src, None), (dst, inode)))

    def fsync_dir(self, path: str) -> None:
        path = self._norm(path)
        with self.mutex:
            self._begin("fsync_dir", path)
            if path not in self._dirs:
                raise FileNotFoundError(errno.ENOENT, "no such directory", path)
            self._maybe_fail_fsync(path)
            pending = []
            for op in self._journal:
                if op[0] == path:
                    self._apply_changes(self._durable_names, op[1])
                else:
                    pending.append(op)
            self._journal = pending

    def list(self, path: str) -> list[str]:
        path = self._norm(path)
        with self.mutex:
            self._check_up()
            if path not in self._dirs:
                raise FileNotFoundError(errno.ENOENT, "no such directory", path)
            found = [n for n in list(self._names) + list(self._dirs) if n != path]
            return sorted(posixpath.basename(n) for n in found if posixpath.dirname(n) == path)

    def exists(self, path: str) -> bool:
        path = self._norm(path)
        with self.mutex:
            self._check_up()
            return path in self._names or path in self._dirs

    def remove(self, path: str) -> None:
        path = self._norm(path)
        with self.mutex:
            self._begin("remove", path)
            self._inode(path)
            self._change(posixpath.dirname(path), ((path, None),))

    def truncate(self, path: str, size: int) -> None:
        path = self._norm(path)
        with self.mutex:
            self._begin("truncate", path)
            inode = self._inode(path)
            if size < len(inode.durable):
                inode.rewritten = True
            if size <= len(inode.data):
                del inode.data[size:]
            else:
                inode.data += bytes(size - len(inode.data))

    def mkdir(self, path: str) -> None:
        path = self._norm(path)
        with self.mutex:
            self._begin("mkdir", path)
            while path not in self._dirs:
                if path in self._names:
                    raise FileExistsError(errno.EEXIST, "a file has this name", path)
                self._dirs.add(path)
                path = posixpath.dirname(path)

    def lock(self, path: str) -> _SimLock:
        path = self._norm(path)
        with self.mutex:
            self._check_up()
            if path in self.locks:
                raise BlockingIOError(errno.EWOULDBLOCK, "lock is held", path)
            self.locks.add(path)
            return _SimLock(self, path)

    # -- internals ------------------------------------------------------------------
    @staticmethod
    def _norm(path: str) -> str:
        return posixpath.normpath(posixpath.join("/", path))

    def _check_up(self) -> None:
        if self._down is not None:
            raise SimulatedCrash(self._down)

    def _begin(
        self,
        op: str,
        path: str,
        inode: _Inode | None = None,
        data: bytes = b"",
        replace: bool = False,
    ) -> None:
        """Number this call; raise ``SimulatedCrash`` if it is the armed crash point."""
        self._check_up()
        self.ops += 1
        self.op_log.append(f"{self.ops} {op} {path}")
        if self.crash_at_op is not None and self.ops >= self.crash_at_op:
            self._down = f"simulated crash at op {self.ops} ({op} {path}); call crash()"
            if self.tear_crashing_write and inode is not None and data:
                torn = data[: self.rng.randrange(len(data))]
                if replace:
                    inode.data = bytearray(torn)
                    inode.rewritten = True
                else:
                    inode.data += torn
            raise SimulatedCrash(self._down)

    def _inode(self, path: str) -> _Inode:
        inode = self._names.get(path)
        if inode is None:
            raise FileNotFoundError(errno.ENOENT, "no such file", path)
        return inode

    def _create(self, path: str) -> _Inode:
        directory = posixpath.dirname(path)
        if directory not in self._dirs:
            raise FileNotFoundError(errno.ENOENT, "no such directory", directory)
        if path in self._dirs:
            raise IsADirectoryError(errno.EISDIR, "is a directory", path)
        inode = _Inode()
        self._change(directory, ((path, inode),))
        return inode

    def _change(self, directory: str, changes: tuple[_Change, ...]) -> None:
        self._apply_changes(self._names, changes)
        self._journal.append((directory, changes))

    @staticmethod
    def _apply_changes(names: dict[str, _Inode], changes: tuple[_Change, ...]) -> None:
        for path, inode in changes:
            if inode is None:
                names.pop(path, None)
            else:
                names[path] = inode

    def _maybe_fail_fsync(self, path: str) -> None:
        if self._fail_next_fsync or self.fsync_fail_at_op == self.ops:
            self._fail_next_fsync = False
            raise OSError(errno.EIO, "simulated fsync failure", path)

    def _fsync_inode(self, path: str, inode: _Inode) -> None:
        try:
            self._maybe_fail_fsync(path)
        except OSError:
            # Linux marks the dirty pages clean without writing them: they are gone.
            start = 0 if inode.rewritten else len(inode.durable)
            inode.lost.append((start, len(inode.data)))
            raise
        self.fsyncs += 1
        if inode.rewritten or len(inode.data) < len(inode.durable):
            inode.durable = bytearray(inode.data)
        else:
            inode.durable += inode.data[len(inode.durable) :]
        for lo, hi in inode.lost:
            hi = min(hi, len(inode.durable))
            if lo < hi:
                inode.durable[lo:hi] = bytes(hi - lo)
        inode.lost.clear()
        inode.rewritten = False

    def _survivors(self, inode: _Inode, mode: CrashMode) -> bytearray:
        durable, data = inode.durable, inode.data
        n = len(durable)
        if mode is CrashMode.POWER_LOSS or inode.rewritten or len(data) <= n or data[:n] != durable:
            return bytearray(durable)
        tail = bytearray(data[n : n + self.rng.randint(0, len(data) - n)])
        if self._garble and tail:
            tail[self.rng.randrange(len(tail))] ^= 1 << self.rng.randrange(8)
        if mode is CrashMode.SCRAMBLED:
            start = 0
            while start < len(tail):
                end = min(len(tail), (n + start) // SECTOR_BYTES * SECTOR_BYTES + SECTOR_BYTES - n)
                if self.rng.random() < 0.5:
                    tail[start:end] = bytes(end - start)
                start = end
        return durable + tail
