"""Tiny trained runs for the tests: settings small enough that a run takes a second, and the command-line
path (train, generate, evaluate) that every method's tests walk."""

import json
from pathlib import Path

from typer.testing import CliRunner

from seqgan_music.cli import app
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


def train_generate_evaluate(home: Path, method: str, run: str, settings: list[str], out: Path, samples: int = 20,
                            metrics: str = "goodness,nll-test") -> tuple[list[dict], str]:
    """From the command line, train `run` of `method` on the "grammar" corpus in `home` (the quick preset with
    `settings`), generate 3 samples of it into `out` and evaluate it on `samples` samples; each command must
    exit 0. Returns the metrics records training wrote and what evaluate printed, for the method's own checks."""
    runner = CliRunner()

    def succeed(*arguments: str) -> str:
        result = runner.invoke(app, [*arguments, "--home", str(home)])
        assert result.exit_code == 0, result.output
        return result.output

    succeed("train", "grammar", "--method", method, "--preset", "quick", "--run", run,
            *(f"--set={setting}" for setting in settings))
    metrics_file = home / "checkpoints" / run / "metrics.jsonl"
    records = [json.loads(line) for line in metrics_file.read_text().splitlines()]
    succeed("generate", run, "--n", "3", "--out", str(out))
    return records, succeed("evaluate", run, "--samples", str(samples), "--metrics", metrics)
