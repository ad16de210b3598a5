"""Load a trained run's generator, and sample from it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from seqgan_music.atomic import prepare_output_folder
from seqgan_music.config import Config
from seqgan_music.corpora.corpus import Corpus, load_corpus
from seqgan_music.errors import SeqganError
from seqgan_music.models.generator import Generator
from seqgan_music.project_files import damage_as_error
from seqgan_music.training.checkpoint import checkpoint_remedy, load_checkpoint_bytes, read_checkpoint
from seqgan_music.training.methods import method_class
from seqgan_music.training.runs import STATE_FILE, read_run_config, read_run_info, run_dir
from seqgan_music.training.samples import write_samples
from seqgan_music.training.sequences import sample_length


@dataclass
class TrainedRun:
    """A run's generator at its last checkpoint, with its corpus and config."""

    name: str
    folder: Path
    info: dict
    config: Config
    corpus: Corpus
    generator: Generator
    checkpoint_sha256: str  # names exactly the weights the generator holds


def load_trained_run(home: Path, run: str, device: torch.device = torch.device("cpu")) -> TrainedRun:
    """The run's generator in eval mode on `device`; refuses a corpus rebuilt with other content."""
    folder = run_dir(home, run)
    info = read_run_info(folder)
    config = read_run_config(folder)
    corpus = load_corpus(home, info["corpus"])
    if corpus.manifest["content_hash"] != info["corpus_hash"]:
        raise SeqganError(f"corpus {info['corpus']!r} has changed since run {run!r} was trained: rebuild it as it was")
    generator = method_class(config.run.method).build_generator(corpus, config)
    data = read_checkpoint(folder / STATE_FILE)
    state = load_checkpoint_bytes(folder / STATE_FILE, data)
    with damage_as_error(folder / STATE_FILE, checkpoint_remedy(folder / STATE_FILE)):
        generator.load_state_dict(state["generator"])  # weights of another shape: RuntimeError
    generator.to(device).eval()
    digest = hashlib.sha256(data).hexdigest()
    return TrainedRun(run, folder, info, config, corpus, generator, digest)


def generate_from_run(home: Path, run: str, out: Path, count: int, temperature: float = 1.0,
                      top_k: int | None = None, seed: int = 0) -> list[Path]:
    """Write `count` samples of the run's generator to `out`; the same seed gives the same files."""
    trained = load_trained_run(home, run)
    prepare_output_folder(out)
    unit = trained.config.data.unit
    samples = trained.generator.sample(count, sample_length(trained.corpus, unit), temperature=temperature,
                                       top_k=top_k, generator=torch.Generator().manual_seed(seed))
    return write_samples(trained.corpus, samples.numpy(), out / f"{run}-seed{seed}", tunes=unit == "tune")
