"""Write a corpus folder as its parts come, so that no whole array is ever held in memory.

Windows, their owners and whole tunes are appended to raw files in the staging folder of
`replace_folder_atomically`; tune records to a file of JSON lines. `finish` then streams each raw
file into its member of `tokens.npz` (the .npy a `np.savez_compressed` would write), streams the
lines into `tunes.json`, writes `vocab.json` and the extra files, and writes `manifest.json` last,
with the content hash computed by reading the raw files once more. `Corpus.save` writes through
it too (its arrays fed in one piece), so a corpus folder is written one way, whatever its size.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np

from seqgan_music.atomic import replace_folder_atomically
from seqgan_music.corpora.split import SPLITS
from seqgan_music.paths import check_no_case_twin, corpus_dir

MANIFEST, TOKENS, VOCAB, TUNES = "manifest.json", "tokens.npz", "vocab.json", "tunes.json"
CHUNK_BYTES = 1 << 20  # what is read from a raw file, compressed or hashed at a time
_IDS, _OFFSETS = np.dtype("<i4"), np.dtype("<i8")  # token ids and owners; whole-tune offsets


def content_digest(windows: Mapping[str, tuple[tuple[int, ...], Iterable[bytes]]],
                   whole_tunes: Mapping[str, tuple[Iterable[bytes], Iterable[bytes]]], vocabulary_json: str) -> str:
    """SHA-256 of a corpus's windows (split -> shape and int32 bytes, in SPLITS order), whole tunes
    (split -> int64 offsets' bytes and int32 ids' bytes, by split name) and vocabulary: the one
    definition of a corpus's content hash, fed from memory (`Corpus.content_hash`) or from the raw
    files a `CorpusWriter` streams, in chunks of any size."""
    digest = hashlib.sha256()
    for split in SPLITS:
        shape, chunks = windows[split]
        digest.update(f"{split}:{tuple(int(n) for n in shape)}".encode())
        for chunk in chunks:
            digest.update(chunk)
    for split in sorted(whole_tunes):
        offsets, ids = whole_tunes[split]
        digest.update(f"tunes_{split}:".encode())
        for chunk in offsets:
            digest.update(chunk.hex().encode())
        for chunk in ids:
            digest.update(chunk)
    digest.update(vocabulary_json.encode())
    return digest.hexdigest()


class CorpusWriter:
    """The files of one corpus folder, written into `folder` (a staging folder) as parts come.

    `owners`: whether each split's windows name their tune (`{split}_tune`); `whole_tunes`: whether
    the corpus keeps whole tunes (`tunes_{split}`, `tunes_{split}_offsets`, `tunes_{split}_tune`).
    """

    def __init__(self, folder: Path, length: int, owners: bool, whole_tunes: bool) -> None:
        self.folder, self.length, self.owners, self.whole_tunes = folder, length, owners, whole_tunes
        self.rows = dict.fromkeys(SPLITS, 0)  # windows written per split
        self.tune_ids = dict.fromkeys(SPLITS, 0)  # whole-tune ids written per split
        self.tune_counts = dict.fromkeys(SPLITS, 0)  # whole tunes written per split
        self.streams: dict[str, BinaryIO] = {}
        try:
            for name in [*self._array_names(), TUNES]:
                self.streams[name] = open(self._raw(name), "wb")  # closed by `finish` or `close`
        except BaseException:
            self.close()
            raise
        if whole_tunes:
            for split in SPLITS:
                self.streams[f"tunes_{split}_offsets"].write(np.zeros(1, _OFFSETS).tobytes())

    def add_windows(self, split: str, windows: np.ndarray, owners: np.ndarray | Sequence[int] | None = None) -> None:
        """Append windows (rows of `length` ids) to a split, with the index of each one's tune when
        the corpus keeps owners."""
        windows = np.asarray(windows, dtype=_IDS).reshape(-1, self.length)
        self.streams[split].write(windows.tobytes())
        self.rows[split] += len(windows)
        if self.owners:
            owners = np.asarray(owners, dtype=_IDS)
            if owners.shape != (len(windows),):
                raise ValueError(f"{len(windows)} windows of {split} with {owners.shape} owners")
            self.streams[f"{split}_tune"].write(owners.tobytes())

    def add_whole_tunes(self, split: str, sequences: Iterable[np.ndarray], owners: Iterable[int]) -> None:
        """Append whole tunes (id sequences) to a split, each with the index of its tune record."""
        ids, offsets, tunes = (self.streams[f"tunes_{split}{part}"] for part in ("", "_offsets", "_tune"))
        for sequence, owner in zip(sequences, owners, strict=True):
            sequence = np.asarray(sequence, dtype=_IDS)
            ids.write(sequence.tobytes())
            self.tune_ids[split] += len(sequence)
            self.tune_counts[split] += 1
            offsets.write(np.array([self.tune_ids[split]], _OFFSETS).tobytes())
            tunes.write(np.array([owner], _IDS).tobytes())

    def add_records(self, records: Iterable[dict]) -> None:
        """Append tune records (what tunes.json lists), in the order of their indices."""
        stream = self.streams[TUNES]
        for record in records:
            stream.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")

    def finish(self, vocabulary_json: str, manifest: dict, files: Mapping[str, bytes] | None = None) -> str:
        """Write tokens.npz, tunes.json, vocab.json, the extra `files` and, last, the manifest with
        its `content_hash` set (in `manifest` too); the raw files are removed. Returns the hash."""
        self.close()
        self._write_tokens()
        self._write_tunes()
        (self.folder / VOCAB).write_text(vocabulary_json, encoding="utf-8")
        for filename, data in (files or {}).items():
            (self.folder / filename).write_bytes(data)
        manifest["content_hash"] = self.content_hash(vocabulary_json)
        for name in [*self._array_names(), TUNES]:
            self._raw(name).unlink()
        (self.folder / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        return manifest["content_hash"]

    def close(self) -> None:
        for stream in self.streams.values():
            stream.close()

    def content_hash(self, vocabulary_json: str) -> str:
        """`content_digest` of what was written, read back from the raw files."""
        windows = {s: ((self.rows[s], self.length), self._chunks(s)) for s in SPLITS}
        whole = {s: (self._chunks(f"tunes_{s}_offsets"), self._chunks(f"tunes_{s}"))
                 for s in SPLITS} if self.whole_tunes else {}
        return content_digest(windows, whole, vocabulary_json)

    def _array_names(self) -> list[str]:
        return [name for name, _, _ in self._arrays()]

    def _arrays(self) -> list[tuple[str, tuple[int, ...], np.dtype]]:
        """The arrays of tokens.npz (name, shape so far, dtype), in the order `Corpus.save` always
        wrote them."""
        arrays = [(split, (self.rows[split], self.length), _IDS) for split in SPLITS]
        if self.owners:
            arrays += [(f"{split}_tune", (self.rows[split],), _IDS) for split in SPLITS]
        if self.whole_tunes:
            for split in SPLITS:
                tunes = self.tune_counts[split]
                arrays += [(f"tunes_{split}", (self.tune_ids[split],), _IDS),
                           (f"tunes_{split}_offsets", (tunes + 1,), _OFFSETS),
                           (f"tunes_{split}_tune", (tunes,), _IDS)]
        return arrays

    def _write_tokens(self) -> None:
        """tokens.npz: each raw file streamed into its .npy member behind the header that says
        its dtype and shape, as `np.savez_compressed` lays them out."""
        with zipfile.ZipFile(self.folder / TOKENS, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, shape, dtype in self._arrays():
                header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array_header_1_0(member, header)
                    for chunk in self._chunks(name):
                        member.write(chunk)

    def _write_tunes(self) -> None:
        """tunes.json: the records' lines joined as `json.dumps` joins a list's items."""
        with open(self.folder / TUNES, "wb") as out, open(self._raw(TUNES), "rb") as lines:
            out.write(b"[")
            for index, line in enumerate(lines):
                out.write((b", " if index else b"") + line.rstrip(b"\n"))
            out.write(b"]")

    def _chunks(self, name: str) -> Iterator[bytes]:
        with open(self._raw(name), "rb") as stream:
            while chunk := stream.read(CHUNK_BYTES):
                yield chunk

    def _raw(self, name: str) -> Path:
        return self.folder / f".raw-{name}"


@contextmanager
def writing_corpus(home: Path, name: str, length: int, owners: bool, whole_tunes: bool,
                   replace: bool = True) -> Iterator[CorpusWriter]:
    """A writer for `<home>/corpora/<name>/`: the folder replaces an older build when the block
    ends after `finish` (with `replace=False`, FileExistsError instead); on any error (or without
    `finish`) nothing of it is left and the older build stays as it was."""
    target = corpus_dir(home, name)
    check_no_case_twin(target.parent, name, "corpus")
    with replace_folder_atomically(target, replace) as staging:
        writer = CorpusWriter(staging, length, owners, whole_tunes)
        try:
            yield writer
        finally:
            writer.close()
        if not (staging / MANIFEST).exists():
            raise RuntimeError(f"the corpus {name!r} was not finished: its writer's finish was not called")
