"""Where training runs (CUDA when available with --device auto) and how it is seeded."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from seqgan_music.errors import SeqganError


def pick_device(name: str) -> torch.device:
    """'auto' picks CUDA, then Apple's MPS, then the CPU; an explicit device must be present."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SeqganError("--device cuda was asked for but this torch build sees no CUDA GPU: use --device cpu or auto")
    if name == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise SeqganError("--device mps was asked for but MPS is not available: use --device cpu or auto")
    return torch.device(name)


def bfloat16_is_fast(device: torch.device) -> bool:
    """Whether the device has bf16 arithmetic units (CUDA from Ampere, CPUs with AVX512-BF16 or AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a torch build without oneDNN
            return False
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """The rollout's scoring precision: "auto" becomes bfloat16 where it is fast, else float32."""
    if precision != "auto":
        return precision
    return "bfloat16" if bfloat16_is_fast(device) else "float32"


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and random; training itself draws only from explicit torch generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def configure_threads(threads: int) -> None:
    """0 keeps torch's default (one thread per core); otherwise use `threads`, at most one per core:
    a run started on a larger machine resumes here (thousands of threads would crash torch)."""
    if threads > 0:
        torch.set_num_threads(min(threads, os.cpu_count() or 1))
