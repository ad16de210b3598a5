"""Runs side by side: which metrics to show, in what order and with what meaning, the p-values
of one run against another on every per-window metric (significance.py's Welch and permutation
tests, on the windows that have a score), and the side-by-side grid of formatted figures that the
CLI's `evaluate` prints and the terminal app shows, so both read the same numbers.

A window run and a whole-tune run of one corpus may be compared: their window metrics read the
same real windows, but their form metrics, C2ST and NLL_test read their own unit (tunes or
windows), so the grid has one real column per unit and those metrics get no p-values across units.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from seqgan_music.errors import SeqganError
from seqgan_music.evaluation.form import PER_TUNE_METRICS
from seqgan_music.evaluation.scores import ScoreSet
from seqgan_music.evaluation.significance import Comparison, compare
from seqgan_music.formatting import format_number, format_p
from seqgan_music.run_evaluation.runs import EvaluationSettings, RunEvaluation, evaluate_run
from seqgan_music.training.runs import read_run_info, run_dir


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
    Metric("bar_repeat", "bar repeats, played", "closer"),
    Metric("notated_bar_repeat", "bar repeats, notated", "closer"),
    Metric("phrase_repeat", "phrase repeats", "closer"),
    Metric("ends_on_tonic", "ends on the tonic", "closer"),
    Metric("tune_bars", "length (bars)", "closer"),
    Metric("notated_bars", "notated length (bars)", "closer"),
    Metric("part_bars", "part length (bars)", "closer", per_window=False),
    Metric("with_parts", "with parts (share)", "closer", per_window=False),
    Metric("c2st", "C2ST accuracy [95% CI]", "lower", per_window=False),
)
METRICS_BY_NAME = {metric.name: metric for metric in METRICS}
# Measured on the run's own unit (whole tunes or windows): not comparable across units.
UNIT_METRICS = frozenset({"nll_test", *PER_TUNE_METRICS, "part_bars", "with_parts", "c2st"})


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
    check_same_corpus([(evaluation.run, evaluation.corpus) for evaluation in evaluations])


def check_runs_share_a_corpus(home: Path, runs: Sequence[str]) -> None:
    """Refuse runs trained on different corpora from their run.json alone, before any sampling."""
    check_same_corpus([(run, read_run_info(run_dir(home, run)).get("corpus", "?")) for run in dict.fromkeys(runs)])


def check_same_corpus(runs: Sequence[tuple[str, str]]) -> None:
    """(run, corpus) pairs: refuse runs trained on different corpora (before or after evaluating)."""
    first, first_corpus = runs[0]
    for other, corpus in runs[1:]:
        if corpus != first_corpus:
            raise SeqganError(f"runs {first!r} and {other!r} were trained on different corpora "
                              f"({first_corpus!r}, {corpus!r}): evaluate them separately")


def compare_runs(home: Path, runs: Sequence[str], settings: EvaluationSettings,
                 device: torch.device = torch.device("cpu"), use_cache: bool = True, permutations: int = 10_000,
                 progress: Callable[[str], None] | None = None,
                 ) -> tuple[list[RunEvaluation], list[list[PairComparison]]]:
    """Evaluate each run (once, in order; `progress` hears each name first) and compare every
    later run with the first."""
    check_runs_share_a_corpus(home, runs)
    evaluations = []
    for run in dict.fromkeys(runs):
        if progress is not None:
            progress(run)
        evaluations.append(evaluate_run(home, run, settings, device, use_cache=use_cache))
    check_comparable(evaluations)
    return evaluations, [compare_pair(evaluations[0], other, permutations) for other in evaluations[1:]]


def compare_pair(a: RunEvaluation, b: RunEvaluation, permutations: int = 10_000) -> list[PairComparison]:
    """p-values of b against a on every per-window metric both have (at least two scores each),
    those read on the run's own unit only when both runs have the same unit."""
    comparisons = []
    for metric in shown_metrics([a, b]):
        if not metric.per_window or (metric.name in UNIT_METRICS and a.unit != b.unit):
            continue
        first, second = _finite(a.per_window(metric.name)), _finite(b.per_window(metric.name))
        if len(first) < 2 or len(second) < 2:
            continue
        comparisons.append(PairComparison(a.run, b.run, metric.name, compare(first, second, permutations)))
    return comparisons


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


