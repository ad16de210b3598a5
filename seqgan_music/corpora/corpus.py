"""The Corpus: train/valid/test token windows, their vocabulary and encoding, and a manifest.

On disk, `<home>/corpora/<name>/` holds `tokens.npz` (integer arrays, loaded without pickle),
`vocab.json`, `manifest.json`, `tunes.json` (each music tune's meter, key, tempo and source, so
export can write them back) and any source files such as `oracle.npz`. A build writes the whole
folder under a temporary name and renames it, so a failed build never damages a corpus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from seqgan_music import __version__
from seqgan_music.corpora.corpus_writer import MANIFEST, TOKENS, TUNES, VOCAB, content_digest, writing_corpus
from seqgan_music.corpora.encodings import Encoding, MusicEncoding, encoding_from_params
from seqgan_music.corpora.melody import Melody
from seqgan_music.corpora.split import SPLITS
from seqgan_music.corpora.vocabulary import Vocabulary
from seqgan_music.errors import DamagedFileError, SeqganError
from seqgan_music.paths import corpora_dir, corpus_dir
from seqgan_music.project_files import DamagedItem, damage_as_error, expect, expect_fields, read_arrays, read_json


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
        windows = {}
        for split in SPLITS:
            array = np.ascontiguousarray(self.splits[split], dtype=np.int32)
            windows[split] = (array.shape, [array.tobytes()])
        whole = {}
        for split, sequences in self.tune_sequences.items():
            flat, offsets = _flatten(sequences)
            whole[split] = ([offsets.tobytes()], [flat.tobytes()])
        return content_digest(windows, whole, self.vocabulary.to_json())

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
        whole = bool(self.tune_sequences)
        with writing_corpus(home, self.name, self.length, bool(self.tune_of_window), whole) as writer:
            for split in SPLITS:
                writer.add_windows(split, self.splits[split], self.tune_of_window.get(split))
                if whole:
                    writer.add_whole_tunes(split, self.tune_sequences.get(split, []),
                                           self.tune_of_sequence.get(split, []))
            writer.add_records(self.tunes)
            writer.finish(self.vocabulary.to_json(), self.manifest, self.files)
        self.folder = corpus_dir(home, self.name)
        return self.folder


def new_manifest(name: str, source: dict, encoding: Encoding, split: dict, counts: dict,
                 skipped: list[Skipped], build_seconds: float) -> dict:
    """The manifest every source writes; `content_hash` is filled in as the corpus is written."""
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
    """Load a saved corpus, checking each file and that they agree with each other."""
    folder = corpus_dir(home, name)
    if not (folder / MANIFEST).is_file():
        raise SeqganError(
            f"no corpus named {name!r} in {corpora_dir(home)}: see `seqgan-music corpus list`, "
            "or build one with `seqgan-music corpus build ...`"
        )
    manifest = read_manifest(folder)
    with damage_as_error(folder / MANIFEST, rebuild_remedy(name)):
        expect("content_hash" in manifest, "has no 'content_hash'")  # a listing can do without, runs cannot
    vocabulary = read_vocabulary(folder)
    tunes = read_tunes(folder)
    arrays = read_tokens(folder, len(vocabulary), len(tunes))
    tune_sequences = _whole_tunes(arrays)
    return Corpus(
        name=name,
        splits={s: arrays[s] for s in SPLITS},
        vocabulary=vocabulary,
        encoding=encoding_from_params(manifest["encoding"]),
        manifest=manifest,
        tunes=tunes,
        tune_of_window={s: arrays[f"{s}_tune"] for s in SPLITS if f"{s}_tune" in arrays},
        folder=folder,
        tune_sequences=tune_sequences,
        tune_of_sequence={s: arrays[f"tunes_{s}_tune"] for s in tune_sequences},
    )


def rebuild_remedy(name: str) -> str:
    """What to do about a damaged corpus file."""
    return (f"rebuild the corpus with `seqgan-music corpus build SOURCE ... --name {name}`, "
            "or restore its folder from a backup")


def read_manifest(folder: Path) -> dict:
    """The corpus's manifest.json, checked to hold what every build writes."""
    path = folder / MANIFEST
    with damage_as_error(path, rebuild_remedy(folder.name)):
        manifest = expect_fields(read_json(path), {"name": str, "source": dict, "encoding": dict, "counts": dict},
                                 {"content_hash": str, "skipped": list, "split": dict})
        counts = expect_fields(manifest["counts"], {}, {"windows": dict, "tunes": int, "vocabulary": int})
        expect(all(isinstance(n, int) for n in counts.get("windows", {}).values()), "'windows' counts are not numbers")
        expect(all(isinstance(s, dict) for s in manifest.get("skipped", [])), "'skipped' is not a list of objects")
        encoding_from_params(manifest["encoding"])
    return manifest


