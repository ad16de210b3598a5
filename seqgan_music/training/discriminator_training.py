"""Training the discriminator on real windows against fresh generated negatives (whole, or cut into
prefixes for a discriminator of partial sequences)."""

from __future__ import annotations

import torch
from torch import Tensor

from seqgan_music.models.discriminator import Discriminator
from seqgan_music.training.optimization import descend
from seqgan_music.training.partial_rewards import padded_prefixes


def train_discriminator(discriminator: Discriminator, optimizer: torch.optim.Optimizer, positives: Tensor,
                        negatives: Tensor, epochs: int, batch_size: int, shuffle: torch.Generator) -> dict[str, float]:
    """`epochs` passes over positives (label 1) and negatives (label 0), shuffled together.

    Returns the last epoch's mean loss and its accuracy on real and on fake windows.
    """
    discriminator.train()
    parameters = list(discriminator.parameters())
    data = torch.cat([positives, negatives])  # (P + N, T)
    labels = torch.cat([torch.ones(len(positives)), torch.zeros(len(negatives))]).to(data.device)  # (P + N,)
    summary: dict[str, float] = {}
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=shuffle).to(data.device)
        loss_sum, batches, right_real, right_fake = 0.0, 0, 0, 0
        for start in range(0, len(data), batch_size):
            index = order[start:start + batch_size]
            logits = discriminator(data[index])
            loss = discriminator.loss_from_logits(logits, labels[index])
            descend(loss, parameters, optimizer, grad_clip=None)
            loss_sum += float(loss.detach())
            batches += 1
            predicted_real = logits.detach() > 0
            right_real += int((predicted_real & (labels[index] == 1)).sum())
            right_fake += int((~predicted_real & (labels[index] == 0)).sum())
        summary = {"d_loss": loss_sum / max(batches, 1),
                   "d_acc_real": right_real / max(len(positives), 1),
                   "d_acc_fake": right_fake / max(len(negatives), 1)}
    return summary


def real_windows(data: Tensor, count: int, shuffle: torch.Generator) -> Tensor:
    """`count` training windows: a random subset, or every window plus random repeats if too few."""
    if count <= len(data):
        index = torch.randperm(len(data), generator=shuffle)[:count]
    else:
        extra = torch.randint(len(data), (count - len(data),), generator=shuffle)
        index = torch.cat([torch.randperm(len(data), generator=shuffle), extra])
    return data[index.to(data.device)]


def random_prefixes(sequences: Tensor, mask: Tensor, shuffle: torch.Generator) -> Tensor:
    """Each row cut at a length drawn uniformly from 1 to its own length (its tokens up to and
    including the end token, where `mask` (B, T) is 1), padded as partial rewards pad the prefixes
    they score: what D learns from when it rewards prefixes (adversarial.reward=partial)."""
    lengths = mask.sum(dim=1).long().clamp(min=1).cpu()  # (B,)
    cuts = (torch.rand(len(lengths), generator=shuffle) * lengths).long() + 1  # (B,) in 1..length
    return padded_prefixes(sequences, cuts.to(sequences.device))
