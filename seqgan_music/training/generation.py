"""Sample from a trained run's generator."""

from __future__ import annotations

from pathlib import Path

import torch

from seqgan_music.corpora.corpus import load_corpus
from seqgan_music.corpora.exporting import prepare_output_folder
from seqgan_music.errors import SeqganError
from seqgan_music.training.build import build_generator
from seqgan_music.training.checkpoint import load_checkpoint
from seqgan_music.training.runs import STATE_FILE, read_run_config, read_run_info, run_dir
from seqgan_music.training.samples import write_samples


def generate_from_run(home: Path, run: str, out: Path, count: int, temperature: float = 1.0,
                      top_k: int | None = None, seed: int = 0) -> list[Path]:
    """Write `count` samples of the run's generator to `out`; the same seed gives the same files."""
    folder = run_dir(home, run)
    info = read_run_info(folder)
    config = read_run_config(folder)
    corpus = load_corpus(home, info["corpus"])
    if corpus.manifest["content_hash"] != info["corpus_hash"]:
        raise SeqganError(f"corpus {info['corpus']!r} has changed since run {run!r} was trained: rebuild it as it was")
    generator = build_generator(corpus, config)
    generator.load_state_dict(load_checkpoint(folder / STATE_FILE)["generator"])
    generator.eval()
    prepare_output_folder(out)
    samples = generator.sample(count, corpus.length, temperature=temperature, top_k=top_k,
                               generator=torch.Generator().manual_seed(seed))
    return write_samples(corpus, samples.numpy(), out / f"{run}-seed{seed}")
