"""What the methods that train the generator through relaxed tokens share (`gsgan`, `relgan`, `wgan`,
`textgan`): no reinforcement learning, no rollout. Each generator step draws a batch, shows D the
relaxed sequences (training/relaxed_sequences.py) and back-propagates the GAN loss through them into
the generator; each discriminator step trains D on a real batch against a generated one by the same
loss. A method says how its batch is relaxed (`relaxed_batch`) and which loss it plays (`loss`).

As in RelGAN, both players have their own Adam at a learning rate far below SeqGAN's policy-gradient
one (`relaxed_gan` settings), and D is not pre-trained: the adversarial phase follows MLE directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor

from seqgan_music.phases import ADVERSARIAL, MLE
from seqgan_music.training.adversarial_losses import discriminator_loss, generator_loss, gradient_penalty
from seqgan_music.training.methods.base import AdversarialMethod, UnitRunner
from seqgan_music.training.optimization import descend
from seqgan_music.training.relaxed_sequences import RelaxedSequences, one_hot

if TYPE_CHECKING:
    from seqgan_music.training.trainer import Trainer


class RelaxedGAN(AdversarialMethod):
    """MLE, then rounds of `g_steps` generator steps and `d_steps` discriminator steps, one batch of
    `adversarial.batch_size` each, both by back-propagation through the relaxed tokens."""

    phases = (MLE, ADVERSARIAL)
    sections: ClassVar[tuple[str, ...]] = ("relaxed_gan",)

    def __init__(self, trainer: Trainer) -> None:
        super().__init__(trainer)
        settings = self.config.relaxed_gan
        self.generator_optimizer = torch.optim.Adam(trainer.generator.parameters(),
                                                    lr=settings.generator_learning_rate)
        self.discriminator_optimizer = torch.optim.Adam(trainer.discriminator.parameters(),
                                                        lr=settings.discriminator_learning_rate)
        self.generator_steps = 0  # taken so far: where a schedule of the relaxation stands

    # ------------------------------------------------------------------ what a method says
    @property
    def loss(self) -> str:
        """The GAN loss both players follow (one of adversarial_losses.LOSSES)."""
        raise NotImplementedError

    def relaxed_batch(self, noise: torch.Generator) -> RelaxedSequences:
        """A generated batch as D reads it, differentiable in the generator."""
        raise NotImplementedError

    def generator_objective(self, real: Tensor, fake: Tensor) -> tuple[Tensor, dict]:
        """The generator's loss for a real batch (ids (B, T)) and a relaxed one (B, T, V), and what to
        log. The GAN loss of D's logits; TextGAN matches D's features instead."""
        discriminator = self.trainer.discriminator
        loss = generator_loss(self.loss, discriminator(real), discriminator(fake))
        return loss, {"g_loss": float(loss.detach())}

    # ------------------------------------------------------------------ the shared steps
    def total_generator_steps(self) -> int:
        return self.config.adversarial.rounds * self.config.adversarial.g_steps

    def real_batch(self, noise: torch.Generator) -> Tensor:
        """`adversarial.batch_size` training sequences (B, T) drawn with `noise`."""
        data = self.trainer.train_data
        rows = torch.randint(len(data), (self.config.adversarial.batch_size,), generator=noise, device=noise.device)
        return data[rows.to(data.device)]

    def surrogate(self, noise: torch.Generator, training: bool) -> tuple[Tensor, dict]:
        real = self.real_batch(noise)
        loss, metrics = self.generator_objective(real, self.relaxed_batch(noise).weights)
        return loss, metrics

    def generator_step(self) -> dict:
        loss, metrics = self.surrogate(self.trainer.sampling, training=True)
        descend(loss, list(self.trainer.generator.parameters()), self.generator_optimizer,
                self.config.adversarial.grad_clip)
        self.generator_steps += 1
        return metrics

    def discriminator_step(self) -> dict:
        """One step of D on a real batch against a generated one (the generator held fixed)."""
        trainer = self.trainer
        discriminator = trainer.discriminator
        real = self.real_batch(trainer.sampling)
        with torch.no_grad():
            fake = self.relaxed_batch(trainer.sampling).weights  # (B, T, V)
        real_logits, fake_logits = discriminator(real), discriminator(fake)
        loss = discriminator_loss(self.loss, real_logits, fake_logits)
        metrics = {"d_loss": float(loss.detach())}
        if self.loss == "wasserstein" and self.config.relaxed_gan.gradient_penalty > 0:
            penalty = gradient_penalty(discriminator, one_hot(real, fake.shape[-1], fake.dtype), fake, trainer.sampling)
            loss = loss + self.config.relaxed_gan.gradient_penalty * penalty
            metrics["gradient_penalty"] = float(penalty.detach())
        descend(loss, list(discriminator.parameters()), self.discriminator_optimizer, self.config.adversarial.grad_clip)
        metrics["d_accuracy"] = float(((real_logits > fake_logits).float().mean()).detach())
        return metrics

    def unit_runners(self) -> dict[str, UnitRunner]:
        return {MLE.name: self.mle_epoch, ADVERSARIAL.name: self.adversarial_round}

    def adversarial_round(self, unit: int) -> dict:
        settings = self.config.adversarial
        metrics: dict = {}
        for _ in range(settings.g_steps):
            metrics.update(self.generator_step())
        for _ in range(settings.d_steps):
            metrics.update(self.discriminator_step())
        if unit % settings.eval_every == 0 or unit == settings.rounds:
            metrics.update(self.gradient_variance(unit))
            metrics.update(self.trainer.evaluate(ADVERSARIAL, unit))
        return metrics

    def state_dict(self) -> dict:
        return {"relaxed_gan": {"generator_optimizer": self.generator_optimizer.state_dict(),
                                "discriminator_optimizer": self.discriminator_optimizer.state_dict(),
                                "generator_steps": self.generator_steps}}

    def load_state_dict(self, state: dict) -> None:
        own = state["relaxed_gan"]
        self.generator_optimizer.load_state_dict(own["generator_optimizer"])
        self.discriminator_optimizer.load_state_dict(own["discriminator_optimizer"])
        self.generator_steps = int(own["generator_steps"])
