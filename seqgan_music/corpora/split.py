"""Deterministic train/valid/test split by tune, stable when files are added.

Each tune's split comes from a hash of its key (the file's relative path, or path#tune for files
holding several tunes) and the seed, so adding a file never moves another. A user's split file
(lines `train|valid|test <path>`) overrides the hash for the paths it lists.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from seqgan_music.errors import SeqganError

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class SplitPlan:
    """How tunes are assigned: fractions, seed, and explicit assignments from a split file."""

    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    assigned: dict[str, str] = field(default_factory=dict)
    file: str | None = None

    def split_of(self, key: str) -> str:
        """The split for a tune key; a split-file entry for the key or its file wins."""
        file_key = key.split("#", 1)[0]
        if key in self.assigned:
            return self.assigned[key]
        if file_key in self.assigned:
            return self.assigned[file_key]
        digest = hashlib.sha256(f"{self.seed}:{key}".encode()).digest()
        position = int.from_bytes(digest[:8], "big") / 2**64
        if position < self.fractions[0]:
            return "train"
        return "valid" if position < self.fractions[0] + self.fractions[1] else "test"

    def describe(self) -> dict:
        return {"fractions": list(self.fractions), "seed": self.seed, "file": self.file,
                "assigned": len(self.assigned)}


def parse_fractions(text: str) -> tuple[float, float, float]:
    """'80/10/10' -> (0.8, 0.1, 0.1)."""
    parts = text.replace(",", "/").split("/")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 3 or any(v < 0 for v in values) or sum(values) <= 0 or values[0] == 0:
        raise SeqganError(f"invalid split {text!r}: give three non-negative shares like 80/10/10 (train > 0)")
    total = sum(values)
    return (values[0] / total, values[1] / total, values[2] / total)


def read_split_file(path: Path) -> dict[str, str]:
    """Read `train|valid|test <path>` lines; blank lines and lines starting with # are ignored."""
    if not path.is_file():
        raise SeqganError(f"split file {path} does not exist: give a file with lines 'train <path>'")
    assigned: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise SeqganError(f"cannot read split file {path}: {error}") from None
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or parts[0] not in SPLITS:
            raise SeqganError(
                f"{path}:{number}: expected 'train|valid|test <path>', got {line!r}"
            )
        assigned[parts[1].strip().replace("\\", "/")] = parts[0]
    if not assigned:
        raise SeqganError(f"split file {path} lists no tunes: add lines like 'train jigs1.mid'")
    return assigned
