"""Sequence-level REINFORCE (the ReGAN paper's baseline estimator): every token of a sampled sequence
is credited with the discriminator's score of the whole sequence, with no Monte Carlo rollout;
optionally minus a moving average of earlier batches' rewards."""

from __future__ import annotations

import torch

from seqgan_music.config import AdversarialConfig
from seqgan_music.models.discriminator import Discriminator
from seqgan_music.models.generator import Generator
from seqgan_music.training.estimators import MovingBaseline, reinforce_loss
from seqgan_music.training.rollout import evaluating


def reinforce_step(generator: Generator, optimizer: torch.optim.Optimizer, discriminator: Discriminator,
                   length: int, settings: AdversarialConfig, baseline: MovingBaseline | None,
                   sampling: torch.Generator) -> dict[str, float]:
    """Sample a batch, reward each sequence with D's P(real), take one gradient step.

    The loss is minus the batch mean of (reward - baseline) times log G(x) over the sequence's
    counted tokens; the baseline (when given) never sees this batch, so the estimate stays unbiased.
    """
    generator.eval()
    samples = generator.sample(settings.batch_size, length, generator=sampling)  # (B, T)
    with evaluating(discriminator):
        rewards = discriminator.probability_real(samples).float()  # (B,)
    subtracted = baseline.advance(rewards) if baseline is not None else 0.0
    generator.train()
    log_probs = (generator.log_probs(samples) * generator.token_mask(samples)).sum(dim=1)  # (B,)
    loss = reinforce_loss(log_probs, rewards, subtracted)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(generator.parameters(), settings.grad_clip)
    optimizer.step()
    return {"g_loss": float(loss.detach()), "mean_reward": float(rewards.mean()), "baseline": subtracted}
