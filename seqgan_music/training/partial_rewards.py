"""Partial-sequence rewards (Li et al., EMNLP 2017: "a discriminator for partially decoded sequences"):
D learns to tell real prefixes from generated ones, and the reward of token x_t is D's P(real) of the
prefix x_1..x_t itself. No rollout: the T prefixes of a batch are scored by D at once, so a generator
step costs one D pass over B * T rows instead of the rollout's N * B * T completions and their scoring.

A prefix is padded as D reads prefixes: the positions after it hold EMPTY (embedded as zeros), so it
means "nothing here" on every vocabulary, with or without a pad token.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqgan_music.models.discriminator import EMPTY
from seqgan_music.training.rollout import evaluating, score_rows

PARTIAL = "partial"  # the adversarial.reward that asks for these rewards (instead of "rollout")


def padded_prefixes(sequences: Tensor, lengths: Tensor) -> Tensor:
    """Row b of `sequences` (B, T) cut after its first `lengths[b]` tokens, the rest EMPTY."""
    kept = torch.arange(sequences.shape[1], device=sequences.device) < lengths.unsqueeze(1)  # (B, T)
    return sequences.masked_fill(~kept, EMPTY)


def partial_rewards(discriminator: nn.Module, sequences: Tensor, mask: Tensor, chunk_size: int = 256,
                    precision: str = "float32") -> Tensor:
    """Rewards (B, T): rewards[b, t-1] = D's P(real) of the padded prefix sequences[b, :t], zero where
    `mask` (B, T) is 0 (after the first end token; those prefixes are not scored). D scores `chunk_size`
    rows per call, in eval mode, under bfloat16 autocast when precision is "bfloat16"; its training mode
    is restored afterwards."""
    batch, length = sequences.shape
    lengths = torch.arange(1, length + 1, device=sequences.device).repeat_interleave(batch)  # (T * B,)
    wanted = mask.t().reshape(-1) > 0  # (T * B,): the prefixes that end inside their sequence
    rows = padded_prefixes(sequences.repeat(length, 1)[wanted], lengths[wanted])  # row (t - 1) * B + b of those
    with evaluating(discriminator):
        scored = score_rows(discriminator, rows, chunk_size, precision)  # (R,)
    scores = scored.new_zeros((length * batch,))
    scores[wanted] = scored
    return scores.view(length, batch).t()
