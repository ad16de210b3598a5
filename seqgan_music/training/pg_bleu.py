"""PG-BLEU, the SeqGAN paper's baseline: the same rollout policy gradient, with each completed sequence
rewarded by its BLEU against real training sequences instead of by the discriminator.

The references are a random share (the paper's 40%) of the training windows, drawn once per run
from its seed and prepared once, so every reward costs one lookup per n-gram.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from seqgan_music.corpora.vocabulary import Vocabulary
from seqgan_music.evaluation.bleu import BleuReferences, content_rows


class BleuScorer:
    """Scores token sequences (R, T) by BLEU-`order` against a fixed reference set: rewards in [0, 1]."""

    def __init__(self, train: np.ndarray, vocabulary: Vocabulary, order: int, share: float, seed: int) -> None:
        rng = np.random.default_rng(seed)
        count = max(1, round(len(train) * share))
        chosen = np.sort(rng.choice(len(train), count, replace=False))
        self.end, self.pad, self.order = vocabulary.end, vocabulary.pad, order
        self.references = BleuReferences(content_rows(train[chosen], vocabulary.end, vocabulary.pad), order)

    def __call__(self, rows: Tensor) -> Tensor:
        """BLEU of each row, float32 on the rows' device."""
        scores = self.references.scores(content_rows(rows.cpu().numpy(), self.end, self.pad), self.order)
        return torch.as_tensor(scores, dtype=torch.float32, device=rows.device)
