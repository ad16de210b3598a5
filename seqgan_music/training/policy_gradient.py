"""The SeqGAN generator update (and PG-BLEU's): REINFORCE with the Monte Carlo rollout's per-token Q as reward."""

from __future__ import annotations

import torch
from torch import Tensor

from seqgan_music.config import AdversarialConfig
from seqgan_music.models.generator import Generator
from seqgan_music.training.optimization import descend
from seqgan_music.training.rollout import RolloutPolicy, Scorer, rollout_rewards


def policy_gradient_surrogate(generator: Generator, policy: RolloutPolicy, scorer: Scorer, length: int,
                              settings: AdversarialConfig, chunk_size: int, precision: str,
                              sampling: torch.Generator, every: str = "token",
                              bar_token: int | None = None) -> tuple[Tensor, dict[str, float]]:
    """Sample a batch and reward every token by rollout (scored by D, or by BLEU for PG-BLEU): the loss
    whose gradient is the update, and what to log.

    `chunk_size` and `precision` ("float32" or "bfloat16") say how the rollout is computed; `every`
    ("token", "bar" with the bar line's `bar_token`, or K) which prefixes it rolls out.

    The loss is the reference implementation's: minus the sum over the batch's tokens of
    log G(x_t | x_<t) times Q(t). With `settings.baseline`, the batch mean of Q at each position is
    subtracted first (lower variance, same expected gradient); the paper uses none.
    """
    generator.eval()
    samples = generator.sample(settings.batch_size, length, generator=sampling)  # (B, T)
    rewards = rollout_rewards(policy.network, scorer, samples, settings.rollouts, generator=sampling,
                              chunk_size=chunk_size, precision=precision, every=every, bar_token=bar_token)  # (B, T)
    mask = generator.token_mask(samples)  # (B, T)
    advantages = rewards - rewards.mean(dim=0, keepdim=True) if settings.baseline else rewards
    generator.train()
    loss = -(generator.log_probs(samples) * advantages * mask).sum()
    return loss, {"g_loss": float(loss.detach()) / settings.batch_size,
                  "mean_reward": float((rewards * mask).sum() / mask.sum().clamp(min=1))}


def policy_gradient_step(generator: Generator, optimizer: torch.optim.Optimizer, policy: RolloutPolicy,
                         scorer: Scorer, length: int, settings: AdversarialConfig, chunk_size: int, precision: str,
                         sampling: torch.Generator, every: str = "token", bar_token: int | None = None) -> dict[str, float]:
    """One SeqGAN (or PG-BLEU) generator step: the surrogate's gradient step, then the rollout
    network follows the generator."""
    loss, metrics = policy_gradient_surrogate(generator, policy, scorer, length, settings, chunk_size, precision,
                                              sampling, every, bar_token)
    descend(loss, list(generator.parameters()), optimizer, settings.grad_clip)
    policy.update(generator)
    return metrics