def read_vocabulary(folder: Path) -> Vocabulary:
    """The corpus's vocab.json."""
    path = folder / VOCAB
    with damage_as_error(path, rebuild_remedy(folder.name)):
        return Vocabulary.from_data(read_json(path))


def read_tunes(folder: Path) -> list[dict]:
    """The corpus's tunes.json: one object per tune (none for corpora that are not music)."""
    path = folder / TUNES
    if not path.exists():
        return []
    with damage_as_error(path, rebuild_remedy(folder.name)):
        tunes = read_json(path)
        expect(isinstance(tunes, list), "holds no list of tunes")
        for tune in tunes:
            expect_fields(tune, {}, {"title": (str, type(None)), "meter": (str, type(None)), "key": (dict, type(None)),
                                    "tempo": (int, float, type(None))})
            if tune.get("key"):
                expect_fields(tune["key"], {"fifths": int, "mode": str, "source": str})
    return tunes


def read_tokens(folder: Path, vocabulary_size: int, tunes: int) -> dict[str, np.ndarray]:
    """The corpus's tokens.npz: each split's windows (ids within the vocabulary), the tune of each
    window (within tunes.json's `tunes`) and any whole tunes, checked to fit together."""
    path = folder / TOKENS
    with damage_as_error(path, rebuild_remedy(folder.name)):
        arrays = read_arrays(path)
        missing = [s for s in SPLITS if s not in arrays]
        expect(not missing, f"lacks the {', '.join(missing)} split(s)")
        for key, array in arrays.items():
            expect(array.dtype.kind in "iu", f"{key!r} does not hold integers")
            expect(array.ndim == (2 if key in SPLITS else 1), f"{key!r} has {array.ndim} dimensions")
        for split in SPLITS:
            array = arrays[split]
            expect(not array.size or (array.min() >= 0 and array.max() < vocabulary_size),
                   f"{split!r} has token ids outside the vocabulary")
            owners = arrays.get(f"{split}_tune")
            expect(owners is None or (len(owners) == len(array) and _within(owners, tunes)),
                   f"'{split}_tune' does not name a tune of tunes.json for each window")
        for split in SPLITS:
            _check_whole_tunes(arrays, split, vocabulary_size, tunes)
    return arrays


def _within(indices: np.ndarray, size: int) -> bool:
    return not indices.size or (indices.min() >= 0 and indices.max() < size)


def _check_whole_tunes(arrays: dict[str, np.ndarray], split: str, vocabulary_size: int, tunes: int) -> None:
    """A split's whole tunes: ids within the vocabulary, offsets that cut them, owners in tunes.json."""
    keys = (f"tunes_{split}", f"tunes_{split}_offsets", f"tunes_{split}_tune")
    present = [key in arrays for key in keys]
    expect(all(present) or not any(present), f"incomplete whole-tune arrays for {split}")
    if not all(present):
        return
    flat, offsets, owners = (arrays[key] for key in keys)
    valid = (len(offsets) == len(owners) + 1 and offsets[0] == 0 and offsets[-1] == len(flat)
             and bool(np.all(np.diff(offsets) >= 0)) and _within(flat, vocabulary_size) and _within(owners, tunes))
    expect(valid, f"malformed whole-tune arrays for {split}")


def _flatten(sequences: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Ragged sequences -> (all ids concatenated, int64 offsets of length n + 1)."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    flat = np.concatenate([np.asarray(s, dtype=np.int32) for s in sequences]) if sequences else np.zeros(0, np.int32)
    return flat, offsets


def _whole_tunes(arrays: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """The whole-tune sequences stored in tokens.npz (none in corpora built before they existed)."""
    found: dict[str, list[np.ndarray]] = {}
    for split in SPLITS:
        if f"tunes_{split}" in arrays:
            flat, offsets = arrays[f"tunes_{split}"], arrays[f"tunes_{split}_offsets"]
            found[split] = [flat[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
    return found


def survey_corpora(home: Path) -> tuple[list[dict], list[DamagedItem]]:
    """The manifests of the corpora under `<home>/corpora/` by name, and the corpora whose manifest
    is damaged (a listing shows them as damaged and goes on)."""
    root = corpora_dir(home)
    manifests, damaged = [], []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.name.startswith(".") or not (folder / MANIFEST).is_file():
            continue
        try:
            manifests.append(read_manifest(folder))
        except DamagedFileError as error:
            damaged.append(DamagedItem(folder.name, f"{MANIFEST}: {error.reason}"))
    return manifests, damaged


def list_corpora(home: Path) -> list[dict]:
    """The manifests of the readable corpora under `<home>/corpora/`, by name."""
    return survey_corpora(home)[0]
