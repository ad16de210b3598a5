"""Temperature sweep: quality against diversity across sampling temperatures, for one or more runs.

A lower temperature buys quality with diversity, so comparing two generators at one temperature
says little (Caccia et al., "Language GANs falling short"): compare their whole curves. Each point
is an ordinary cached evaluation (runs.py) restricted to the two metrics' groups. The plot of
the curves is shared by the CLI's `sweep`, the terminal app and the experiments' reports.

On an oracle corpus the plot draws the oracle's own entropy as a floor under NLL_oracle: the
oracle's per-token NLL of its own held-out samples (the real data's NLL_oracle, computed by the
evaluation like every other real value). A generator that matches the oracle scores it; one below
it has traded diversity for the oracle's likeliest sequences, so no honest generator goes below.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from seqgan_music.corpora.corpus import Corpus, load_corpus
from seqgan_music.errors import SeqganError
from seqgan_music.evaluation.form import PER_TUNE_METRICS
from seqgan_music.plotting import line_plot
from seqgan_music.run_evaluation.runs import EvaluationSettings, evaluate_run
from seqgan_music.training.runs import read_run_info, run_dir

QUALITY_METRICS = {"bleu2": "bleu", "bleu3": "bleu", "bleu4": "bleu", "bleu5": "bleu",
                   "nll_oracle": "nll-oracle", "mse": "mse", "goodness": "goodness",
                   **{name: "form" for name in (*PER_TUNE_METRICS, "part_bars", "with_parts")}, "c2st": "c2st"}
DIVERSITY_METRICS = {"self_bleu4": "self-bleu", "nll_test": "nll-test"}
DEFAULT_TEMPERATURES = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)
FLOOR_LABEL = "oracle entropy"


@dataclass(frozen=True)
class SweepPoint:
    """One run at one temperature; the real set's values of the two metrics are the scale (NaN
    where the real data has none, as for NLL_test)."""

    run: str
    temperature: float
    quality: float
    diversity: float
    real_quality: float = float("nan")
    real_diversity: float = float("nan")

    def to_dict(self) -> dict:
        """JSON-ready: a missing value (NaN) becomes null."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def parse_temperatures(text: str, option: str = "--temperatures") -> list[float]:
    """Comma-separated temperatures above 0, e.g. '0.8,1.0,1.2' (a one-line error naming `option` otherwise)."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SeqganError(f"{option} must be comma-separated numbers such as 0.8,1.0,1.2, got {text!r}") from None
    if not values or any(not value > 0 for value in values):
        raise SeqganError(f"{option} must be numbers above 0, got {text!r}")
    return values


def default_axes(corpus: Corpus) -> tuple[str, str]:
    """The paper's own measures where an oracle exists (NLL_oracle, NLL_test), else BLEU-4 and self-BLEU-4."""
    if corpus.manifest.get("source", {}).get("kind") == "oracle":
        return "nll_oracle", "nll_test"
    return "bleu4", "self_bleu4"


def run_corpus(home: Path, run: str) -> Corpus:
    return load_corpus(home, read_run_info(run_dir(home, run))["corpus"])


def temperature_sweep(home: Path, runs: Sequence[str], temperatures: Sequence[float], quality: str, diversity: str,
                      base: EvaluationSettings, device: torch.device = torch.device("cpu"),
                      progress: Callable[[str, float], None] | None = None) -> list[SweepPoint]:
    """One point per run and temperature, run by run, each temperature in the given order."""
    if quality not in QUALITY_METRICS:
        raise SeqganError(f"--quality must be one of {', '.join(QUALITY_METRICS)}, got {quality!r}")
    if diversity not in DIVERSITY_METRICS:
        raise SeqganError(f"--diversity must be one of {', '.join(DIVERSITY_METRICS)}, got {diversity!r}")
    if not temperatures:
        raise SeqganError("give at least one temperature, e.g. --temperatures 0.8,1.0,1.2")
    groups = tuple(dict.fromkeys((QUALITY_METRICS[quality], DIVERSITY_METRICS[diversity])))
    if base.metrics and set(groups) <= set(base.metrics):
        groups = base.metrics  # the base's own groups: its evaluation at one of the temperatures is reused
    points = []
    for run in dict.fromkeys(runs):
        for temperature in temperatures:
            if progress is not None:
                progress(run, temperature)
            settings = replace(base, temperature=float(temperature), metrics=groups)
            evaluation = evaluate_run(home, run, settings, device)
            points.append(SweepPoint(run, float(temperature), evaluation.value(quality), evaluation.value(diversity),
                                     evaluation.real_value(quality), evaluation.real_value(diversity)))
    return points


def oracle_floor(points: Sequence[SweepPoint], quality: str) -> float | None:
    """The oracle's entropy when quality is NLL_oracle: the real data's NLL_oracle (the oracle's
    per-token NLL of its own held-out samples); None on other axes or when nothing measured it."""
    if quality != "nll_oracle":
        return None
    return next((point.real_quality for point in points if math.isfinite(point.real_quality)), None)


def sweep_plot(points: Sequence[SweepPoint], quality: str, diversity: str, width: int = 60,
               names: Mapping[str, str] | None = None) -> str:
    """Quality (y) against diversity (x), one curve per run in temperature order, `width` cells wide,
    each named by `names` (run -> name; the run's own name by default); under NLL_oracle, the
    oracle's entropy as a floor line."""
    series: dict[str, list[tuple[float, float]]] = {}
    for point in points:
        series.setdefault((names or {}).get(point.run, point.run), []).append((point.diversity, point.quality))
    floor = oracle_floor(points, quality)
    return line_plot(series, x_label=diversity, y_label=quality, width=width,
                     levels={FLOOR_LABEL: floor} if floor is not None else None)
