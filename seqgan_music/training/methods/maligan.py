"""MaliGAN (Che et al. 2017, "Maximum-Likelihood Augmented Discrete Generative Adversarial Networks").

With an optimal D, r_D(x) = D(x) / (1 - D(x)) = p_data(x) / p_G(x), so weighting G's own samples by
r_D, normalised to sum to one, estimates the gradient of the data's log-likelihood:
    grad = sum_i (w_i - b) grad log G(x_i),   w_i = r_D(x_i) / sum_j r_D(x_j),   b = 1/m
b, the mean normalised weight, is the paper's variance reduction: it leaves the expected gradient
unchanged and makes the step zero when every sample is weighted alike.

Long sequences take the paper's Algorithm 2 (the mixed MLE/sampled schedule): the first N tokens of
each of m real sequences are learnt by MLE (teacher-forced), n continuations of each real prefix are
sampled from G and weighted as above, normalised over the n continuations of the same prefix (a
group). N starts close to the sequence length T and falls by K every few rounds; once N = 0 every
sample shares the empty prefix, so the weights are normalised over the whole batch (Algorithm 1).

The weights come from D's logit: log r_D = log D - log(1 - D) is the logit itself, and the group's
softmax of the logits is r / sum r exactly, with no division by 1 - D. D is clamped to
[1e-6, 1 - 1e-6] (the logit to +-13.8) first, so a saturated D gives finite ratios, at most 10^12 apart.

The loss, per real sequence (REINFORCE's scale): minus the batch mean of each real prefix's
log-likelihood, minus the mean over groups of sum_j (w_j - b) log G(continuation_j | prefix).
With D = 0.5 everywhere all weights in a group are equal, the sampled part is exactly zero and the
step is MLE on the real prefixes; with N = T it is MLE on the real sequences.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from seqgan_music.config import Config, MaliGANConfig
from seqgan_music.models.discriminator import Discriminator
from seqgan_music.models.generator import Generator
from seqgan_music.training.methods.base import AdversarialMethod
from seqgan_music.training.rollout import evaluating

CLAMP = 1e-6  # D is kept in [CLAMP, 1 - CLAMP] before its ratio is taken
_LOGIT_LIMIT = math.log((1 - CLAMP) / CLAMP)


def prefix_length(unit: int, length: int, settings: MaliGANConfig) -> int:
    """N in adversarial round `unit` (1, 2, ...): `sampled_start` tokens short of `length`, then
    `sampled_step` (K) fewer every `step_rounds` rounds, never below 0."""
    steps = (unit - 1) // settings.step_rounds
    return max(0, length - settings.sampled_start - settings.sampled_step * steps)


def normalised_weights(logits: Tensor) -> Tensor:
    """r_D / sum r_D over each row of D's logits (groups, samples), D clamped to [1e-6, 1 - 1e-6]."""
    return torch.softmax(logits.float().clamp(-_LOGIT_LIMIT, _LOGIT_LIMIT), dim=1)


def draw_real_rows(data: Tensor, count: int, noise: torch.Generator) -> Tensor:
    """`count` training rows drawn uniformly with replacement, from `noise` (so a resumed run draws the same)."""
    index = torch.randint(len(data), (count,), generator=noise, device=noise.device)
    return data[index.to(data.device)]


def maligan_surrogate(generator: Generator, discriminator: Discriminator, reals: Tensor, prefix: int,
                      continuations: int, noise: torch.Generator) -> tuple[Tensor, dict[str, float]]:
    """MaliGAN's loss for the real rows `reals` (m, T) with the first `prefix` tokens of each kept,
    `continuations` samples of the rest per row drawn with `noise`; and what to log."""
    rows, length = reals.shape
    given = reals[:, :prefix].repeat_interleave(continuations, dim=0)  # (m n, N)
    generator.eval()
    samples = generator.sample(rows * continuations, length, generator=noise, prefix=given)  # (m n, T)
    with evaluating(discriminator), torch.no_grad():
        logits = discriminator(samples).float()  # (m n,)
    groups = rows if prefix > 0 else 1  # with no prefix every sample shares the empty one
    weights = normalised_weights(logits.view(groups, -1))  # (G, S)
    advantages = (weights - 1.0 / weights.shape[1]).flatten()  # w - b, b the mean normalised weight
    generator.train()
    sampled = generator.log_probs(samples) * generator.token_mask(samples)  # (m n, T)
    sampled_part = (advantages * sampled[:, prefix:].sum(dim=1)).sum() / groups
    loss = -sampled_part
    if prefix > 0:
        real = reals[:, :prefix]  # (m, N)
        loss = loss - (generator.log_probs(real) * generator.token_mask(real)).sum() / rows
    effective = 1.0 / weights.square().sum(dim=1) / weights.shape[1]  # (G,) Kish's effective sample share
    return loss, {"g_loss": float(loss.detach()), "mean_reward": float(torch.sigmoid(logits).mean()),
                  "prefix": float(prefix), "effective_share": float(effective.mean())}


class MaliGAN(AdversarialMethod):
    """MaliGAN's normalised importance-weighted step against D, on Algorithm 2's mixed schedule."""

    name = "maligan"
    label = "MaliGAN"
    summary = "MaliGAN: MLE on real prefixes, sampled continuations weighted by D/(1-D) normalised"
    sections = ("maligan",)

    @classmethod
    def generator_batch_rows(cls, config: Config) -> int:
        return config.adversarial.batch_size * config.maligan.continuations  # n continuations of m prefixes

    current_round = 1  # the adversarial round under way, which sets N (set by every round: nothing to checkpoint)

    def adversarial_round(self, unit: int) -> dict:
        self.current_round = unit
        return super().adversarial_round(unit)

    def surrogate(self, noise: torch.Generator, training: bool) -> tuple[Tensor, dict]:
        trainer, settings = self.trainer, self.config.maligan
        reals = draw_real_rows(trainer.train_data, self.config.adversarial.batch_size, noise)
        prefix = prefix_length(self.current_round, trainer.length, settings)
        return maligan_surrogate(trainer.generator, trainer.discriminator, reals, prefix, settings.continuations, noise)
