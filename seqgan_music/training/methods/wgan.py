"""WGAN-GP on text (Gulrajani et al. 2017's language model; Rajeswar et al. 2017; Press et al. 2017):
a critic scores the generator's softmax outputs against the one-hot rows of real sequences, and the
Wasserstein loss, with the gradient penalty at interpolates between the two, is back-propagated
through the softmax into the generator. No sampling step stands in the way: the critic reads the
distributions p_t themselves (relaxed_sequences with gumbel=False and beta 1), never a drawn token.

What the papers leave open for an autoregressive LSTM generator, decided here:
- The generator is fed the token drawn from each p_t (as every relaxed method here is), so the
  critic reads the softmax outputs along a path the generator really samples. Gulrajani et al.'s
  generator emits all T softmaxes at once from noise and has no input to choose.
- The critic is the SeqGAN CNN without dropout, whatever `discriminator.dropout_keep` says: with
  dropout the critic would be a different random function at every call, and the penalty would
  hold one of them to the 1-Lipschitz constraint while the loss reads another. Its output is the
  logit itself, unbounded, with no sigmoid; it has no batch normalisation (WGAN-GP's critics have
  none) and, as in every relaxed method, no L2 term (`discriminator.l2` is not read).
- The critic's embedding, the linear map of the V-dimensional rows it reads, is drawn as a linear
  layer over V inputs is (U(+-1/sqrt(V)), PyTorch's default), not as SeqGAN's reference draws it
  (U(-1, 1)). With the reference's, the critic starts far from 1-Lipschitz: measured on the oracle
  (V = 5,000), a first gradient penalty of 7,780 (a gradient norm of 88 at the interpolates), still
  119 after 30 rounds of 5 critic steps, the critic ranking every real sequence above every
  generated one and then below it in alternate rounds; with this one the first penalty is about 1.
- WGAN-GP's optimiser: Adam at 1e-4 (`relaxed_gan` learning rates) with betas (0.5, 0.9), and
  `adversarial.d_steps` critic steps per generator step (its default 5 is WGAN-GP's n_critic).
- MLE pre-training first, no D pre-training (as every relaxed method here). The papers train from
  scratch; Press et al.'s curriculum over sequence lengths and their teacher helping are out of scope.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from seqgan_music.config import Config
from seqgan_music.corpora.corpus import Corpus
from seqgan_music.training.methods.relaxed_gan import RelaxedGAN
from seqgan_music.training.relaxed_sequences import RelaxedSequences, relaxed_sequences

if TYPE_CHECKING:
    from seqgan_music.training.trainer import Trainer

ADAM_BETAS = (0.5, 0.9)  # Gulrajani et al. 2017, for the critic and the generator alike


class WGAN(RelaxedGAN):
    name = "wgan"
    label = "WGAN-GP"
    summary = "WGAN-GP on text: a critic over the generator's softmax outputs, with a gradient penalty at interpolates"
    loss = "wasserstein"

    @classmethod
    def build_discriminator(cls, corpus: Corpus, config: Config, length: int) -> nn.Module:
        critic = super().build_discriminator(corpus, config, length)
        critic.dropout.p = 0.0  # one deterministic function for the loss and the penalty alike
        bound = 1.0 / math.sqrt(critic.embedding.num_embeddings)  # a linear layer's over V inputs
        nn.init.uniform_(critic.embedding.weight, -bound, bound)
        return critic

    def __init__(self, trainer: Trainer) -> None:
        super().__init__(trainer)
        for optimizer in (self.generator_optimizer, self.discriminator_optimizer):
            for group in optimizer.param_groups:
                group["betas"] = ADAM_BETAS

    def relaxed_batch(self, noise: torch.Generator) -> RelaxedSequences:
        trainer = self.trainer
        return relaxed_sequences(trainer.generator, self.config.adversarial.batch_size, trainer.length, 1.0, noise,
                                 gumbel=False)
