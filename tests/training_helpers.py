"""Tiny trained runs for the evaluation tests: settings small enough that a run takes a second."""

from pathlib import Path

from seqgan_music.config import apply_overrides, preset
from seqgan_music.training.launch import start_run

TINY = ["generator.embedding=8", "generator.hidden=16", "discriminator.embedding=8", "discriminator.filter_scale=0.05",
        "mle.batch_size=32", "pretrain_d.rounds=1", "pretrain_d.epochs=1", "pretrain_d.negatives=64",
        "adversarial.rounds=1", "adversarial.negatives=64", "adversarial.batch_size=16", "adversarial.rollouts=2",
        "rollout.chunk_size=64", "run.eval_samples=32", "run.device=cpu"]


def train(home: Path, corpus: str, run: str, epochs: int, method: str = "mle") -> None:
    """Train `run` on `corpus` to the end with the tiny settings and `epochs` MLE epochs."""
    config = apply_overrides(preset("quick"), [*TINY, f"mle.epochs={epochs}", f"run.method={method}"])
    assert start_run(home, corpus, config, run).run() == "finished"
