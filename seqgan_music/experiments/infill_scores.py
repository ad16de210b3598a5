"""Score filled items against the real ones, one value per item (for means and significance tests).

- `bleuN`: BLEU-N (nltk's sentence BLEU, smoothing method1, evaluation/bleu.py) of an item's filled
  span against its own real span, the only reference: did the fill write what was there?
- `bleu4_all` (music): BLEU-4 of the filled span against every item's real span (the usual
  corpus-level reading, as the Nottingham table's BLEU-4 against the test windows): does the fill
  read like some real bars?
- `exact`: 1 when the filled span equals the real one token for token, else 0.
- music, the form metrics of the filled tunes (evaluation/form.py, each tune read as played and as
  written, as `evaluate` reads whole tunes): bar and phrase repeats and ending on the tonic; the real
  tunes' own are the scale they are read against.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from seqgan_music.corpora.corpus import Corpus
from seqgan_music.evaluation.bleu import BleuReferences
from seqgan_music.evaluation.form import form_stats
from seqgan_music.experiments.infill import FORM_METRICS
from seqgan_music.experiments.infill_masks import MaskedSet
from seqgan_music.run_evaluation.units import played_melodies, written_melodies

ALL_SPANS_ORDER = 4


def filled_spans(masked: MaskedSet, filled: np.ndarray) -> list[np.ndarray]:
    """Each item's written tokens at its masked positions, in order."""
    return [row[~keep] for row, keep in zip(filled, masked.keep)]


def span_bleu(candidates: Sequence[np.ndarray], references: Sequence[np.ndarray], orders: Sequence[int]) -> dict[str, np.ndarray]:
    """BLEU-n for each n of `orders` of every candidate span against its own reference span."""
    scores = {f"bleu{n}": np.full(len(candidates), math.nan) for n in orders}
    for index, (candidate, reference) in enumerate(zip(candidates, references)):
        if len(candidate) and len(reference):
            prepared = BleuReferences([reference], max(orders))
            for n in orders:
                scores[f"bleu{n}"][index] = prepared.scores([candidate], n)[0]
    return scores


def exact_matches(candidates: Sequence[np.ndarray], references: Sequence[np.ndarray]) -> np.ndarray:
    return np.array([float(np.array_equal(c, r)) for c, r in zip(candidates, references)])


def form_values(corpus: Corpus, tunes: np.ndarray) -> dict[str, np.ndarray]:
    """The form metrics of whole tunes (n, T) ids, one value per tune (NaN where it has none)."""
    stats = form_stats(played_melodies(corpus, tunes, "tune"), written_melodies(corpus, tunes, "tune"))
    return {metric: stats.tune_values(metric) for metric in FORM_METRICS}


def music_scores(corpus: Corpus, masked: MaskedSet, filled: np.ndarray) -> dict[str, np.ndarray]:
    """Per tune: BLEU-4 against its own real bars and against every tune's, exact, and the form metrics."""
    real, written = masked.real_spans(), filled_spans(masked, filled)
    scores = span_bleu(written, real, (4,))
    scores["bleu4_all"] = BleuReferences(real, ALL_SPANS_ORDER).scores(written, ALL_SPANS_ORDER)
    scores["exact"] = exact_matches(written, real)
    return scores | form_values(corpus, filled)


def text_scores(masked: MaskedSet, filled: np.ndarray) -> dict[str, np.ndarray]:
    """Per caption: BLEU-2, 3 and 4 of the filled span against the real one, and exact."""
    real, written = masked.real_spans(), filled_spans(masked, filled)
    return span_bleu(written, real, (2, 3, 4)) | {"exact": exact_matches(written, real)}


def mean(values: np.ndarray) -> float:
    """The mean over the items that have a value; NaN when none has."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else math.nan
