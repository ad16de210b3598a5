"""Write files and folders so that an interrupted write never damages what is on disk.

Temporary files and folders are made beside their target with the mode the umask gives (files
0666 & ~umask, folders 0777 & ~umask), the mode they keep once renamed into place: the kernel
applies the umask as they are created. `tempfile.mkstemp` and `mkdtemp` would make them 0600 and
0700, so other users could read no tune, checkpoint or corpus.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

_ATTEMPTS = 100  # names are 48 random bits: a clash is already unlikely once
T = TypeVar("T")


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
def replace_folder_atomically(target: Path) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces `target`, on failure it vanishes.

    The old folder is moved aside before the new one is renamed in, and removed only afterwards,
    so at every moment either the old or the new complete folder exists under its name; an
    interrupt between the two renames moves the old one back.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = new_temporary_folder(target.parent, prefix=f".{target.name}.building.")
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    retired = None
    try:
        if target.exists():
            retired = new_temporary_folder(target.parent, prefix=f".{target.name}.old.")
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
