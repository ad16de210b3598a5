"""Gumbel-softmax GAN (Kusner and Hernández-Lobato 2016): the SeqGAN setup with the reinforcement
learning replaced by the Gumbel-softmax. D reads softmax(beta * (log p + g)) for each drawn token,
beta rising to `gumbel.beta_max` by `gumbel.schedule` (RelGAN's annealing), and the standard GAN
loss is back-propagated through it into the generator."""

from __future__ import annotations

import torch

from seqgan_music.training.methods.relaxed_gan import RelaxedGAN
from seqgan_music.training.relaxed_sequences import RelaxedSequences, beta_at, relaxed_sequences


class GumbelRelaxedGAN(RelaxedGAN):
    """A relaxed-token GAN whose batches are Gumbel-softmax samples (gsgan, relgan)."""

    sections = ("relaxed_gan", "gumbel")

    def beta(self) -> float:
        settings = self.config.gumbel
        return beta_at(settings.schedule, settings.beta_max, self.generator_steps, self.total_generator_steps())

    def relaxed_batch(self, noise: torch.Generator) -> RelaxedSequences:
        trainer = self.trainer
        return relaxed_sequences(trainer.generator, self.config.adversarial.batch_size, trainer.length, self.beta(),
                                 noise, gumbel=True, straight_through=self.config.gumbel.straight_through)

    def generator_step(self) -> dict:
        beta = self.beta()
        return {**super().generator_step(), "beta": beta}


class GSGAN(GumbelRelaxedGAN):
    name = "gsgan"
    label = "GSGAN"
    summary = "Gumbel-softmax GAN: D's loss back-propagated through relaxed tokens, no reinforcement learning"
    loss = "standard"