@dataclass(frozen=True)
class GridRow:
    """One metric across the runs, formatted: `best` is the index of the best run's value, if any."""

    label: str
    values: list[str]
    best: int | None
    real: list[str]  # one per real column (per unit among the runs)
    p_values: list[str]  # "Welch / perm." of each later run against the first ("" where none)


@dataclass(frozen=True)
class ComparisonGrid:
    """Metrics as rows; the runs, the real data (a column per unit), then each later run's p-values."""

    title: str
    runs: list[str]
    real_headings: list[str]
    p_headings: list[str]
    rows: list[GridRow]


def comparison_grid(evaluations: Sequence[RunEvaluation],
                    comparisons: Sequence[Sequence[PairComparison]]) -> ComparisonGrid:
    """Every shown metric formatted as the reader sees it, wherever the grid is drawn."""
    first = evaluations[0]
    settings = first.settings
    first_of_unit: dict[str, RunEvaluation] = {}
    for evaluation in evaluations:
        first_of_unit.setdefault(evaluation.unit, evaluation)
    calibrations = list(first_of_unit.values())  # whose real set each real column shows
    p_values = [{c.metric: c.result for c in pair} for pair in comparisons]
    rows = []
    for metric in shown_metrics(evaluations):
        values = [e.value(metric.name) for e in evaluations]
        results = [pair.get(metric.name) for pair in p_values]
        bounds = [metric.name == "nll_test" and e.nll_test_bound is not None for e in evaluations]
        rows.append(GridRow(
            metric.label + (" (bound)" if any(bounds) else ""),
            [("≤ " if bound else "") + _shown(e.generated, e.value(metric.name), metric.name)
             for e, bound in zip(evaluations, bounds)],
            _best(values, metric.better),
            [_shown(e.real, e.real_value(metric.name), metric.name) for e in calibrations],
            [f"{format_p(r.welch_p)} / {format_p(r.permutation_p)}" if r else "" for r in results]))
    return ComparisonGrid(
        title=(f"{first.corpus}: {settings['samples']} samples per run at temperature "
               f"{settings['temperature']:g}, against the {settings['references']} split"),
        runs=[e.run for e in evaluations], real_headings=[real_heading(e) for e in calibrations],
        p_headings=[f"p {e.run} vs {first.run}\nWelch / perm." for e in evaluations[1:]], rows=rows)


def real_heading(evaluation: RunEvaluation) -> str:
    """The real column's heading: its split, and "tunes" when it calibrates whole-tune runs."""
    return f"real ({evaluation.real_split}{', tunes' if evaluation.unit == 'tune' else ''})"


def _shown(scores: ScoreSet, value: float, metric: str) -> str:
    """A value as the grid shows it; the C2ST accuracy with its 95% interval."""
    if metric == "c2st" and math.isfinite(value):
        low, high = (format_number(scores.figures[f"c2st_{end}"]) for end in ("low", "high"))
        return f"{format_number(value)} [{low}, {high}]"
    return format_number(value)


def _best(values: list[float], better: str) -> int | None:
    """Index of the best finite value when there are several runs and a direction, else None;
    None too when another run shows the same figure (a tie is no one's win)."""
    finite = [(v, i) for i, v in enumerate(values) if math.isfinite(v)]
    if len(finite) < 2 or better not in ("higher", "lower"):
        return None
    best = (max(finite) if better == "higher" else min(finite))[1]
    shown = format_number(values[best])
    return None if sum(format_number(v) == shown for v, _ in finite) > 1 else best
