"""Checkpoints: the whole training state in one file, written atomically, loaded without pickle."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from seqgan_music.atomic import write_bytes_atomic
from seqgan_music.errors import SeqganError

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
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for damaged or unsafe files
        raise SeqganError(f"checkpoint {path} cannot be loaded ({type(error).__name__}): start a new run") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise SeqganError(f"checkpoint {path} has an unknown format: start a new run")
    return state
