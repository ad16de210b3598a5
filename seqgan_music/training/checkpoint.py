"""Checkpoints: the whole training state in one file, written atomically, loaded without pickle."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from seqgan_music.atomic import write_bytes_atomic
from seqgan_music.errors import SeqganError
from seqgan_music.project_files import damage_as_error, expect, expect_fields, read_weights

CHECKPOINT_FORMAT = 1


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Serialize to memory first, then write beside the target and rename it into place."""
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, **state}, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load with `weights_only=True`, so a checkpoint can hold tensors and plain data but never code."""
    return load_checkpoint_bytes(path, read_checkpoint(path))


def read_checkpoint(path: Path) -> bytes:
    """The checkpoint file's bytes (to load and hash the same read); a one-line error when there is none."""
    if not path.is_file():
        raise SeqganError(f"run {path.parent.name!r} has not saved a checkpoint yet: train it on with "
                          f"`seqgan-music train --resume {path.parent.name}`")
    return path.read_bytes()


def load_checkpoint_bytes(path: Path, data: bytes) -> dict[str, Any]:
    """Load the bytes read from `path` (named in errors) with `weights_only=True`."""
    state = read_weights(path, data, checkpoint_remedy(path))
    with damage_as_error(path, checkpoint_remedy(path)):
        expect_fields(state, {"format": int, "generator": dict})
        expect(state["format"] == CHECKPOINT_FORMAT, f"a checkpoint of unknown format {state['format']}")
    return state


def checkpoint_remedy(path: Path) -> str:
    """What to do about a damaged or unsafe checkpoint."""
    return f"delete the run folder {path.parent} and train anew (or restore the file from a backup)"
