"""Write files and folders so that an interrupted write never damages what is on disk.

Temporary files and folders are made beside their target with the mode the umask gives (files
0666 & ~umask, folders 0777 & ~umask), the mode they keep once renamed into place: the kernel
applies the umask as they are created. `tempfile.mkstemp` and `mkdtemp` would make them 0600 and
0700, so other users could read no tune, checkpoint or corpus.

Staging folders carry the id of the process that made them (`.NAME.building.<pid>-<hex>`,
`.seqgan-writing-<pid>-<hex>`), so that the next writer in the same folder can tell the leftovers
of a killed process from a writer still at work, and clean them up (`clean_up_after_killed_writers`).
`prepare_output_folder` refuses a folder the user named that cannot be written, before any work.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

from seqgan_music.errors import SeqganError

_ATTEMPTS = 100  # names are 48 random bits: a clash is already unlikely once
SET_STAGING = ".seqgan-writing-"  # a staging folder of files that appear in sets (a tune's formats)
_JOURNAL = "moving.json"  # in a set staging folder: the renames of the set being moved into place
T = TypeVar("T")


def prepare_output_folder(out: Path) -> None:
    """Create `out` if needed; a one-line error when it cannot be made or written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SeqganError(f"cannot create output folder {out}: {error.strerror}; choose another --out") from None
    if not out.is_dir() or not os.access(out, os.W_OK):
        raise SeqganError(f"{out} is not a writable folder: choose another --out")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = new_temporary_file(path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:
            error.filename = str(path)  # a failed write names no file: say which one it was
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def new_temporary_file(folder: Path, prefix: str, suffix: str = "") -> tuple[int, Path]:
    """A new file with a unique name in `folder`, open for writing (its descriptor and path)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    return _create_unique(folder, prefix, suffix, lambda path: os.open(path, flags, 0o666))


def new_temporary_folder(parent: Path, prefix: str) -> Path:
    """A new empty folder with a unique name in `parent`."""
    return _create_unique(parent, prefix, "", lambda path: os.mkdir(path, 0o777))[1]


def _create_unique(folder: Path, prefix: str, suffix: str, create: Callable[[Path], T]) -> tuple[T, Path]:
    """`create(path)` on random names until one is free (it must raise FileExistsError on a taken name)."""
    for _ in range(_ATTEMPTS):
        path = folder / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            return create(path), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free name {prefix}...{suffix} in {folder}")


@contextmanager
def replace_folder_atomically(target: Path, replace: bool = True) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces `target`, on failure it vanishes.

    The old folder is moved aside before the new one is renamed in, and removed only afterwards,
    so at every moment either the old or the new complete folder exists under its name; an
    interrupt between the two renames moves the old one back. With `replace=False` a `target` that
    exists by the end (made meanwhile by another process) is kept and FileExistsError raised.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_up_after_killed_writers(target.parent)
    staging = new_temporary_folder(target.parent, prefix=f".{target.name}.building.{os.getpid()}-")
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    retired = None
    try:
        if target.exists() and not replace:
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
        if target.exists():
            retired = new_temporary_folder(target.parent, prefix=f".{target.name}.old.{os.getpid()}-")
            retired.rmdir()
            os.replace(target, retired)
        os.replace(staging, target)
    except BaseException:
        if retired is not None and retired.exists() and not target.exists():
            os.replace(retired, target)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)


@contextmanager
def set_staging_folder(out: Path) -> Iterator[Path]:
    """A hidden staging folder in `out` for files that must appear in complete sets (see
    `move_set_into_place`); removed however the writing ends, once a set that an interrupt (Ctrl-C)
    stopped halfway is completed. Leftovers of killed writers in `out` are cleaned up first."""
    clean_up_after_killed_writers(out)
    staging = new_temporary_folder(out, prefix=f"{SET_STAGING}{os.getpid()}-")
    try:
        yield staging
    finally:
        with suppress(OSError):
            _finish_set(staging)
        shutil.rmtree(staging, ignore_errors=True)


def move_set_into_place(staging: Path, moves: Sequence[tuple[Path, Path]]) -> None:
    """Rename staged files (in `staging`) to their targets (in its parent) as one set: a journal of
    the renames is written first, so that after a kill halfway through the next writer in that
    folder completes the set from the staged files instead of leaving part of it."""
    journal = staging / _JOURNAL
    write_text_atomic(journal, json.dumps([[source.name, target.name] for source, target in moves]))
    for source, target in moves:
        os.replace(source, target)
    journal.unlink()


def clean_up_after_killed_writers(folder: Path) -> None:
    """Finish or remove what killed processes left in `folder`: a set half moved into place is
    completed (its staged files are whole), other staged files are removed; a folder moved aside
    for its replacement is moved back when the replacement never arrived, else removed."""
    if not folder.is_dir():
        return
    for leftover in folder.glob(".*"):
        if not leftover.is_dir() or _writer_alive(leftover.name):
            continue
        if leftover.name.startswith(SET_STAGING):
            _finish_set(leftover)
        elif ".old." in leftover.name:
            target = folder / leftover.name[1:leftover.name.index(".old.")]
            if not target.exists():
                os.replace(leftover, target)
                continue
        elif ".building." not in leftover.name:
            continue
        shutil.rmtree(leftover, ignore_errors=True)


def _finish_set(staging: Path) -> None:
    try:
        moves = json.loads((staging / _JOURNAL).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # no journal: no set of this folder was being moved
    for source, target in moves:
        if (staging / source).exists():
            os.replace(staging / source, staging.parent / target)


def _writer_alive(name: str) -> bool:
    """Whether the process whose id a staging folder's name carries still runs (False for names
    without one: those are leftovers of writers before ids were added)."""
    for marker in (SET_STAGING, ".building.", ".old."):
        if marker in name:
            pid = name.split(marker, 1)[1].split("-", 1)[0]
            if not pid.isdigit():
                return False
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
    return False
