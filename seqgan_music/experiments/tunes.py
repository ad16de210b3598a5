"""Evaluate whole-tune runs (the `tunes` experiment): sample whole tunes from each run and score
them as tunes, against the corpus's held-out tunes.

Per run, on `settings.samples` sampled tunes (each read up to its `<end>`):
- C2ST (`evaluation.c2st`): fresh classifiers telling the samples from the reference split's
  tunes; the held-out accuracy with its 95% interval, per-sample correctness for the p-value;
- the form metrics (`evaluation.form.form_stats`) of the tunes as played (repeats expanded);
- NLL_test per token of the reference split's tunes (per tune for the p-value);
- self-BLEU-4 of the samples (each against the others).
The real row scores the other held-out split's tunes the same way (valid when the references are
test): C2ST valid against test, their form, their self-BLEU; NLL_test belongs to a generator.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from seqgan_music.corpora.corpus import Corpus, load_corpus
from seqgan_music.corpora.melody import Melody
from seqgan_music.corpora.tunes import parse_tune_symbols
from seqgan_music.errors import SeqganError
from seqgan_music.evaluation.bleu import content_rows, self_bleu
from seqgan_music.evaluation.c2st import C2STResult, c2st
from seqgan_music.evaluation.form import form_stats
from seqgan_music.evaluation.runs import EvaluationSettings, real_split_for
from seqgan_music.evaluation.significance import Comparison, compare
from seqgan_music.experiments.definitions import Experiment
from seqgan_music.training.device import configure_threads
from seqgan_music.training.generation import load_trained_run
from seqgan_music.training.mle import sequence_nlls
from seqgan_music.training.runs import read_run_info, run_dir
from seqgan_music.training.samples import common_meter
from seqgan_music.training.sequences import check_whole_tunes, padded, sample_length

FORM_METRICS = ("bar_repeat", "notated_bar_repeat", "phrase_repeat", "ends_on_tonic", "tune_bars", "notated_bars")
SELF_BLEU_ORDER = 4
C2ST_SUMMARY = ("accuracy", "ci_low", "ci_high", "p_value", "samples_per_set", "truncated", "fold_accuracies",
                "seconds")
_SAMPLE_SEED_OFFSET = 104_729  # evaluation samples never coincide with the training's own draws


@dataclass
class TuneScores:
    """One set of whole tunes scored: headline values, per-sample values (for p-values), the C2ST
    result's summary and the forms found."""

    values: dict[str, float]
    per_sample: dict[str, list[float]]
    c2st: dict
    forms: dict[str, int]
    tunes: int
    seconds: float = 0.0


@dataclass
class TuneExperimentResults:
    """Each run's scores by label, the real held-out tunes' scores, SeqGAN against MLE per metric,
    and the run information (status, wall time)."""

    experiment: Experiment
    scores: dict[str, TuneScores]
    real: TuneScores
    real_split: str
    comparisons: dict[str, dict[str, Comparison]] = field(default_factory=dict)  # other label -> metric -> focus vs it
    run_info: dict[str, dict] = field(default_factory=dict)


def evaluate_tune_experiment(home: Path, experiment: Experiment, device: torch.device = torch.device("cpu"),
                             permutations: int = 10_000) -> TuneExperimentResults:
    """Score every finished run's sampled tunes and the real held-out tunes; compare the focus run with the others."""
    settings = experiment.evaluation
    configure_threads(experiment.runs[0].config.run.threads)
    scores, info = {}, {}
    for entry in experiment.runs:
        info[entry.label] = read_run_info(run_dir(home, entry.run))
        if info[entry.label].get("status") != "finished":
            raise SeqganError(f"run {entry.run!r} has not finished: run the experiment command again to train it")
        scores[entry.label] = score_run_tunes(home, entry.run, settings, device)
    corpus = load_corpus(home, experiment.corpus)
    real_split = real_split_for(settings.references)
    real = score_real_tunes(corpus, settings, device)
    focus = scores[experiment.focus]
    comparisons = {label: compare_scores(other, focus, permutations)
                   for label, other in scores.items() if label != experiment.focus}
    return TuneExperimentResults(experiment, scores, real, real_split, comparisons, info)


