"""LeakGAN (Guo et al., AAAI 2018): the generator is a Manager and a Worker over D's leaked feature
space (models/leakgan.py). Each adversarial step samples a batch and rolls out every c-th prefix
(the last block's Q is D of the whole sequence); within each block the batch's Qs are replaced by
their rank's rescaled activation sigma(delta (0.5 - rank / B)). The Manager follows the transition
policy gradient: minus Q times cos(f_{t+c} - f_t, g_t) per block; the Worker REINFORCE with the
intrinsic reward, the mean cosine of its feature changes with the goals it was given. Every
`leakgan.interleave` rounds an MLE epoch of both (the Manager supervised by the real feature changes)
keeps the generator near the data; D's weights are copied into the generator whenever D has trained.

Not the reference's tricks: no sampling temperature of 1.5 and no learned initial goal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from seqgan_music.config import Config
from seqgan_music.corpora.corpus import Corpus
from seqgan_music.errors import SeqganError
from seqgan_music.models.discriminator import Discriminator
from seqgan_music.models.leakgan import LeakGANGenerator, intrinsic_rewards, manager_loss, weighted_nll
from seqgan_music.training.build import ban_for_unit, build_discriminator, sequence_tokens
from seqgan_music.training.methods.base import AdversarialMethod
from seqgan_music.training.mle import mle_epoch
from seqgan_music.training.model_sizes import ModelSizes, discriminator_parameters, leakgan_generator_parameters
from seqgan_music.training.optimization import descend
from seqgan_music.training.rollout import evaluating
from seqgan_music.training.sequences import sample_length

if TYPE_CHECKING:
    from seqgan_music.training.trainer import Trainer


def rescaled_ranks(rewards: Tensor, delta: float) -> Tensor:
    """The bootstrapped rescaled activation: within each column (a time step) of `rewards` (B, K),
    the i-th highest reward becomes sigmoid(delta (0.5 - i / B)); ties keep the batch order."""
    batch = rewards.shape[0]
    order = torch.sort(rewards, dim=0, descending=True, stable=True).indices  # (B, K)
    ranks = torch.empty_like(order)
    ranks.scatter_(0, order, torch.arange(1, batch + 1, device=rewards.device).unsqueeze(1).expand_as(order))
    return torch.sigmoid(delta * (0.5 - ranks.to(rewards.dtype) / batch))


@torch.no_grad()
def block_rewards(generator: LeakGANGenerator, discriminator: Discriminator, samples: Tensor, rollouts: int,
                  sampling: torch.Generator) -> Tensor:
    """Q of every block of c tokens (B, K): the mean of D over `rollouts` completions of the prefix
    that ends the block, drawn by the generator itself (as the reference does); D of the sequence
    for the last block."""
    batch, length = samples.shape
    rewards = []
    with evaluating(discriminator):
        for end in range(generator.horizon, length, generator.horizon):
            completions = generator.sample(rollouts * batch, length, generator=sampling,
                                           prefix=samples[:, :end].repeat(rollouts, 1))
            rewards.append(discriminator.probability_real(completions).float().view(rollouts, batch).mean(dim=0))
        rewards.append(discriminator.probability_real(samples).float())
    return torch.stack(rewards, dim=1)


class LeakGAN(AdversarialMethod):
    """MLE (Worker and Manager), D pre-training, then adversarial rounds with interleaved MLE."""

    name = "leakgan"
    label = "LeakGAN"
    summary = "LeakGAN: a Manager reads D's leaked features and sets goals for a Worker (long sequences)"
    sections = ("leakgan",)
    size_settings = ("leakgan.worker_hidden", "leakgan.manager_hidden", "leakgan.goal_size")
    uses_rollout = True

    @classmethod
    def build_generator(cls, corpus: Corpus, config: Config) -> LeakGANGenerator:
        """The Manager and Worker over a discriminator of the run's length (a frozen copy, which
        a finished run's checkpoint restores with the generator)."""
        shape, settings, vocabulary = config.generator, config.leakgan, corpus.vocabulary
        inputs = [f"generator.{option}=false" for option in ("lookback", "attention", "header_inputs")
                  if getattr(shape, option)]
        if inputs:
            raise SeqganError(f"leakgan's Worker reads tokens only: set {', '.join(inputs)}")
        if shape.layers != 1:
            raise SeqganError("leakgan's Manager and Worker are one LSTM layer each: set generator.layers=1")
        if shape.core != "lstm":
            raise SeqganError("leakgan's Worker is an LSTM: set generator.core=lstm")
        discriminator = build_discriminator(corpus, config, sample_length(corpus, config.data.unit))
        generator = LeakGANGenerator(len(vocabulary), discriminator, shape.embedding, settings.worker_hidden,
                                     settings.manager_hidden, settings.goal_size, settings.horizon,
                                     **sequence_tokens(corpus))
        return ban_for_unit(generator, config, corpus)

    @classmethod
    def model_sizes(cls, config: Config, vocab_size: int, length: int) -> ModelSizes:
        """The generator holds a frozen copy of D besides its parameters."""
        discriminator = discriminator_parameters(config, vocab_size, length)
        return ModelSizes(leakgan_generator_parameters(config, vocab_size, length), discriminator, frozen=discriminator)

    def __init__(self, trainer: Trainer) -> None:
        super().__init__(trainer)
        if self.config.adversarial.variance_estimates:
            raise SeqganError("leakgan does not measure its gradient's variance: set adversarial.variance_estimates=0")
        trainer.generator.leak_from(trainer.discriminator)

    def adversarial_round(self, unit: int) -> dict:
        """Algorithm 1's round, after an MLE epoch every `leakgan.interleave` rounds."""
        interleave = self.config.leakgan.interleave
        metrics = {"mle_loss": self.interleaved_mle_epoch()} if interleave and unit % interleave == 0 else {}
        return {**metrics, **super().adversarial_round(unit)}

    def interleaved_mle_epoch(self) -> float:
        trainer, settings = self.trainer, self.config.mle
        return mle_epoch(trainer.generator, trainer.optimizers["mle"], trainer.train_data, settings.batch_size,
                         settings.grad_clip, trainer.shuffle, trainer.data.train_lengths)

    def generator_step(self) -> dict:
        """The Manager's transition policy gradient and the Worker's intrinsic REINFORCE, one step."""
        trainer, settings = self.trainer, self.config.adversarial
        generator: LeakGANGenerator = trainer.generator
        generator.eval()
        samples = generator.sample(settings.batch_size, trainer.length, generator=trainer.sampling)  # (B, T)
        rewards = block_rewards(generator, trainer.discriminator, samples, settings.rollouts, trainer.sampling)
        rescaled = rescaled_ranks(rewards, self.config.leakgan.delta)  # (B, K)
        generator.train()
        passed = generator.teacher_forced(samples)
        mask = generator.token_mask(samples)
        intrinsic = intrinsic_rewards(passed.features, passed.goals.detach(), generator.horizon)  # (B, T)
        worker = weighted_nll(passed.logits, samples, intrinsic, mask)
        manager = manager_loss(passed.features, passed.goals, mask, generator.horizon, rescaled)
        descend(worker + manager, list(generator.parameters()), trainer.optimizers["adversarial"], settings.grad_clip)
        return {"g_loss": float(worker.detach()), "manager_loss": float(manager.detach()),
                "mean_reward": float(rewards.mean()), "intrinsic_reward": float((intrinsic * mask).sum() / mask.sum())}

    def train_discriminator(self, negatives: int, epochs: int, batch_size: int) -> dict:
        """D trains as in every method; then the generator reads its new features."""
        metrics = super().train_discriminator(negatives, epochs, batch_size)
        self.trainer.generator.leak_from(self.trainer.discriminator)
        return metrics
