"""PG-BLEU, the SeqGAN paper's baseline: the same rollout policy gradient, with each completed sequence
rewarded by its BLEU against real training sequences instead of by the discriminator.

The references are a random share (the paper's 40%) of the training windows, drawn once per run
from its seed and prepared once, so every reward costs one lookup per n-gram.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from seqgan_music.corpora.vocabulary import Vocabulary
from seqgan_music.evaluation.bleu import BleuReferences, content_rows
from seqgan_music.phases import ADVERSARIAL, MLE
from seqgan_music.training.methods.seqgan import SeqGAN
from seqgan_music.training.rollout import Scorer

if TYPE_CHECKING:
    from seqgan_music.training.trainer import Trainer


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


class PgBleu(SeqGAN):
    """SeqGAN's update with BLEU in the discriminator's place: no D pre-training, no D refresh."""

    name = "pg-bleu"
    label = "PG-BLEU"
    summary = "PG-BLEU: SeqGAN's rollout policy gradient with BLEU against real sequences as the reward"
    phases = (MLE, ADVERSARIAL)
    sections = ("pg_bleu",)
    trains_discriminator = False
    partial_rewards = False  # BLEU has no D to score prefixes

    def __init__(self, trainer: Trainer) -> None:
        super().__init__(trainer)
        settings = self.config.pg_bleu
        self.bleu = BleuScorer(trainer.train_data.cpu().numpy(), trainer.corpus.vocabulary, settings.order,
                               settings.reference_share, self.config.run.seed)  # windows or tunes

    def scorer(self) -> Scorer:
        return self.bleu
