"""The experiments: which runs (method and settings) on which corpus, evaluated how, and the
published figures they are set against."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from seqgan_music.config import Config, apply_overrides, preset
from seqgan_music.corpora.encodings import MUSIC_ENCODINGS
from seqgan_music.errors import SeqganError
from seqgan_music.evaluation.runs import EvaluationSettings
from seqgan_music.paths import check_name

ORACLE_PRESETS = ("cpu-oracle", "paper-oracle")
# SeqGAN paper, Table 1 (NLL_oracle of 10,000 samples; p < 1e-6 for SeqGAN against each baseline).
PAPER_ORACLE = {"Random": {"nll_oracle": 10.310}, "MLE": {"nll_oracle": 9.038}, "SS": {"nll_oracle": 8.985},
                "PG-BLEU": {"nll_oracle": 8.946}, "SeqGAN": {"nll_oracle": 8.736}}
# SeqGAN paper, the Nottingham table (BLEU-4 and MSE; its MSE has no published formula).
PAPER_NOTTINGHAM = {"MLE": {"bleu4": 0.9210, "mse": 22.38}, "SeqGAN": {"bleu4": 0.9406, "mse": 20.62}}


@dataclass(frozen=True)
class ExperimentRun:
    """One row of the table: a label, the run's name and its full settings."""

    label: str
    run: str
    config: Config


@dataclass(frozen=True)
class Experiment:
    """Runs on one corpus, evaluated with the same settings; `focus` is compared against every other row."""

    name: str
    title: str
    corpus: str
    runs: tuple[ExperimentRun, ...]
    evaluation: EvaluationSettings
    headline: tuple[str, ...]  # the metrics of the main table, in order
    paper: dict[str, dict[str, float]] = field(default_factory=dict)
    focus: str = "SeqGAN"


def oracle_experiment(preset_name: str = "cpu-oracle", corpus: str = "oracle", tag: str | None = None,
                      seed: int = 0, overrides: Sequence[str] = ()) -> Experiment:
    """Table 1 of the SeqGAN paper: Random (the untrained generator), MLE, SS, PG-BLEU and SeqGAN on the oracle."""
    if preset_name not in ORACLE_PRESETS:
        raise SeqganError(f"--preset must be one of {', '.join(ORACLE_PRESETS)}, got {preset_name!r}")
    name = _name(f"oracle-{preset_name.removesuffix('-oracle')}", tag)
    base = apply_overrides(preset(preset_name), [*overrides, f"run.seed={seed}"])
    runs = (
        ExperimentRun("Random", f"{name}-random", apply_overrides(base, ["run.method=mle", "mle.epochs=0"])),
        ExperimentRun("MLE", f"{name}-mle", apply_overrides(base, ["run.method=mle"])),
        ExperimentRun("SS", f"{name}-ss", apply_overrides(base, ["run.method=ss"])),
        ExperimentRun("PG-BLEU", f"{name}-pg-bleu", apply_overrides(base, ["run.method=pg-bleu"])),
        ExperimentRun("SeqGAN", f"{name}-seqgan", apply_overrides(base, ["run.method=seqgan"])),
    )
    evaluation = EvaluationSettings(references="test", samples=10_000, seed=seed, metrics=("nll-oracle", "nll-test"))
    return Experiment(name, f"Synthetic data: the SeqGAN oracle ({preset_name} preset)", corpus, runs, evaluation,
                      ("nll_oracle", "nll_test"), PAPER_ORACLE)


def nottingham_experiment(encoding: str = "paper", preset_name: str = "folk", corpus: str | None = None,
                          tag: str | None = None, seed: int = 0, overrides: Sequence[str] = ()) -> Experiment:
    """The SeqGAN paper's music table: MLE against SeqGAN on Nottingham, BLEU-4 and MSE on held-out tunes."""
    if encoding not in MUSIC_ENCODINGS:
        raise SeqganError(f"--encoding must be one of {', '.join(MUSIC_ENCODINGS)}, got {encoding!r}")
    name = _name(f"nottingham-{encoding}", tag)
    base = apply_overrides(preset(preset_name), [*overrides, f"run.seed={seed}"])
    runs = (
        ExperimentRun("MLE", f"{name}-mle", apply_overrides(base, ["run.method=mle"])),
        ExperimentRun("SeqGAN", f"{name}-seqgan", apply_overrides(base, ["run.method=seqgan"])),
    )
    evaluation = EvaluationSettings(references="test", samples=1000, seed=seed)
    return Experiment(name, f"Nottingham folk tunes ({encoding} encoding, {preset_name} preset)",
                      corpus or f"nottingham-{encoding}", runs, evaluation, ("bleu4", "mse", "self_bleu4", "nll_test"),
                      PAPER_NOTTINGHAM if encoding == "paper" else {})


def _name(base: str, tag: str | None) -> str:
    return check_name(f"{base}-{tag}" if tag else base, "experiment")
