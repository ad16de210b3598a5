"""Runs side by side: which metrics to show, in what order and with what meaning, and the p-values
of one run against another on every per-window metric (significance.py's Welch and permutation
tests, on the windows that have a score)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from seqgan_music.errors import SeqganError
from seqgan_music.evaluation.runs import RunEvaluation
from seqgan_music.evaluation.significance import Comparison, compare


@dataclass(frozen=True)
class Metric:
    """How a metric is shown: its label, which way is better, and whether p-values apply."""

    name: str
    label: str
    better: str  # "higher", "lower" or "closer" (to the real data)
    per_window: bool = True


METRICS = (
    Metric("bleu2", "BLEU-2", "higher"),
    Metric("bleu3", "BLEU-3", "higher"),
    Metric("bleu4", "BLEU-4", "higher"),
    Metric("bleu5", "BLEU-5", "higher"),
    Metric("self_bleu4", "self-BLEU-4", "lower"),
    Metric("nll_oracle", "NLL_oracle", "lower"),
    Metric("nll_test", "NLL_test", "lower"),
    Metric("mse", "MSE", "lower"),
    Metric("goodness", "goodness", "higher"),
    Metric("longest_copy", "longest copy (steps)", "lower"),
    Metric("novelty8", "novelty-8", "closer", per_window=False),
    Metric("novelty16", "novelty-16", "closer", per_window=False),
    Metric("pitch_classes_overlap", "pitch-class overlap", "higher", per_window=False),
    Metric("pitch_classes_kl", "pitch-class KL", "lower", per_window=False),
    Metric("intervals_overlap", "interval overlap", "higher", per_window=False),
    Metric("intervals_kl", "interval KL", "lower", per_window=False),
    Metric("note_lengths_overlap", "note-length overlap", "higher", per_window=False),
    Metric("note_lengths_kl", "note-length KL", "lower", per_window=False),
    Metric("scale_consistency", "scale consistency", "closer", per_window=False),
    Metric("pitch_range", "pitch range (semitones)", "closer", per_window=False),
    Metric("empty_beat_rate", "empty-beat rate", "closer", per_window=False),
    Metric("empty_melodies", "empty windows", "lower", per_window=False),
    Metric("monophonic", "monophonic share", "closer", per_window=False),
)
METRICS_BY_NAME = {metric.name: metric for metric in METRICS}


@dataclass(frozen=True)
class PairComparison:
    """Run `b` against run `a` on one metric."""

    a: str
    b: str
    metric: str
    result: Comparison

    def to_dict(self) -> dict:
        """JSON-ready: an infinite t (two constant groups) becomes null."""
        values = {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in asdict(self.result).items()}
        return {"a": self.a, "b": self.b, "metric": self.metric, **values}


def shown_metrics(evaluations: Sequence[RunEvaluation]) -> list[Metric]:
    """The metrics any of the evaluations has, in display order."""
    present = set()
    for evaluation in evaluations:
        present |= set(evaluation.generated.per_window) | set(evaluation.generated.figures)
        if evaluation.nll_test is not None:
            present.add("nll_test")
    return [metric for metric in METRICS if metric.name in present]


def check_comparable(evaluations: Sequence[RunEvaluation]) -> None:
    """Runs are compared only on the same corpus, references and sample count."""
    first = evaluations[0]
    for other in evaluations[1:]:
        if other.corpus != first.corpus:
            raise SeqganError(f"runs {first.run!r} and {other.run!r} were trained on different corpora "
                              f"({first.corpus!r}, {other.corpus!r}): evaluate them separately")


def compare_pair(a: RunEvaluation, b: RunEvaluation, permutations: int = 10_000) -> list[PairComparison]:
    """p-values of b against a on every per-window metric both have (at least two scores each)."""
    comparisons = []
    for metric in shown_metrics([a, b]):
        if not metric.per_window:
            continue
        first, second = _finite(a.per_window(metric.name)), _finite(b.per_window(metric.name))
        if len(first) < 2 or len(second) < 2:
            continue
        comparisons.append(PairComparison(a.run, b.run, metric.name, compare(first, second, permutations)))
    return comparisons


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]
