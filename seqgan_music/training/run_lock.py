"""One process trains a run at a time: the OS lock of `file_lock` on `<run>/.lock`, held while a
process trains it. A run marked running whose lock is free was left so by a process that is gone."""

from __future__ import annotations

from pathlib import Path

from seqgan_music.file_lock import FileLock, LockHolder, holder_of

LOCK_FILE = ".lock"


class RunLock(FileLock):
    """The lock on one run folder; `acquire` refuses in one line naming the process that trains it."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder / LOCK_FILE, lambda holder: locked_message(folder, holder))
        self.folder = folder


def locked_message(folder: Path, holder: LockHolder) -> str:
    """The one line that refuses to train a run another process trains, and says what to do."""
    stop = f"kill -TERM {holder.pid}, which saves" if holder.pid is not None else "Ctrl-C where it runs saves"
    return (f"run {folder.name!r} is being trained by {holder.describe()}: wait for it to finish, "
            f"or stop it first ({stop}), then resume")


def lock_holder(folder: Path) -> LockHolder | None:
    """Who trains the run now, or None when no process holds its lock (a folder without a lock
    file has never been locked, or was locked by a version that did not lock)."""
    return holder_of(folder / LOCK_FILE)
