"""Evaluate the in-filling experiment's trained rows: draw each corpus's masks once, fill them with
every row, score the fills, and compare MaskGAN with each other row on every per-item metric."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from seqgan_music.corpora.corpus import Corpus, load_corpus
from seqgan_music.errors import SeqganError
from seqgan_music.evaluation.significance import Comparison, compare
from seqgan_music.experiments.infill import FIRST_BAR, LAST_BAR, TEXT_MASK_RATE, InfillPart
from seqgan_music.experiments.infill_fill import fill_items
from seqgan_music.experiments.infill_masks import MaskedSet, music_masks, text_masks
from seqgan_music.experiments.infill_scores import form_values, mean, music_scores, text_scores
from seqgan_music.training.device import configure_threads
from seqgan_music.training.generation import load_trained_run
from seqgan_music.training.runs import read_run_info, run_dir

REAL = "Real"  # the held-out items as they are: the form metrics' scale


@dataclass
class RowScores:
    """One row's scores on one mask: a value per item for each metric, and the seconds it took."""

    label: str
    run: str | None
    per_item: dict[str, np.ndarray]
    seconds: float = 0.0

    def value(self, metric: str) -> float:
        return mean(self.per_item[metric]) if metric in self.per_item else math.nan


@dataclass
class MaskResults:
    """Every row's scores on one mask, the real items' (form metrics only), MaskGAN compared with each row."""

    mask: str
    items: int
    masked_share: float  # of the items' counted tokens, the share written again
    rows: list[RowScores]
    real: RowScores | None
    comparisons: dict[str, dict[str, Comparison]] = field(default_factory=dict)  # label -> metric -> focus vs label


@dataclass
class PartResults:
    part: InfillPart
    masks: list[MaskResults]
    run_info: dict[str, dict]


def draw_masks(part: InfillPart, corpus: Corpus) -> list[MaskedSet]:
    """The part's masks, drawn from its test split and seed (the same for every row)."""
    if part.task == "music":
        return [music_masks(corpus, kind, FIRST_BAR, LAST_BAR, part.seed, part.items) for kind in part.masks]
    return [text_masks(corpus, TEXT_MASK_RATE, part.seed, part.items)]


def evaluate_infill(home: Path, part: InfillPart, device: torch.device = torch.device("cpu"),
                    permutations: int = 10_000) -> PartResults:
    """Fill and score every mask with every finished row of the part."""
    experiment = part.experiment
    info = {}
    for entry in experiment.runs:
        info[entry.label] = read_run_info(run_dir(home, entry.run))
        if info[entry.label].get("status") != "finished":
            raise SeqganError(f"run {entry.run!r} has not finished: run the experiment command again to train it")
    configure_threads(experiment.runs[0].config.run.threads)
    corpus = load_corpus(home, experiment.corpus)
    masks = draw_masks(part, corpus)
    trained = {entry.label: load_trained_run(home, entry.run, device) for entry in experiment.runs}
    results = []
    for masked in masks:
        rows = []
        for entry in experiment.runs:
            started = time.perf_counter()
            filled = fill_items(trained[entry.label].generator, masked.tokens, masked.keep, masked.banned,
                                part.seed, part.candidates)
            scores = music_scores(corpus, masked, filled) if part.task == "music" else text_scores(masked, filled)
            rows.append(RowScores(entry.label, entry.run, scores, round(time.perf_counter() - started, 3)))
        real = RowScores(REAL, None, form_values(corpus, masked.tokens)) if part.task == "music" else None
        result = MaskResults(masked.kind, len(masked.tokens), masked_share(masked, corpus), rows, real)
        result.comparisons = compare_rows(rows, experiment.focus, part.metrics, permutations)
        results.append(result)
    return PartResults(part, results, info)


def masked_share(masked: MaskedSet, corpus: Corpus) -> float:
    """The share of the items' tokens before their padding that are masked."""
    pad = corpus.vocabulary.pad if corpus.vocabulary.pad is not None else corpus.vocabulary.end
    counted = masked.tokens != pad
    return float((~masked.keep & counted).sum() / counted.sum())


def compare_rows(rows: list[RowScores], focus: str, metrics: tuple[str, ...],
                 permutations: int) -> dict[str, dict[str, Comparison]]:
    """The focus row against each other row on every metric (items with a value on both sides)."""
    by_label = {row.label: row for row in rows}
    if focus not in by_label:
        return {}
    chosen = by_label[focus]
    comparisons: dict[str, dict[str, Comparison]] = {}
    for row in rows:
        if row.label == focus:
            continue
        comparisons[row.label] = {}
        for metric in metrics:
            a, b = row.per_item[metric], chosen.per_item[metric]
            both = np.isfinite(a) & np.isfinite(b)
            if both.sum() >= 2:
                comparisons[row.label][metric] = compare(a[both], b[both], permutations)
    return comparisons
