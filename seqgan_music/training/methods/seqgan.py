"""SeqGAN (Yu et al., AAAI 2017): after MLE and D pre-training, each generator step is REINFORCE with
every token's Q taken by Monte Carlo rollouts of a delayed copy of the generator, scored by D; or, with
adversarial.reward=partial, by D of the token's prefix itself (Li et al. 2017; training/partial_rewards.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from seqgan_music.config import AdversarialConfig
from seqgan_music.corpora.encodings import BAR
from seqgan_music.errors import SeqganError
from seqgan_music.models.generator import Generator
from seqgan_music.training.device import resolve_precision
from seqgan_music.training.methods.base import AdversarialMethod
from seqgan_music.training.optimization import descend
from seqgan_music.training.partial_rewards import PARTIAL, partial_rewards
from seqgan_music.training.rollout import RolloutPolicy, Scorer, rollout_rewards

if TYPE_CHECKING:
    from seqgan_music.training.trainer import Trainer


def policy_gradient_surrogate(generator: Generator, policy: RolloutPolicy | None, scorer: Scorer, length: int,
                              settings: AdversarialConfig, chunk_size: int, precision: str,
                              sampling: torch.Generator, every: str = "token",
                              bar_token: int | None = None) -> tuple[Tensor, dict[str, float]]:
    """Sample a batch and reward every token by rollout (scored by D, or by BLEU for PG-BLEU), or without
    a rollout `policy` by the scorer (D) of its prefix: the loss whose gradient is the update, and what to log.

    `chunk_size` and `precision` ("float32" or "bfloat16") say how the rollout is computed; `every`
    ("token", "bar" with the bar line's `bar_token`, or K) which prefixes it rolls out.

    The loss is the reference implementation's: minus the sum over the batch's tokens of
    log G(x_t | x_<t) times Q(t). With `settings.baseline`, the batch mean of Q at each position is
    subtracted first (lower variance, same expected gradient); the paper uses none.
    """
    generator.eval()
    samples = generator.sample(settings.batch_size, length, generator=sampling)  # (B, T)
    mask = generator.token_mask(samples)  # (B, T)
    if policy is None:
        rewards = partial_rewards(scorer, samples, mask, chunk_size, precision)  # (B, T)
    else:
        rewards = rollout_rewards(policy.network, scorer, samples, settings.rollouts, generator=sampling,
                                  chunk_size=chunk_size, precision=precision, every=every, bar_token=bar_token)
    advantages = rewards - rewards.mean(dim=0, keepdim=True) if settings.baseline else rewards
    generator.train()
    loss = -(generator.log_probs(samples) * advantages * mask).sum()
    return loss, {"g_loss": float(loss.detach()) / settings.batch_size,
                  "mean_reward": float((rewards * mask).sum() / mask.sum().clamp(min=1))}


def policy_gradient_step(generator: Generator, optimizer: torch.optim.Optimizer, policy: RolloutPolicy | None,
                         scorer: Scorer, length: int, settings: AdversarialConfig, chunk_size: int, precision: str,
                         sampling: torch.Generator, every: str = "token", bar_token: int | None = None) -> dict[str, float]:
    """One SeqGAN (or PG-BLEU) generator step: the surrogate's gradient step, then the rollout
    network (if any) follows the generator."""
    loss, metrics = policy_gradient_surrogate(generator, policy, scorer, length, settings, chunk_size, precision,
                                              sampling, every, bar_token)
    descend(loss, list(generator.parameters()), optimizer, settings.grad_clip)
    if policy is not None:
        policy.update(generator)
    return metrics


class SeqGAN(AdversarialMethod):
    """Rollout policy gradient against the discriminator; the rollout policy follows the generator
    with delay `adversarial.beta`. With partial rewards there is no rollout policy."""

    name = "seqgan"
    label = "SeqGAN"
    summary = "SeqGAN: policy gradient with Monte Carlo rollout rewards from the CNN discriminator"
    uses_rollout = True
    partial_rewards = True

    def __init__(self, trainer: Trainer) -> None:
        super().__init__(trainer)
        corpus, config = trainer.corpus, self.config
        self.bar_token = corpus.vocabulary.id(BAR) if BAR in corpus.vocabulary else None
        if config.rollout.every == "bar" and self.bar_token is None:
            raise SeqganError(f"rollout.every=bar needs bar lines, and corpus {corpus.name!r} has none: "
                              "use rollout.every=token or a number")
        self.policy = (None if config.adversarial.reward == PARTIAL  # no rollout: D rewards each prefix
                       else RolloutPolicy(trainer.generator, config.adversarial.beta))
        self.precision = resolve_precision(config.rollout.precision, trainer.device)

    def adversarial_round(self, unit: int) -> dict:
        if unit == 1 and self.policy is not None:
            self.policy.copy_from(self.trainer.generator)  # MLE (or --init) has changed it since the copy was made
        return super().adversarial_round(unit)

    def scorer(self) -> Scorer:
        """What rewards a completed sequence."""
        return self.trainer.discriminator

    def surrogate(self, noise: torch.Generator, training: bool) -> tuple[Tensor, dict]:
        trainer, rollout = self.trainer, self.config.rollout
        return policy_gradient_surrogate(trainer.generator, self.policy, self.scorer(), trainer.length,
                                         self.config.adversarial, rollout.chunk_size, self.precision, noise,
                                         rollout.every, self.bar_token)

    def surrogate_sequences(self) -> int:
        return self.config.adversarial.batch_size  # the rollout loss sums over the batch

    def generator_step(self) -> dict:
        trainer, rollout = self.trainer, self.config.rollout
        return policy_gradient_step(trainer.generator, trainer.optimizers["adversarial"], self.policy, self.scorer(),
                                    trainer.length, self.config.adversarial, rollout.chunk_size, self.precision,
                                    trainer.sampling, rollout.every, self.bar_token)

    def state_dict(self) -> dict:
        return {} if self.policy is None else {"rollout": self.policy.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if self.policy is not None:
            self.policy.load_state_dict(state["rollout"])
