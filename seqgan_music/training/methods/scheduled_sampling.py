"""Scheduled sampling (Bengio et al. 2015), the SeqGAN paper's SS baseline: teacher forcing where each
input token is, with probability 1 - omega, the model's own sample at that step instead of the truth.

The coin is fresh for every token of every sequence, and the model's sample is drawn from its
own distribution at the step it replaces (so a replaced input conditions everything after it, as
at generation time). The loss is still the cross-entropy of the true next token.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional

from seqgan_music.models.generator import Generator
from seqgan_music.models.sampling import draw, uniforms
from seqgan_music.phases import MLE, SCHEDULED_SAMPLING
from seqgan_music.training.methods.base import Method, UnitRunner
from seqgan_music.training.mle import epoch_shares
from seqgan_music.training.optimization import descend


def scheduled_omega(epoch: int, decay: float) -> float:
    """The probability of feeding the true token in scheduled-sampling epoch `epoch` (1, 2, ...):
    1 before the first epoch, falling by `decay` per epoch, never below 0."""
    return max(0.0, 1.0 - decay * epoch)


def scheduled_sampling_loss(generator: Generator, batch: Tensor, omega: float,
                            noise: torch.Generator) -> tuple[Tensor, Tensor]:
    """The masked mean cross-entropy of `batch` (B, T) with mixed inputs, and which inputs were the
    model's samples (B, T) bool (position t: the input that predicts token t)."""
    rows, length = batch.shape
    device = batch.device
    coins = uniforms((rows, length), noise, device)  # (B, T) True-token coins
    picks = uniforms((length, rows), noise, device)  # (T, B) the noise of each step's own sample
    sampled = coins >= omega  # (B, T)
    sampled[:, 0] = False  # the first input is the start token, never a sample
    state = generator.initial_state(rows)
    inputs = torch.full((rows,), generator.start_token, dtype=torch.long, device=device)  # (B,)
    logits = []
    for t in range(length):
        step_logits, state = generator.step(inputs, state)  # (B, V)
        logits.append(step_logits)
        if t + 1 < length:
            own = draw(step_logits.detach(), picks[t])  # (B,)
            inputs = torch.where(sampled[:, t + 1], own, batch[:, t])
    stacked = torch.stack(logits, dim=1)  # (B, T, V)
    picked = functional.cross_entropy(stacked.flatten(0, 1), batch.flatten(), reduction="none").view(rows, length)
    mask = generator.token_mask(batch)  # (B, T)
    return (picked * mask).sum() / mask.sum(), sampled


def scheduled_sampling_epoch(generator: Generator, optimizer: torch.optim.Optimizer, data: Tensor, batch_size: int,
                             grad_clip: float, omega: float, shuffle: torch.Generator,
                             noise: torch.Generator) -> dict[str, float]:
    """One pass over `data` (N, T); returns the mean loss and the share of inputs that were samples."""
    generator.train()
    parameters = list(generator.parameters())
    losses, sampled_inputs, inputs = [], 0, 0
    for index in epoch_shares(len(data), batch_size, shuffle):  # with several processes, this one's share
        batch = data[index.to(data.device)]  # (B, T)
        loss, sampled = scheduled_sampling_loss(generator, batch, omega, noise)
        descend(loss, parameters, optimizer, grad_clip)
        losses.append(float(loss.detach()))
        sampled_inputs += int(sampled.sum())
        inputs += sampled[:, 1:].numel()
    return {"g_loss": sum(losses) / max(len(losses), 1), "omega": omega,
            "sampled_share": sampled_inputs / max(inputs, 1)}


class ScheduledSampling(Method):
    """MLE pre-training, then epochs of scheduled sampling with omega falling by `decay` each epoch."""

    name = "ss"
    label = "SS"
    summary = "SS: scheduled sampling after MLE: the model's own tokens replace more inputs each epoch"
    phases = (MLE, SCHEDULED_SAMPLING)
    sections = ("scheduled_sampling",)

    def unit_runners(self) -> dict[str, UnitRunner]:
        return {**super().unit_runners(), SCHEDULED_SAMPLING.name: self.scheduled_sampling_epoch}

    def scheduled_sampling_epoch(self, unit: int) -> dict:
        trainer, settings, settings_mle = self.trainer, self.config.scheduled_sampling, self.config.mle
        metrics = scheduled_sampling_epoch(trainer.generator, trainer.optimizers["mle"], trainer.train_data,
                                           settings_mle.batch_size, settings_mle.grad_clip,
                                           scheduled_omega(unit, settings.decay), trainer.shuffle, trainer.sampling)
        if unit % settings_mle.eval_every == 0 or unit == settings.epochs:
            metrics.update(trainer.evaluate(SCHEDULED_SAMPLING, unit))
        return metrics
