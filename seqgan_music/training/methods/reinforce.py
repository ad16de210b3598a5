"""Sequence-level REINFORCE (the ReGAN paper's baseline estimator): every token of a sampled sequence
is credited with the discriminator's score of the whole sequence, with no Monte Carlo rollout;
optionally minus a moving average of earlier batches' rewards."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from seqgan_music.config import AdversarialConfig, Config
from seqgan_music.models.discriminator import Discriminator
from seqgan_music.models.generator import Generator
from seqgan_music.training.estimators import MovingBaseline, reinforce_loss
from seqgan_music.training.methods.base import AdversarialMethod
from seqgan_music.training.rollout import evaluating

if TYPE_CHECKING:
    from seqgan_music.training.trainer import Trainer


def reinforce_surrogate(generator: Generator, discriminator: Discriminator, length: int,
                        settings: AdversarialConfig, baseline: MovingBaseline | None, advance: bool,
                        sampling: torch.Generator) -> tuple[Tensor, dict[str, float]]:
    """Sample a batch and reward each sequence with D's P(real): the loss and what to log.

    The loss is minus the batch mean of (reward - baseline) times log G(x) over the sequence's
    counted tokens. The baseline never sees this batch, so the estimate stays unbiased; `advance`
    folds the batch into it afterwards (a training step does, a variance measurement does not).
    """
    generator.eval()
    samples = generator.sample(settings.batch_size, length, generator=sampling)  # (B, T)
    with evaluating(discriminator):
        rewards = discriminator.probability_real(samples).float()  # (B,)
    if baseline is None:
        subtracted = 0.0
    else:
        subtracted = baseline.advance(rewards) if advance else (baseline.value or 0.0)
    generator.train()
    log_probs = (generator.log_probs(samples) * generator.token_mask(samples)).sum(dim=1)  # (B,)
    loss = reinforce_loss(log_probs, rewards, subtracted)
    return loss, {"g_loss": float(loss.detach()), "mean_reward": float(rewards.mean()), "baseline": subtracted}


class Reinforce(AdversarialMethod):
    """Sequence-level REINFORCE against D, with `adversarial.baseline` a moving-average baseline."""

    name = "reinforce"
    label = "REINFORCE"
    summary = "REINFORCE: every token credited with D's score of its whole sequence, no rollout"

    @classmethod
    def distributed_refusal(cls, config: Config) -> str:
        return ("its moving baseline would be folded from each process's own rewards and drift apart: "
                "set adversarial.baseline=false" if config.adversarial.baseline else "")

    def __init__(self, trainer: Trainer) -> None:
        super().__init__(trainer)
        self.baseline = MovingBaseline() if self.config.adversarial.baseline else None

    def surrogate(self, noise: torch.Generator, training: bool) -> tuple[Tensor, dict]:
        trainer = self.trainer
        return reinforce_surrogate(trainer.generator, trainer.discriminator, trainer.length, self.config.adversarial,
                                   self.baseline, training, noise)

    def state_dict(self) -> dict:
        return {"moving_baseline": self.baseline.value if self.baseline else None}

    def load_state_dict(self, state: dict) -> None:
        if self.baseline is not None:
            self.baseline.value = state.get("moving_baseline")
