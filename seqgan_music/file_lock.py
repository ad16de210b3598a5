"""One process at a time: an OS lock on a file, held while a process does the work it guards.

The kernel drops the lock when its holder ends in any way (kill -9 included), so the lock file's
mere existence means nothing: only a held lock does. The file also notes who holds it (pid, host,
since when) for the line that refuses a second process. POSIX systems lock with fcntl.flock;
Windows with msvcrt.locking on one byte past the note (a locked region cannot be read there).
Runs (`training.run_lock`) and corpus builds (`corpora.building`) lock with it.
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

# A listing's probe holds a free lock for a moment, and a new holder writes its note just after
# taking it: a second process waits that long before it refuses or names the holder.
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
    """Who holds a lock, as its note says (None where the note is missing or unreadable)."""

    pid: int | None
    host: str | None
    since: str | None

    def describe(self) -> str:
        if self.pid is None:
            return "another process"
        where = "" if self.host in (None, socket.gethostname()) else f" on {self.host}"
        return f"process {self.pid}{where}" + (f" (since {self.since})" if self.since else "")


class FileLock:
    """The lock on one file. `acquire` takes it or refuses in one line, `refusal(holder)`;
    `release` (also on leaving a `with` block, or when the object is dropped) gives it back and
    may be called more than once."""

    def __init__(self, path: Path, refusal: Callable[[LockHolder], str]) -> None:
        self.path = path
        self.refusal = refusal
        self._fd: int | None = None

    def acquire(self) -> FileLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # less the umask, as every file
        if not _retry(lambda: _try_lock(fd)):
            os.close(fd)
            raise SeqganError(self.refusal(read_holder(self.path, wait=True)))
        self._fd = fd  # released by `release` from here on, also when the note cannot be written (a full disk)
        since = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        note = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since}).encode()
        try:
            os.ftruncate(fd, 0)  # the file is never replaced (a new file would be a second, free lock)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, note)
        except OSError as error:
            self.release()
            error.filename = error.filename or str(self.path)
            raise
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                _unlock(fd)
            finally:
                os.close(fd)

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # a holder dropped unused (a long-lived app, a test) must not keep the lock
        try:
            self.release()
        except Exception:  # noqa: BLE001 - at interpreter exit its modules may be gone; the kernel releases it
            pass


def holder_of(path: Path) -> LockHolder | None:
    """Who holds the lock now, or None when no process does (a missing file has never been locked)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        if _try_lock(fd):
            _unlock(fd)
            return None
    finally:
        os.close(fd)
    return read_holder(path)


def read_holder(path: Path, wait: bool = False) -> LockHolder:
    """The lock file's note; with `wait`, give a holder that has just taken the lock a moment to write it."""
    holder = _note(path)
    if wait and holder.pid is None:
        _retry(lambda: _note(path).pid is not None)
        holder = _note(path)
    return holder


def _note(path: Path) -> LockHolder:
    try:
        note = json.loads(path.read_bytes())
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
