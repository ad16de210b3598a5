"""RankGAN's ranker (Lin et al., NIPS 2017): it scores a sequence by how it ranks among others, not
by a real/generated verdict of its own.

A sequence s is embedded by the discriminator's CNN and highway layer (y_s); its relevance to a
reference sequence u is the cosine alpha(s|u) = cos(y_s, y_u). Against a comparison set C,

    P(s | u, C) = exp(gamma alpha(s|u)) / sum over s' in C + {s} of exp(gamma alpha(s'|u))

a softmax over the set that gamma sharpens, and the rank score is its mean over a reference set U
of real sequences, R(s | U, C) = E_u P(s | u, C). The ranker learns to rank real sequences high
against generated ones (C-) and generated ones low against real ones (C+); the generator is
rewarded with R(s | U, C+).

P(s | u, C) is computed as sigmoid(z) with the rank logit z = gamma alpha(s|u) - log sum over C of
exp(gamma alpha(s'|u)), so the comparison set's part is computed once for any number of s, and
log P and log(1 - P) are exact log-sigmoids.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional

from seqgan_music.models.discriminator import Discriminator


def relevance(features: Tensor, reference_features: Tensor) -> Tensor:
    """alpha(s|u) (S, U): the cosines of unit feature vectors (S, F) and (U, F)."""
    return features @ reference_features.T


def set_probabilities(features: Tensor, reference_features: Tensor, gamma: float) -> Tensor:
    """P(s | u, S) (S, U) for every s of a set of unit feature vectors (S, F): each column is a softmax
    over the set (it sums to one)."""
    return torch.softmax(gamma * relevance(features, reference_features), dim=0)


def comparison_mass(comparison_features: Tensor, reference_features: Tensor, gamma: float) -> Tensor:
    """log sum over the comparison set (C, F) of exp(gamma alpha(c|u)), per reference (U,)."""
    return torch.logsumexp(gamma * relevance(comparison_features, reference_features), dim=0)


def rank_logits(features: Tensor, reference_features: Tensor, mass: Tensor, gamma: float) -> Tensor:
    """z (S, U) with P(s | u, C) = sigmoid(z): each s against the comparison set whose `mass` is given."""
    return gamma * relevance(features, reference_features) - mass


def rank_scores(logits: Tensor) -> Tensor:
    """R(s | U, C) (S,): the mean over the references of P(s | u, C)."""
    return torch.sigmoid(logits).mean(dim=1)


def _log_mean_exp(values: Tensor) -> Tensor:
    return torch.logsumexp(values, dim=1) - math.log(values.shape[1])


class Ranker(nn.Module):
    """Sequences (B, T) -> unit feature vectors (B, F), and the rank scores and loss built on them.

    The features are the discriminator's (`encoder`: embedding, filter bank, highway layer, dropout);
    its one-logit output layer is a classifier's and is never read, so it is frozen.
    """

    def __init__(self, encoder: Discriminator, gamma: float = 1.0) -> None:
        super().__init__()
        if not (math.isfinite(gamma) and gamma > 0):
            raise ValueError(f"gamma must be a finite number > 0, got {gamma}")
        self.encoder = encoder
        self.gamma = float(gamma)
        encoder.output.requires_grad_(False)

    def forward(self, sequences: Tensor) -> Tensor:
        """y_s / |y_s| (B, F) in float32; dropout in training mode."""
        features = self.encoder.dropout(self.encoder.highway_features(sequences))
        return functional.normalize(features.float(), dim=1)

    def rank_logits(self, sequences: Tensor, references: Tensor, comparison: Tensor) -> Tensor:
        """z (B, U) of each sequence against `comparison` (C, T), given the references (U, T)."""
        features = self(torch.cat([sequences, references, comparison]))
        ours, theirs, compared = features.split([len(sequences), len(references), len(comparison)])
        return rank_logits(ours, theirs, comparison_mass(compared, theirs, self.gamma), self.gamma)

    def rank_scores(self, sequences: Tensor, references: Tensor, comparison: Tensor) -> Tensor:
        """R(s | U, C) (B,) of each sequence against `comparison`."""
        return rank_scores(self.rank_logits(sequences, references, comparison))

    def loss(self, reals: Tensor, fakes: Tensor, references: Tensor, generated_comparison: Tensor,
             real_comparison: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The paper's objective as a loss: -(mean log R(real | U, C-) + mean log(1 - R(fake | U, C+))),
        C- generated and C+ real sequences; with the rank scores of the reals (P,) and fakes (N,).
        One encoder pass over all five sets."""
        sets = [reals, fakes, references, generated_comparison, real_comparison]
        features = self(torch.cat(sets)).split([len(rows) for rows in sets])
        real_features, fake_features, reference_features, generated, real = features
        real_logits = rank_logits(real_features, reference_features,
                                  comparison_mass(generated, reference_features, self.gamma), self.gamma)
        fake_logits = rank_logits(fake_features, reference_features,
                                  comparison_mass(real, reference_features, self.gamma), self.gamma)
        log_real = _log_mean_exp(functional.logsigmoid(real_logits))  # log R(real) (P,)
        log_fake_below = _log_mean_exp(functional.logsigmoid(-fake_logits))  # log(1 - R(fake)) (N,)
        loss = -(log_real.mean() + log_fake_below.mean())
        return loss, rank_scores(real_logits.detach()), rank_scores(fake_logits.detach())
