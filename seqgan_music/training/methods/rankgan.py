"""RankGAN (Lin et al., NIPS 2017): SeqGAN's rollout policy gradient with a ranker in the
discriminator's place (models/ranker.py). A completed sequence is rewarded with its rank score
R(s | U, C+) among real sequences C+, given real references U; the ranker learns to rank real
sequences above generated ones.

Every reference and comparison set is drawn from the trainer's random streams (or the noise a
gradient-variance measurement brings), so a resumed run draws the same sets.
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqgan_music.config import Config, RankGANConfig
from seqgan_music.corpora.corpus import Corpus
from seqgan_music.models.ranker import Ranker, comparison_mass, rank_logits, rank_scores
from seqgan_music.training.build import build_discriminator
from seqgan_music.training.discriminator_training import real_windows
from seqgan_music.training.methods.seqgan import SeqGAN, policy_gradient_surrogate
from seqgan_music.training.optimization import descend
from seqgan_music.training.rollout import evaluating


def draw_rows(data: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """`count` rows of `data` (N, T) drawn uniformly with replacement by `generator` (on any device)."""
    index = torch.randint(len(data), (count,), generator=generator, device=generator.device)
    return data[index.to(data.device)]


class RankScorer:
    """R(s | U, C) of token rows (R, T) for fixed references U and comparison set C: what the rollout
    rewards with. U's features and C's part of the softmax are computed once; rows are scored
    `chunk_size` at a time with the ranker in eval mode."""

    def __init__(self, ranker: Ranker, references: Tensor, comparison: Tensor, chunk_size: int) -> None:
        self.ranker, self.chunk_size = ranker, chunk_size
        with evaluating(ranker):
            self.references = ranker(references)  # (U, F)
            self.mass = comparison_mass(ranker(comparison), self.references, ranker.gamma)  # (U,)

    def __call__(self, rows: Tensor) -> Tensor:
        """The rank score (R,) of each row, float32."""
        with evaluating(self.ranker):
            parts = [rank_scores(rank_logits(self.ranker(rows[first:first + self.chunk_size]), self.references,
                                             self.mass, self.ranker.gamma))
                     for first in range(0, len(rows), self.chunk_size)]
        return torch.cat(parts) if parts else rows.new_empty((0,), dtype=torch.float32)


def train_ranker(ranker: Ranker, optimizer: torch.optim.Optimizer, reals: Tensor, fakes: Tensor, real_pool: Tensor,
                 settings: RankGANConfig, epochs: int, batch_size: int, shuffle: torch.Generator) -> dict[str, float]:
    """`epochs` passes over reals and fakes (as many of each), a batch of each per step, each step
    with fresh references and comparison sets: real ones from `real_pool`, generated ones from `fakes`.

    Returns the last epoch's mean loss and how often the ranker placed a real sequence above, and a
    generated one below, the score of a sequence no different from its comparison set, 1/(|C| + 1).
    """
    ranker.train()
    chance = 1.0 / (settings.comparison_size + 1)
    summary: dict[str, float] = {}
    for _ in range(epochs):
        real_order = torch.randperm(len(reals), generator=shuffle).to(reals.device)
        fake_order = torch.randperm(len(fakes), generator=shuffle).to(fakes.device)
        loss_sum, batches, right_real, right_fake = 0.0, 0, 0, 0
        for start in range(0, len(reals), batch_size):
            references = draw_rows(real_pool, settings.reference_size, shuffle)
            generated = draw_rows(fakes, settings.comparison_size, shuffle)
            real = draw_rows(real_pool, settings.comparison_size, shuffle)
            loss, real_scores, fake_scores = ranker.loss(reals[real_order[start:start + batch_size]],
                                                         fakes[fake_order[start:start + batch_size]],
                                                         references, generated, real)
            descend(loss, list(ranker.parameters()), optimizer, grad_clip=None)
            loss_sum += float(loss.detach())
            batches += 1
            right_real += int((real_scores > chance).sum())
            right_fake += int((fake_scores < chance).sum())
        summary = {"d_loss": loss_sum / max(batches, 1), "d_acc_real": right_real / max(len(reals), 1),
                   "d_acc_fake": right_fake / max(len(fakes), 1)}
    return summary


class RankGAN(SeqGAN):
    """SeqGAN's round with the ranker as D: pre-trained and refreshed by ranking, scoring rollouts by
    rank among real sequences."""

    name = "rankgan"
    label = "RankGAN"
    summary = "RankGAN: policy gradient with rollout rewards from a ranker that ranks sequences against real ones"
    sections = ("rankgan",)
    partial_rewards = False  # the ranker learns from whole sequences, not prefixes
    partial_rewards = False  # the ranker ranks whole sequences, never prefixes

    @classmethod
    def build_discriminator(cls, corpus: Corpus, config: Config, length: int) -> Ranker:
        return Ranker(build_discriminator(corpus, config, length), config.rankgan.gamma)

    def scorer(self, noise: torch.Generator | None = None) -> RankScorer:
        """R(s | U, C+), U and C+ real training sequences drawn with `noise` (the training stream unless
        the gradient's variance is being measured)."""
        trainer, settings = self.trainer, self.config.rankgan
        noise = trainer.sampling if noise is None else noise
        references = draw_rows(trainer.train_data, settings.reference_size, noise)
        comparison = draw_rows(trainer.train_data, settings.comparison_size, noise)
        return RankScorer(trainer.discriminator, references, comparison, self.config.rollout.chunk_size)

    def surrogate(self, noise: torch.Generator, training: bool) -> tuple[Tensor, dict]:
        trainer, rollout = self.trainer, self.config.rollout
        return policy_gradient_surrogate(trainer.generator, self.policy, self.scorer(noise), trainer.length,
                                         self.config.adversarial, rollout.chunk_size, self.precision, noise,
                                         rollout.every, self.bar_token)

    def train_discriminator(self, negatives: int, epochs: int, batch_size: int) -> dict:
        """The ranker against `negatives` fresh samples of the generator and as many real sequences."""
        trainer = self.trainer
        trainer.generator.eval()
        fakes = trainer.generator.sample(negatives, trainer.length, generator=trainer.sampling)  # (N, T)
        reals = real_windows(trainer.train_data, negatives, trainer.shuffle)  # (N, T)
        return train_ranker(trainer.discriminator, trainer.optimizers["discriminator"], reals, fakes,
                            trainer.train_data, self.config.rankgan, epochs, batch_size, trainer.shuffle)
