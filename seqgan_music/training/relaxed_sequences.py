"""Generated sequences as relaxed one-hot tokens, so that D's loss reaches the generator by back-propagation.

Sampling a token blocks gradients; the Gumbel-softmax (Jang et al. 2017; Kusner and Hernández-Lobato
2016) passes them. Each token is drawn exactly by the Gumbel-max trick, b_t = argmax(log p_t + g_t),
and D reads y_t = softmax(beta * (log p_t + g_t)) in its place, which tends to the one-hot of b_t as
beta grows (RelGAN's "temperature" beta, which multiplies). As in RelGAN the generator is fed the
drawn token b_t, so the y_t are recomputed by teacher forcing on b in one batched pass with
gradients. Methods that show D the generator's softmax outputs instead (WGAN-GP on text, TextGAN's
soft-argmax) take y_t = softmax(beta * log p_t), without the noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional

from seqgan_music.models.generator import Generator
from seqgan_music.models.sampling import uniforms
from seqgan_music.training.estimators import gumbel_max_tokens, perturb


@dataclass(frozen=True)
class RelaxedSequences:
    """Drawn sequences and what D reads in their place."""

    tokens: Tensor  # (B, T) the drawn tokens, padded after the end token as `Generator.sample` pads
    weights: Tensor  # (B, T, V) rows on the simplex, differentiable in the generator's parameters


def relaxed_sequences(generator: Generator, batch: int, length: int, beta: float, noise: torch.Generator | None,
                      gumbel: bool = True, straight_through: bool = False) -> RelaxedSequences:
    """`batch` sequences drawn from `generator` with `noise`, each token relaxed to a softmax sharpened
    by `beta`: of the Gumbel-perturbed log-probabilities (`gumbel`) or of the log-probabilities alone.

    `straight_through`: the weights are the drawn one-hot tokens, with the relaxation's gradient.
    Positions after the first end token hold the pad token's one-hot, with no gradient.
    """
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    u = uniforms((batch, length, generator.vocab_size), noise, generator.device)  # (B, T, V)
    tokens = gumbel_max_tokens(generator, u)  # (B, T)
    logits, _ = generator(generator.shift_right(tokens))  # (B, T, V)
    log_probs, z = perturb(logits, u)
    weights = functional.softmax(beta * (z if gumbel else log_probs), dim=-1)  # (B, T, V)
    if straight_through:
        weights = one_hot(tokens, generator.vocab_size, weights.dtype) + weights - weights.detach()
    return _padded(generator, tokens, weights)


def _padded(generator: Generator, tokens: Tensor, weights: Tensor) -> RelaxedSequences:
    """Tokens and weights after the first end token replaced by the fill token (what real data holds there)."""
    if generator.end_token is None:
        return RelaxedSequences(tokens, weights)
    fill = generator.end_token if generator.pad_token is None else generator.pad_token
    kept = generator.token_mask(tokens) > 0  # (B, T)
    filled = one_hot(torch.full_like(tokens, fill), generator.vocab_size, weights.dtype)  # (B, T, V)
    return RelaxedSequences(tokens.masked_fill(~kept, fill), torch.where(kept.unsqueeze(-1), weights, filled))


def one_hot(tokens: Tensor, vocab_size: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Token ids (B, T) as one-hot rows (B, T, V): real sequences in the form D reads relaxed ones."""
    return functional.one_hot(tokens, vocab_size).to(dtype)


def beta_at(schedule: str, beta_max: float, step: int, steps: int) -> float:
    """RelGAN's beta after `step` of `steps` generator steps: `beta_max` throughout ("constant"),
    or rising from 1 to `beta_max` in a straight line ("linear") or geometrically ("exponential")."""
    progress = min(max(step, 0) / max(steps, 1), 1.0)
    if schedule == "constant":
        return beta_max
    if schedule == "linear":
        return 1.0 + (beta_max - 1.0) * progress
    if schedule == "exponential":
        return math.exp(math.log(beta_max) * progress)
    raise ValueError(f"unknown beta schedule {schedule!r}: constant, linear or exponential")
