"""The Corpus: train/valid/test token windows, their vocabulary and encoding, and a manifest.

On disk, `<home>/corpora/<name>/` holds `tokens.npz` (integer arrays, loaded without pickle),
`vocab.json`, `manifest.json`, `tunes.json` (each music tune's meter, key, tempo and source, so
export can write them back) and any source files such as `oracle.npz`. A build writes the whole
folder under a temporary name and renames it, so a failed build never damages a corpus.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from seqgan_music import __version__
from seqgan_music.atomic import replace_folder_atomically
from seqgan_music.corpora.encodings import Encoding, MusicEncoding, encoding_from_params
from seqgan_music.corpora.melody import Melody
from seqgan_music.corpora.split import SPLITS
from seqgan_music.corpora.vocabulary import Vocabulary
from seqgan_music.errors import SeqganError
from seqgan_music.paths import corpora_dir, corpus_dir

MANIFEST, TOKENS, VOCAB, TUNES = "manifest.json", "tokens.npz", "vocab.json", "tunes.json"


@dataclass(frozen=True)
class Skipped:
    """An input that was not used, and why."""

    path: str
    reason: str

    def to_dict(self) -> dict:
        return {"path": self.path, "reason": self.reason}


@dataclass
class Corpus:
    """Token windows per split (int32 arrays of shape (N, length)) with everything to decode them."""

    name: str
    splits: dict[str, np.ndarray]
    vocabulary: Vocabulary
    encoding: Encoding
    manifest: dict
    tunes: list[dict] = field(default_factory=list)  # per-tune metadata for music corpora
    tune_of_window: dict[str, np.ndarray] = field(default_factory=dict)  # split -> (N,) tune index
    files: dict[str, bytes] = field(default_factory=dict)  # extra files saved beside the tokens
    folder: Path | None = None
    # Whole tunes (grid16 music corpora): split -> one id sequence per tune, ending with <end>
    # (see corpora.tunes), and split -> (tunes,) index into `tunes` of each sequence.
    tune_sequences: dict[str, list[np.ndarray]] = field(default_factory=dict)
    tune_of_sequence: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def is_music(self) -> bool:
        return isinstance(self.encoding, MusicEncoding)

    @property
    def length(self) -> int:
        return int(self.splits["train"].shape[1])

    def content_hash(self) -> str:
        """SHA-256 of the token arrays and the vocabulary: two corpora with equal hashes are equal."""
        digest = hashlib.sha256()
        for split in SPLITS:
            array = np.ascontiguousarray(self.splits[split], dtype=np.int32)
            digest.update(f"{split}:{array.shape}".encode())
            digest.update(array.tobytes())
        for split, sequences in sorted(self.tune_sequences.items()):
            flat, offsets = _flatten(sequences)
            digest.update(f"tunes_{split}:{offsets.tobytes().hex()}".encode())
            digest.update(flat.tobytes())
        digest.update(self.vocabulary.to_json().encode())
        return digest.hexdigest()

    @property
    def has_whole_tunes(self) -> bool:
        return bool(self.tune_sequences.get("train"))

    def symbols(self, ids: np.ndarray | list[int]) -> list[str]:
        return [self.vocabulary.token(i) for i in ids]

    def decode(self, ids: np.ndarray | list[int], tune: int | None = None) -> Melody | str:
        """Any id sequence -> a melody (music) or a line (text); `tune` restores its meter and key."""
        metadata = self.tunes[tune] if tune is not None and self.tunes else None
        return self.encoding.decode(self.symbols(ids), metadata)  # type: ignore[attr-defined]

    def save(self, home: Path) -> Path:
        """Write atomically to `<home>/corpora/<name>/`, replacing an older build only on success."""
        target = corpus_dir(home, self.name)
        self.manifest["content_hash"] = self.content_hash()
        arrays = {split: np.asarray(self.splits[split], dtype=np.int32) for split in SPLITS}
        arrays.update({f"{s}_tune": np.asarray(a, dtype=np.int32) for s, a in self.tune_of_window.items()})
        for split, sequences in self.tune_sequences.items():
            arrays[f"tunes_{split}"], arrays[f"tunes_{split}_offsets"] = _flatten(sequences)
            arrays[f"tunes_{split}_tune"] = np.asarray(self.tune_of_sequence[split], dtype=np.int32)
        with replace_folder_atomically(target) as staging:
            np.savez_compressed(staging / TOKENS, **arrays)
            (staging / VOCAB).write_text(self.vocabulary.to_json(), encoding="utf-8")
            (staging / TUNES).write_text(json.dumps(self.tunes, ensure_ascii=False), encoding="utf-8")
            for filename, data in self.files.items():
                (staging / filename).write_bytes(data)
            (staging / MANIFEST).write_text(json.dumps(self.manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        self.folder = target
        return target


def new_manifest(name: str, source: dict, encoding: Encoding, split: dict, counts: dict,
                 skipped: list[Skipped], build_seconds: float) -> dict:
    """The manifest every source writes; `content_hash` is filled in by `Corpus.save`."""
    return {
        "name": name,
        "source": source,
        "encoding": encoding.params(),
        "split": split,
        "counts": counts,
        "content_hash": None,
        "skipped": [s.to_dict() for s in skipped],
        "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(build_seconds, 2),
        "seqgan_music_version": __version__,
    }


def load_corpus(home: Path, name: str) -> Corpus:
    """Load a saved corpus, checking that its files agree with each other."""
    folder = corpus_dir(home, name)
    if not (folder / MANIFEST).is_file():
        raise SeqganError(
            f"no corpus named {name!r} in {corpora_dir(home)}: see `seqgan-music corpus list`, "
            "or build one with `seqgan-music corpus build ...`"
        )
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        vocabulary = Vocabulary.from_json((folder / VOCAB).read_text(encoding="utf-8"))
        tunes = json.loads((folder / TUNES).read_text(encoding="utf-8")) if (folder / TUNES).is_file() else []
        with np.load(folder / TOKENS, allow_pickle=False) as data:
            arrays = {key: np.asarray(data[key]) for key in data.files}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, io.UnsupportedOperation) as error:
        raise SeqganError(f"corpus {name!r} is damaged ({error}): rebuild it") from None
    missing = [s for s in SPLITS if s not in arrays]
    if missing:
        raise SeqganError(f"corpus {name!r} lacks the {', '.join(missing)} split(s): rebuild it")
    for split in SPLITS:
        array = arrays[split]
        if array.ndim != 2 or (array.size and (array.min() < 0 or array.max() >= len(vocabulary))):
            raise SeqganError(f"corpus {name!r} has token ids outside its vocabulary: rebuild it")
    tune_sequences = _whole_tunes(name, arrays, len(vocabulary))
    return Corpus(
        name=name,
        splits={s: arrays[s] for s in SPLITS},
        vocabulary=vocabulary,
        encoding=encoding_from_params(manifest.get("encoding", {})),
        manifest=manifest,
        tunes=tunes,
        tune_of_window={s: arrays[f"{s}_tune"] for s in SPLITS if f"{s}_tune" in arrays},
        folder=folder,
        tune_sequences=tune_sequences,
        tune_of_sequence={s: arrays[f"tunes_{s}_tune"] for s in tune_sequences},
    )


def _flatten(sequences: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Ragged sequences -> (all ids concatenated, int64 offsets of length n + 1)."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    flat = np.concatenate([np.asarray(s, dtype=np.int32) for s in sequences]) if sequences else np.zeros(0, np.int32)
    return flat, offsets


def _whole_tunes(name: str, arrays: dict[str, np.ndarray], vocabulary_size: int) -> dict[str, list[np.ndarray]]:
    """The whole-tune sequences stored in tokens.npz (none in corpora built before they existed)."""
    found: dict[str, list[np.ndarray]] = {}
    for split in SPLITS:
        keys = (f"tunes_{split}", f"tunes_{split}_offsets", f"tunes_{split}_tune")
        if not all(key in arrays for key in keys):
            continue
        flat, offsets, owners = (arrays[key] for key in keys)
        valid = (flat.ndim == 1 and offsets.ndim == 1 and len(offsets) == len(owners) + 1 and len(offsets) > 0
                 and offsets[0] == 0 and offsets[-1] == len(flat) and bool(np.all(np.diff(offsets) >= 0))
                 and (flat.size == 0 or (flat.min() >= 0 and flat.max() < vocabulary_size)))
        if not valid:
            raise SeqganError(f"corpus {name!r} has malformed whole-tune arrays for {split}: rebuild it")
        found[split] = [flat[offsets[i]:offsets[i + 1]] for i in range(len(owners))]
    return found


def list_corpora(home: Path) -> list[dict]:
    """Manifests of the corpora under `<home>/corpora/`, by name; unreadable ones are left out."""
    root = corpora_dir(home)
    manifests = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.name.startswith(".") or not (folder / MANIFEST).is_file():
            continue
        try:
            manifests.append(json.loads((folder / MANIFEST).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return manifests
