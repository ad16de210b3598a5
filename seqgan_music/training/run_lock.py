"""One process trains a run at a time: an OS lock on `<run>/.lock`, held while a process trains it.

The kernel drops the lock when its holder ends in any way (kill -9 included), so the lock file's
mere existence means nothing: only a held lock does, and a run marked running whose lock is free
was left so by a process that is gone. The file also notes who holds it (pid, host, since when)
for the line that refuses a second trainer. POSIX systems lock with fcntl.flock; Windows with
msvcrt.locking on one byte past the note (a locked region cannot be read there).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from seqgan_music.errors import SeqganError

LOCK_FILE = ".lock"
# A listing's probe holds a free lock for a moment, and a new holder writes its note just after
# taking it: a trainer waits that long before it refuses or names the holder.
_TRIES, _PAUSE = 10, 0.02

if sys.platform == "win32":
    import msvcrt

    _LOCKED_BYTE = 1 << 20  # past the note, so the note stays readable while the byte is locked

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _LOCKED_BYTE, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _LOCKED_BYTE, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)  # for every copy of the descriptor, not only this one


@dataclass(frozen=True)
class LockHolder:
    """Who holds a run's lock, as its note says (None where the note is missing or unreadable)."""

    pid: int | None
    host: str | None
    since: str | None

    def describe(self) -> str:
        if self.pid is None:
            return "another process"
        where = "" if self.host in (None, socket.gethostname()) else f" on {self.host}"
        return f"process {self.pid}{where}" + (f" (since {self.since})" if self.since else "")


class RunLock:
    """The lock on one run folder. `acquire` takes it or refuses in one line naming the holder;
    `release` (also on leaving a `with` block, or when the object is dropped) gives it back and
    may be called more than once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)  # less the umask, as every file
        if not _retry(lambda: _try_lock(fd)):
            os.close(fd)
            raise SeqganError(locked_message(self.folder, read_holder(self.folder, wait=True)))
        self._fd = fd  # released by `release` from here on, also when the note cannot be written (a full disk)
        since = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        note = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since}).encode()
        try:
            os.ftruncate(fd, 0)  # the file is never replaced (a new file would be a second, free lock)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, note)
        except OSError as error:
            self.release()
            error.filename = error.filename or str(self.folder / LOCK_FILE)
            raise
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                _unlock(fd)
            finally:
                os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # a trainer dropped unrun (a long-lived app, a test) must not keep the run
        try:
            self.release()
        except Exception:  # noqa: BLE001 - at interpreter exit its modules may be gone; the kernel releases it
            pass


def locked_message(folder: Path, holder: LockHolder) -> str:
    """The one line that refuses to train a run another process trains, and says what to do."""
    stop = f"kill -TERM {holder.pid}, which saves" if holder.pid is not None else "Ctrl-C where it runs saves"
    return (f"run {folder.name!r} is being trained by {holder.describe()}: wait for it to finish, "
            f"or stop it first ({stop}), then resume")


def lock_holder(folder: Path) -> LockHolder | None:
    """Who trains the run now, or None when no process holds its lock (a folder without a lock
    file has never been locked, or was locked by a version that did not lock)."""
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        if _try_lock(fd):
            _unlock(fd)
            return None
    finally:
        os.close(fd)
    return read_holder(folder)


def read_holder(folder: Path, wait: bool = False) -> LockHolder:
    """The lock file's note; with `wait`, give a holder that has just taken the lock a moment to write it."""
    holder = _note(folder)
    if wait and holder.pid is None:
        _retry(lambda: _note(folder).pid is not None)
        holder = _note(folder)
    return holder


def _note(folder: Path) -> LockHolder:
    try:
        note = json.loads((folder / LOCK_FILE).read_bytes())
    except (OSError, ValueError):
        return LockHolder(None, None, None)
    if not isinstance(note, dict):
        return LockHolder(None, None, None)
    pid, host, since = note.get("pid"), note.get("host"), note.get("since")
    return LockHolder(pid if isinstance(pid, int) else None, host if isinstance(host, str) else None,
                      since if isinstance(since, str) else None)


def _retry(attempt: Callable[[], bool]) -> bool:
    for _ in range(_TRIES):
        if attempt():
            return True
        time.sleep(_PAUSE)
    return False
