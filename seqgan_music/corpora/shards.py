"""The shards of a MIDI build in progress: its encoded tunes on disk, so that an interrupted build
goes on from them and the builder's memory holds one shard's tunes at a time.

A build's shards live in `<home>/corpora/.cache/ingest/<corpus name>/`, beside a key: the hash of
the file list (paths, sizes and modification times) and the settings that change what a file
becomes. The same command run again with the same key reads the shards instead of the files they
cover; another key (the folder or the settings changed) removes them and starts again. Shard k
holds the results of files [k * size, (k + 1) * size) of the sorted list, as a .npz written to a
temporary name and renamed, so a shard on disk is always whole. They are loaded without pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np

from seqgan_music.atomic import new_temporary_file, write_text_atomic
from seqgan_music.corpora.encoded import EncodedBatch
from seqgan_music.file_lock import FileLock
from seqgan_music.paths import corpora_dir

SHARD_FORMAT = 1  # bump when EncodedBatch's arrays change, so older shards are not read
_KEY = "key.json"


def shards_folder(home: Path, name: str) -> Path:
    return corpora_dir(home) / ".cache" / "ingest" / name


def build_key(folder: Path, files: Sequence[Path], settings: dict) -> str:
    """A hash of the files under `folder` (relative path, size, modification time) and `settings`."""
    digest = hashlib.sha256(json.dumps({"format": SHARD_FORMAT, "settings": settings}, sort_keys=True).encode())
    for path in files:
        try:
            stat = path.stat()
            facts = f"{stat.st_size}:{stat.st_mtime_ns}"
        except OSError as error:
            facts = f"error {error.errno}"
        digest.update(f"{path.relative_to(folder).as_posix()}\0{facts}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


class ShardStore:
    """The shards under one folder for one key; `done` counts the whole ones from shard 0."""

    def __init__(self, folder: Path, key: str) -> None:
        self.folder = folder
        self.key = key
        self.done = 0
        self.skipped_found = 0  # inputs skipped in the shards found on opening
        self.changed = False  # shards of another key were found and removed

    @staticmethod
    def open(folder: Path, key: str) -> ShardStore:
        """The store for `key` in `folder`: the earlier shards of the same key are kept (up to the
        first missing or damaged one); those of another key are removed."""
        store = ShardStore(folder, key)
        try:
            earlier = json.loads((folder / _KEY).read_text("utf-8")).get("key")
        except (OSError, ValueError, AttributeError):
            earlier = None
        if earlier != key:
            store.changed = earlier is not None
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
            write_text_atomic(folder / _KEY, json.dumps({"key": key}))
            return store
        while (folder / _shard_name(store.done)).exists():
            try:
                store.skipped_found += len(store.read(store.done).skipped)
            except (OSError, ValueError, KeyError):
                break
            store.done += 1
        for stale in folder.glob("shard-*.npz"):  # the damaged one and any after it are read again
            if stale.name >= _shard_name(store.done):
                stale.unlink(missing_ok=True)
        return store

    def write(self, index: int, batch: EncodedBatch) -> None:
        handle, temporary = new_temporary_file(self.folder, prefix=".shard-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                np.savez(stream, **batch.to_arrays())
            os.replace(temporary, self.folder / _shard_name(index))
            self.done = index + 1
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def read(self, index: int) -> EncodedBatch:
        with np.load(self.folder / _shard_name(index), allow_pickle=False) as arrays:
            return EncodedBatch.from_arrays(arrays)

    def batches(self, count: int) -> Iterator[EncodedBatch]:
        """Shards 0 .. count - 1, one at a time."""
        for index in range(count):
            yield self.read(index)

    def remove(self) -> None:
        """The shards and the folders above them that only held them (up to corpora/.cache)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        _remove_emptied(self.folder.parent)


@contextmanager
def build_lock(home: Path, name: str) -> Iterator[None]:
    """One build of a corpus name at a time (two would share, and remove, each other's shards): the
    lock `.NAME.lock` beside the shards, a second build refused in one line naming the first. The
    lock file goes once the build ends (removed while still held), with the folders it emptied."""
    folder = shards_folder(home, name).parent
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / f".{name}.lock", lambda holder: (
        f"corpus {name!r} is being built by {holder.describe()}: wait for it to finish, then run this again"))
    try:
        lock.acquire()
    except OSError:  # a full disk or an unwritable home: nothing is left behind
        lock.path.unlink(missing_ok=True)
        _remove_emptied(folder)
        raise
    try:
        yield
    finally:
        with suppress(OSError):
            lock.path.unlink()
        lock.release()
        _remove_emptied(folder)


def _remove_emptied(folder: Path) -> None:
    """`folder` (corpora/.cache/ingest) and corpora/.cache, where nothing else is left in them."""
    for parent in (folder, folder.parent):
        try:
            parent.rmdir()
        except OSError:  # not empty (another build's shards or lock, the folk parse cache) or gone
            break


def _shard_name(index: int) -> str:
    return f"shard-{index:06d}.npz"
