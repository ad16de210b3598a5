"""Maximum-likelihood training of the generator and the per-token NLL of held-out data."""

from __future__ import annotations

import torch
from torch import Tensor

from seqgan_music.models.generator import Generator
from seqgan_music.training.distributed import shares, world_size
from seqgan_music.training.optimization import descend


def mle_epoch(generator: Generator, optimizer: torch.optim.Optimizer, data: Tensor, batch_size: int,
              grad_clip: float, shuffle: torch.Generator, lengths: Tensor | None = None) -> float:
    """One pass over `data` (N, T) in shuffled batches; returns the mean batch loss (nats/token).

    With `lengths` (padded whole tunes), each batch holds tunes of similar length, cut to its longest
    (the cut is all padding, masked anyway), and the batches come in shuffled order.
    With several processes, `batch_size` is each one's: see `epoch_shares`.
    """
    generator.train()
    parameters = list(generator.parameters())
    losses = []
    for index in epoch_shares(len(data), batch_size, shuffle, lengths):
        batch = data[index.to(data.device)]  # (B, T)
        if lengths is not None:
            batch = batch[:, :int(lengths[index.to(lengths.device)].max())]
        loss = generator.mle_loss(batch)
        descend(loss, parameters, optimizer, grad_clip, weight=generator.token_mask(batch).sum())
        losses.append(float(loss.detach()))
    return sum(losses) / max(len(losses), 1)


def epoch_shares(rows: int, batch_size: int, shuffle: torch.Generator, lengths: Tensor | None = None) -> list[Tensor]:
    """An epoch's batches of row indices for this process: the shuffled order (or, with `lengths`,
    batches of similar length) in global batches of world size x `batch_size`, this rank's share of
    each (training/distributed.py); in one process, simply the batches."""
    if lengths is not None:
        return shares(length_batches(lengths, batch_size * world_size(), shuffle))
    return shares(torch.randperm(rows, generator=shuffle).split(batch_size * world_size()))


def length_batches(lengths: Tensor, batch_size: int, shuffle: torch.Generator) -> list[Tensor]:
    """Row indices in batches of similar length: shuffled, sorted by length (stable, so equal lengths
    stay shuffled), cut into batches, the batches' order shuffled; all from `shuffle`."""
    order = torch.randperm(len(lengths), generator=shuffle)
    order = order[torch.sort(lengths.cpu()[order], stable=True).indices]
    batches = list(order.split(batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=shuffle).tolist()]


@torch.no_grad()
def sequence_nlls(generator: Generator, data: Tensor, temperature: float = 1.0,
                  batch_size: int = 1024) -> tuple[Tensor, Tensor]:
    """Each sequence's total NLL (nats, under logits / `temperature`) and its counted tokens, (N,) each."""
    generator.eval()
    totals, counts = [], []
    for start in range(0, len(data), batch_size):
        batch = data[start:start + batch_size]
        mask = generator.token_mask(batch)
        totals.append(-(generator.log_probs(batch, temperature) * mask).sum(dim=1).float())
        counts.append(mask.sum(dim=1).float())
    if not totals:
        return torch.zeros(0), torch.zeros(0)
    return torch.cat(totals).cpu(), torch.cat(counts).cpu()


def per_token_nll(generator: Generator, data: Tensor, temperature: float = 1.0) -> float:
    """NLL_test: the generator's mean negative log-likelihood per (unmasked) token of `data`, nats."""
    totals, counts = sequence_nlls(generator, data, temperature)
    return float(totals.sum()) / max(float(counts.sum()), 1.0)
