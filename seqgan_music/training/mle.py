"""Maximum-likelihood training of the generator and the per-token NLL of held-out data."""

from __future__ import annotations

import torch
from torch import Tensor

from seqgan_music.models.generator import Generator


def mle_epoch(generator: Generator, optimizer: torch.optim.Optimizer, data: Tensor, batch_size: int,
              grad_clip: float, shuffle: torch.Generator) -> float:
    """One pass over `data` (N, T) in shuffled batches; returns the mean batch loss (nats/token)."""
    generator.train()
    order = torch.randperm(len(data), generator=shuffle).to(data.device)
    losses = []
    for start in range(0, len(data), batch_size):
        batch = data[order[start:start + batch_size]]  # (B, T)
        loss = generator.mle_loss(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(generator.parameters(), grad_clip)
        optimizer.step()
        losses.append(float(loss.detach()))
    return sum(losses) / max(len(losses), 1)


@torch.no_grad()
def per_token_nll(generator: Generator, data: Tensor, batch_size: int = 1024) -> float:
    """NLL_test: the generator's mean negative log-likelihood per (unmasked) token of `data`, nats."""
    generator.eval()
    total, count = 0.0, 0.0
    for start in range(0, len(data), batch_size):
        batch = data[start:start + batch_size]
        mask = generator.token_mask(batch)
        total -= float((generator.log_probs(batch) * mask).sum())
        count += float(mask.sum())
    return total / max(count, 1.0)
