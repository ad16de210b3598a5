"""Summary statistics of a corpus for display: pitch-class histogram and token frequencies."""

from __future__ import annotations

import numpy as np

from seqgan_music.corpora.corpus import Corpus
from seqgan_music.corpora.encodings import token_pitch


def pitch_class_histogram(corpus: Corpus, split: str = "train") -> np.ndarray:
    """Counts of the 12 pitch classes over the pitch tokens of a split (note onsets for grid16)."""
    pitch_classes = np.full(len(corpus.vocabulary), -1)
    for token_id, token in enumerate(corpus.vocabulary.tokens):
        pitch = token_pitch(token)
        if pitch is not None:
            pitch_classes[token_id] = pitch % 12
    counts = np.bincount(corpus.splits[split].ravel(), minlength=len(corpus.vocabulary))
    histogram = np.zeros(12, dtype=np.int64)
    np.add.at(histogram, pitch_classes[pitch_classes >= 0], counts[pitch_classes >= 0])
    return histogram


def token_frequencies(corpus: Corpus, split: str = "train", top: int = 20) -> list[tuple[str, int]]:
    """The `top` most frequent tokens of a split with their counts."""
    counts = np.bincount(corpus.splits[split].ravel(), minlength=len(corpus.vocabulary))
    order = np.argsort(-counts, kind="stable")[:top]
    return [(corpus.vocabulary.token(i), int(counts[i])) for i in order if counts[i] > 0]
