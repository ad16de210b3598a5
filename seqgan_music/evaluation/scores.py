"""Every metric of one set of token windows against a corpus, by the corpus's kind.

A `ScoreSet` holds per-window scores (what significance tests compare), set-level figures
(novelty, the music statistics' distances) and, for music, the set's own pitch-class and interval
distributions (what the terminal app draws as histograms) of one set: a run's samples, or real
windows of a held-out split scored the same way (the calibration every generated figure is read
against).
Which metrics exist depends on the corpus: BLEU and self-BLEU always; the C2ST where sequences
end (music and text: its classifier pads them); MSE, music statistics, novelty and the form
metrics for music; NLL_oracle for oracle corpora; goodness for
the toy grammar. NLL_test is the generator's, not the set's: see `run_evaluation/runs.py`. The form
metrics score melodies (one per tune or window, see `run_evaluation/units.py`), the C2ST a set against
real sequences; both come back as ScoreSets too, so a run's scores are one ScoreSet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from seqgan_music.corpora.corpus import Corpus
from seqgan_music.corpora.form import FREE
from seqgan_music.corpora.grammar import sequence_goodness
from seqgan_music.corpora.melody import Melody
from seqgan_music.errors import SeqganError
from seqgan_music.evaluation.bleu import BleuReferences, content_rows, self_bleu
from seqgan_music.evaluation.c2st import C2STSettings, Sequences, c2st
from seqgan_music.evaluation.form import PER_TUNE_METRICS, form_stats
from seqgan_music.evaluation.mse import nearest_mse
from seqgan_music.evaluation.music_stats import compare_stats, music_stats
from seqgan_music.evaluation.novelty import FRAGMENT_LENGTHS, TrainingFragments, longest_copies, novelty

BLEU_ORDERS = (2, 3, 4, 5)
SELF_BLEU_ORDER = 4
METRIC_GROUPS = ("bleu", "self-bleu", "nll-test", "nll-oracle", "mse", "music", "goodness", "form", "c2st")
OPT_IN_GROUPS = ("c2st",)  # applicable everywhere, computed only when asked for: it trains classifiers
HISTOGRAMS = ("pitch_classes", "intervals")  # MusicStats distributions kept with a music ScoreSet


@dataclass
class ScoreSet:
    """Per-window scores by metric (NaN where a window has none), set-level figures and, for
    music, the set's distributions by name (shares summing to 1, or all 0 without notes) and its
    counts (how many tunes have each form, how many parts each length)."""

    per_window: dict[str, list[float]] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)
    histograms: dict[str, list[float]] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # e.g. "forms": {"AABB": 12, "free": 3}

    def to_dict(self) -> dict:
        return {"per_window": {k: [_rounded(x) for x in v] for k, v in self.per_window.items()},
                "figures": {k: _rounded(v) for k, v in self.figures.items()},
                "histograms": {k: [_rounded(x) for x in v] for k, v in self.histograms.items()},
                "counts": self.counts}

    def add(self, other: ScoreSet) -> ScoreSet:
        """This set's scores with `other`'s added (another group's scores of the same set)."""
        self.per_window.update(other.per_window)
        self.figures.update(other.figures)
        self.histograms.update(other.histograms)
        self.counts.update(other.counts)
        return self

    @staticmethod
    def from_dict(data: dict) -> ScoreSet:
        return ScoreSet({k: [_float(x) for x in v] for k, v in data.get("per_window", {}).items()},
                        {k: _float(v) for k, v in data.get("figures", {}).items()},
                        {k: [_float(x) for x in v] for k, v in data.get("histograms", {}).items()},
                        {k: dict(v) for k, v in data.get("counts", {}).items()})

    def mean(self, metric: str) -> float:
        """The mean over windows that have a score (NaN when none has)."""
        values = np.asarray(self.per_window.get(metric, []), dtype=np.float64)
        values = values[np.isfinite(values)]
        return float(values.mean()) if len(values) else float("nan")


def applicable_groups(corpus: Corpus) -> tuple[str, ...]:
    """The metric groups that mean something for this corpus."""
    kind = corpus.manifest.get("source", {}).get("kind")
    groups = ["bleu", "self-bleu", "nll-test"]
    if kind == "oracle":
        groups.append("nll-oracle")
    if corpus.is_music:
        groups += ["mse", "music", "form"]
    if kind == "grammar":
        groups.append("goodness")
    if _c2st_pad(corpus) is not None:
        groups.append("c2st")
    return tuple(groups)


def default_groups(corpus: Corpus) -> tuple[str, ...]:
    """The groups evaluated when none are named: every applicable one but the opt-in ones."""
    return tuple(group for group in applicable_groups(corpus) if group not in OPT_IN_GROUPS)


def parse_groups(text: str | None) -> tuple[str, ...]:
    """Metric group names from a comma-separated list (empty: every group that applies)."""
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def chosen_groups(corpus: Corpus, requested: Sequence[str] | None) -> tuple[str, ...]:
    """The requested groups (the default ones when None), refusing unknown or inapplicable names."""
    applicable = applicable_groups(corpus)
    if not requested:
        return default_groups(corpus)
    for name in requested:
        if name not in METRIC_GROUPS:
            raise SeqganError(f"unknown metric {name!r}: choose among {', '.join(METRIC_GROUPS)}")
        if name not in applicable:
            raise SeqganError(f"metric {name!r} does not apply to corpus {corpus.name!r}: "
                              f"it has {', '.join(applicable)}")
    return tuple(dict.fromkeys(requested))


class References:
    """A corpus's reference split and training split, prepared once for scoring many sets."""

    def __init__(self, corpus: Corpus, split: str, groups: Sequence[str]) -> None:
        self.corpus, self.split, self.groups = corpus, split, tuple(groups)
        self.windows = corpus.splits[split]
        if len(self.windows) == 0:
            raise SeqganError(f"corpus {corpus.name!r} has no {split} windows to score against: "
                              "pick other --references")
        self.bleu = BleuReferences(content_rows(self.windows, corpus.vocabulary.end, corpus.vocabulary.pad), max(BLEU_ORDERS)) if "bleu" in groups else None
        self.training = TrainingFragments(corpus.splits["train"], corpus.vocabulary.tokens) if "music" in groups else None
        self.reference_stats = music_stats(self.windows, corpus) if "music" in groups else None


def score_windows(windows: np.ndarray, references: References, oracle: object | None = None) -> ScoreSet:
    """Score (N, T) token windows on the references' metric groups (nll-test is not a set metric)."""
    corpus, groups = references.corpus, references.groups
    scores = ScoreSet()
    rows = content_rows(windows, corpus.vocabulary.end, corpus.vocabulary.pad)
    if references.bleu is not None:
        for n in BLEU_ORDERS:
            scores.per_window[f"bleu{n}"] = _as_list(references.bleu.scores(rows, n))
    if "self-bleu" in groups and len(rows) >= 2:
        scores.per_window[f"self_bleu{SELF_BLEU_ORDER}"] = _as_list(self_bleu(rows, SELF_BLEU_ORDER))
    if "nll-oracle" in groups:
        if oracle is None:
            raise SeqganError(f"corpus {corpus.name!r} has no oracle saved with it: rebuild it")
        scores.per_window["nll_oracle"] = _as_list(oracle.nll(torch.as_tensor(windows, dtype=torch.long)).cpu().numpy())
    if "mse" in groups:
        scores.per_window["mse"] = _as_list(nearest_mse(windows, references.windows, corpus.vocabulary.tokens)[0])
    if "goodness" in groups:
        scores.per_window["goodness"] = [sequence_goodness(corpus.symbols(row)) for row in rows]
    if "music" in groups:
        assert references.training is not None and references.reference_stats is not None
        scores.per_window["longest_copy"] = _as_list(longest_copies(windows, references.training))
        for k in FRAGMENT_LENGTHS:
            scores.figures[f"novelty{k}"] = novelty(windows, references.training, k)
        stats = music_stats(windows, corpus)
        scores.figures.update({k: float(v) for k, v in compare_stats(stats, references.reference_stats).items()})
        scores.figures.update(scale_consistency=stats.scale_consistency, pitch_range=stats.pitch_range,
                              empty_beat_rate=stats.empty_beat_rate, monophonic=stats.monophonic,
                              empty_melodies=float(stats.empty_melodies) / max(stats.melodies, 1))
        scores.histograms.update({name: _as_list(getattr(stats, name)) for name in HISTOGRAMS})
    return scores


def score_form(melodies: Sequence[Melody], written: Sequence[Melody] | None = None) -> ScoreSet:
    """The form metrics (`evaluation/form.py`) of played melodies (and, where known, the same tunes
    as written): per tune (or window) for the significance tests, plus the mean length of the
    distinct parts and the share of melodies in which parts were found at all (a form other than "free")."""
    stats = form_stats(melodies, written)
    scores = ScoreSet({name: _as_list(stats.tune_values(name)) for name in PER_TUNE_METRICS})
    scores.figures.update(part_bars=stats.part_bars,
                          with_parts=1 - stats.form_counts.get(FREE, 0) / stats.tunes if stats.tunes else np.nan)
    scores.counts.update(forms=dict(stats.form_counts),
                         part_lengths={str(bars): n for bars, n in sorted(stats.part_length_counts.items())})
    return scores


def score_c2st(real: Sequences, generated: Sequences, corpus: Corpus, seed: int,
               device: torch.device = torch.device("cpu")) -> ScoreSet:
    """The C2ST accuracy (`evaluation/c2st.py`) of telling `generated` from `real` sequences, with its
    95% interval, its p-value against 0.5 and the sequences per set; none when a set has fewer
    sequences than the test has folds (one of each set per fold)."""
    pad, settings = _c2st_pad(corpus), C2STSettings()
    if pad is None or min(len(real), len(generated)) < settings.folds:
        return ScoreSet()
    result = c2st(real, generated, len(corpus.vocabulary), pad, seed, settings, device)
    return ScoreSet(figures={"c2st": result.accuracy, "c2st_low": result.ci_low, "c2st_high": result.ci_high,
                             "c2st_p": result.p_value, "c2st_samples": float(result.samples_per_set)})


def _c2st_pad(corpus: Corpus) -> int | None:
    """What the C2ST pads sequences with: the pad token, else the end token (none: no C2ST)."""
    return corpus.vocabulary.pad if corpus.vocabulary.pad is not None else corpus.vocabulary.end


def _as_list(values: np.ndarray) -> list[float]:
    return [float(x) for x in np.asarray(values, dtype=np.float64).reshape(-1)]


def _rounded(value: float) -> float | None:
    """JSON has no NaN: missing scores are stored as null."""
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def _float(value: float | None) -> float:
    return float("nan") if value is None else float(value)