def score_run_tunes(home: Path, run: str, settings: EvaluationSettings,
                    device: torch.device = torch.device("cpu")) -> TuneScores:
    """`settings.samples` whole tunes sampled from the run, scored against the reference split's tunes."""
    started = time.perf_counter()
    trained = load_trained_run(home, run, device)
    corpus = trained.corpus
    check_whole_tunes(corpus)
    noise = torch.Generator(device=device).manual_seed(settings.seed + _SAMPLE_SEED_OFFSET)
    samples = trained.generator.sample(settings.samples, sample_length(corpus, "tune"),
                                       temperature=settings.temperature, generator=noise).cpu().numpy()
    tunes = ended_tunes(samples, corpus)
    references = held_out_tunes(corpus, settings.references)
    scores = _score_tunes(tunes, references, corpus, settings.seed, device)
    totals, counts = sequence_nlls(trained.generator, padded(references, _pad(corpus), device), settings.temperature)
    per_tune = (totals / counts.clamp(min=1)).tolist()
    scores.values["nll_test"] = float(totals.sum() / counts.sum().clamp(min=1))
    scores.per_sample["nll_test"] = per_tune
    scores.seconds = round(time.perf_counter() - started, 1)
    return scores


def score_real_tunes(corpus: Corpus, settings: EvaluationSettings,
                     device: torch.device = torch.device("cpu")) -> TuneScores:
    """The calibration: the other held-out split's tunes scored as a run's samples are."""
    started = time.perf_counter()
    real = held_out_tunes(corpus, real_split_for(settings.references))
    scores = _score_tunes(real, held_out_tunes(corpus, settings.references), corpus, settings.seed, device)
    scores.seconds = round(time.perf_counter() - started, 1)
    return scores


def compare_scores(a: TuneScores, b: TuneScores, permutations: int = 10_000) -> dict[str, Comparison]:
    """b against a on every metric both have per-sample values of (NaN values left out)."""
    comparisons = {}
    for metric in a.per_sample:
        first, second = (np.asarray(s.per_sample.get(metric, []), dtype=np.float64) for s in (a, b))
        first, second = first[np.isfinite(first)], second[np.isfinite(second)]
        if len(first) >= 2 and len(second) >= 2:
            comparisons[metric] = compare(first, second, permutations)
    return comparisons


def held_out_tunes(corpus: Corpus, split: str) -> list[np.ndarray]:
    """The split's whole tunes (each ending with `<end>`); refuses a split without any."""
    tunes = corpus.tune_sequences.get(split) or []
    if len(tunes) < 2:
        raise SeqganError(f"corpus {corpus.name!r} has {len(tunes)} whole tunes in its {split} split: "
                          "the tunes experiment needs held-out tunes in valid and test")
    return list(tunes)


def ended_tunes(samples: np.ndarray, corpus: Corpus) -> list[np.ndarray]:
    """Each sampled row up to and including its first `<end>` (all of it when it never ends), as the
    corpus's tunes are stored, so that no classifier can tell them apart by their padding."""
    end = corpus.vocabulary.end
    rows = []
    for row in samples:
        ends = np.flatnonzero(row == end)
        rows.append(row[:ends[0] + 1] if ends.size else row)
    return rows


def tune_melodies(tunes: Sequence[np.ndarray], corpus: Corpus) -> list[Melody]:
    """Each tune as played (repeats expanded), in its header's meter (the corpus's commonest without one)."""
    meter = common_meter(corpus)
    return [parse_tune_symbols(corpus.symbols(tune), meter).melody(played=True) for tune in tunes]


def _score_tunes(tunes: Sequence[np.ndarray], references: Sequence[np.ndarray], corpus: Corpus, seed: int,
                 device: torch.device) -> TuneScores:
    """C2ST against `references`, the form metrics and self-BLEU of `tunes` (NLL_test is the run's)."""
    vocabulary = corpus.vocabulary
    result: C2STResult = c2st(references, tunes, len(vocabulary), _pad(corpus), seed=seed, device=device)
    stats = form_stats(tune_melodies(tunes, corpus))
    rows = content_rows(padded(list(tunes), _pad(corpus), torch.device("cpu")).numpy(), vocabulary.end, vocabulary.pad)
    self_scores = self_bleu(rows, SELF_BLEU_ORDER)
    values = {"c2st_accuracy": result.accuracy, **{m: float(getattr(stats, m)) for m in FORM_METRICS},
              "self_bleu4": float(np.mean(self_scores))}
    per_sample = {"c2st_accuracy": result.correct.astype(np.float64).tolist(),
                  **{m: stats.tune_values(m).tolist() for m in FORM_METRICS},
                  "self_bleu4": self_scores.tolist()}
    summary = {key: value for key, value in result.to_dict().items() if key in C2ST_SUMMARY}
    return TuneScores(values, per_sample, summary, dict(stats.form_counts), len(tunes))


def _pad(corpus: Corpus) -> int:
    """The id rows are padded with (the end token in a vocabulary without a pad, as training does)."""
    vocabulary = corpus.vocabulary
    return vocabulary.pad if vocabulary.pad is not None else vocabulary.end
