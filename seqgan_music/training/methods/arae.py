"""ARAE (Zhao et al., ICML 2018, "Adversarially regularized autoencoders"; models/arae.py): GAN
training in the autoencoder's continuous code space, so no gradient has to pass a sampled token
and no reinforcement learning is needed.

The MLE phase trains the autoencoder alone (reconstruction NLL, the MLE settings). Each adversarial
round then takes, `adversarial.g_steps` times, ARAE's loop on a batch of `adversarial.batch_size`:
1. an autoencoder step: reconstruction NLL plus `arae.encoder_scale` times the critic's mean score of
   the real codes, so the encoder also moves real codes towards what the critic calls generated;
2. `adversarial.d_steps` critic steps, WGAN-GP: the Wasserstein loss on real (encoded) against
   generated codes with `arae.gradient_penalty` times the penalty at interpolates
   (training/adversarial_losses.py);
3. a code-generator step: minus the critic's mean score of generated codes.
Critic and code generator have Adam optimizers of their own (`arae` learning rates); the
autoencoder keeps the MLE phase's.

Not the authors' tricks: the encoder's adversarial gradient is added to the autoencoder step and
scaled by a constant (theirs is a separate step, its gradient rescaled to the autoencoder's norm),
real codes get no annealed noise, the autoencoder uses Adam instead of SGD at rate 1, and the
decoder reads the code only through its initial state.

Measured on the toy grammar (2,000 sequences of 15, hidden 32, 10 autoencoder epochs then 100
rounds): the teacher-forced decoder learns the grammar without the code, and the reconstruction
NLL stays at the data's entropy (0.647 nats per token) all run long, so the codes carry little of
each sequence; feeding the code at every decoder input as well did not change that within 8
epochs. On 16 sequences the same autoencoder does learn to reconstruct (0.04 after 300 steps).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from seqgan_music.config import Config
from seqgan_music.corpora.corpus import Corpus
from seqgan_music.errors import SeqganError
from seqgan_music.models.arae import ARAEGenerator, CodeCritic
from seqgan_music.phases import ADVERSARIAL, MLE
from seqgan_music.training.adversarial_losses import discriminator_loss, gradient_penalty
from seqgan_music.training.build import ban_for_unit, sequence_tokens
from seqgan_music.training.methods.base import Method, UnitRunner
from seqgan_music.training.methods.vae import loss_epoch, plain_lstm_shape
from seqgan_music.training.model_sizes import ModelSizes, arae_generator_parameters, code_critic_parameters
from seqgan_music.training.optimization import descend

if TYPE_CHECKING:
    from seqgan_music.training.trainer import Trainer

LOSS = "wasserstein"


class ARAE(Method):
    """Autoencoder epochs, then rounds of ARAE's autoencoder, critic and code-generator steps."""

    name = "arae"
    label = "ARAE"
    summary = ("ARAE (Zhao et al. 2018): a WGAN on an autoencoder's codes, samples decoded from generated codes; "
               "NLL_test is estimated from generated codes")
    phases = (MLE, ADVERSARIAL)
    sections = ("arae",)
    size_settings = ("arae.code_size", "arae.noise_size", "arae.mlp_hidden")

    @classmethod
    def build_generator(cls, corpus: Corpus, config: Config) -> ARAEGenerator:
        plain_lstm_shape(config, cls.name)
        shape, settings, vocabulary = config.generator, config.arae, corpus.vocabulary
        generator = ARAEGenerator(len(vocabulary), shape.embedding, shape.hidden, shape.layers, settings.code_size,
                                  settings.noise_size, settings.mlp_hidden, settings.nll_samples,
                                  **sequence_tokens(corpus))
        return ban_for_unit(generator, config, corpus)

    @classmethod
    def build_discriminator(cls, corpus: Corpus, config: Config, length: int) -> nn.Module:
        """The critic on codes (the run's discriminator, saved with it)."""
        return CodeCritic(config.arae.code_size, config.arae.mlp_hidden)

    @classmethod
    def model_sizes(cls, config: Config, vocab_size: int, length: int) -> ModelSizes:
        return ModelSizes(arae_generator_parameters(config, vocab_size), code_critic_parameters(config))

    def __init__(self, trainer: Trainer) -> None:
        super().__init__(trainer)
        if self.config.adversarial.variance_estimates:
            raise SeqganError("arae's generator step has no token-level gradient estimate to measure: "
                              "set adversarial.variance_estimates=0")
        settings = self.config.arae
        generator: ARAEGenerator = trainer.generator
        self.generator_optimizer = torch.optim.Adam(generator.code_generator.parameters(),
                                                    lr=settings.generator_learning_rate)
        self.critic_optimizer = torch.optim.Adam(trainer.discriminator.parameters(), lr=settings.critic_learning_rate)

    def unit_runners(self) -> dict[str, UnitRunner]:
        return {MLE.name: self.autoencoder_epoch, ADVERSARIAL.name: self.adversarial_round}

    def autoencoder_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.trainer.generator.named_parameters() if not name.startswith("code_generator.")]

    # ------------------------------------------------------------------ the MLE phase
    def autoencoder_epoch(self, unit: int) -> dict:
        generator: ARAEGenerator = self.trainer.generator
        generator.train()
        loss = loss_epoch(self.trainer, self.autoencoder_parameters(), generator.reconstruction_nll)
        return self.finish_mle_epoch(unit, {"g_loss": loss}, lambda: {"nll_samples": self.config.arae.nll_samples})

    # ------------------------------------------------------------------ the adversarial phase
    def real_batch(self) -> Tensor:
        """`adversarial.batch_size` training sequences (B, T) drawn with the run's sampling noise."""
        data, noise = self.trainer.train_data, self.trainer.sampling
        rows = torch.randint(len(data), (self.config.adversarial.batch_size,), generator=noise, device=noise.device)
        return data[rows.to(data.device)]

    def autoencoder_step(self) -> dict:
        trainer, settings = self.trainer, self.config
        generator: ARAEGenerator = trainer.generator
        real = self.real_batch()
        reconstruction = generator.reconstruction_nll(real)
        adversarial = trainer.discriminator(generator.encode(real)).mean()
        loss = reconstruction + settings.arae.encoder_scale * adversarial
        descend(loss, self.autoencoder_parameters(), trainer.optimizers["mle"], settings.mle.grad_clip)
        return {"reconstruction_nll": float(reconstruction.detach())}

    def critic_step(self) -> dict:
        """One WGAN-GP step of the critic: encoded real codes against generated ones."""
        trainer, settings = self.trainer, self.config
        generator: ARAEGenerator = trainer.generator
        critic = trainer.discriminator
        with torch.no_grad():
            real = generator.encode(self.real_batch())
            fake = generator.generated_codes(len(real), trainer.sampling)
        real_scores, fake_scores = critic(real), critic(fake)
        loss = discriminator_loss(LOSS, real_scores, fake_scores)
        metrics = {"d_loss": float(loss.detach())}
        if settings.arae.gradient_penalty > 0:
            penalty = gradient_penalty(critic, real, fake, trainer.sampling)
            loss = loss + settings.arae.gradient_penalty * penalty
            metrics["gradient_penalty"] = float(penalty.detach())
        descend(loss, list(critic.parameters()), self.critic_optimizer, settings.adversarial.grad_clip)
        return metrics

    def generator_step(self) -> dict:
        """One step of the code generator towards codes the critic scores as real."""
        trainer = self.trainer
        generator: ARAEGenerator = trainer.generator
        fake = generator.generated_codes(self.config.adversarial.batch_size, trainer.sampling)
        scores = trainer.discriminator(fake)
        loss = -scores.mean()  # the Wasserstein generator's loss
        descend(loss, list(generator.code_generator.parameters()), self.generator_optimizer,
                self.config.adversarial.grad_clip)
        return {"g_loss": float(loss.detach()), "code_norm": float(fake.detach().norm(dim=1).mean())}

    def adversarial_round(self, unit: int) -> dict:
        settings = self.config.adversarial
        self.trainer.generator.train()
        metrics: dict = {}
        for _ in range(settings.g_steps):
            metrics.update(self.autoencoder_step())
            for _ in range(settings.d_steps):
                metrics.update(self.critic_step())
            metrics.update(self.generator_step())
        if unit % settings.eval_every == 0 or unit == settings.rounds:
            metrics.update(self.trainer.evaluate(ADVERSARIAL, unit))
            metrics["nll_samples"] = self.config.arae.nll_samples
        return metrics

    def state_dict(self) -> dict:
        return {"arae": {"generator_optimizer": self.generator_optimizer.state_dict(),
                         "critic_optimizer": self.critic_optimizer.state_dict()}}

    def load_state_dict(self, state: dict) -> None:
        own = state["arae"]
        self.generator_optimizer.load_state_dict(own["generator_optimizer"])
        self.critic_optimizer.load_state_dict(own["critic_optimizer"])
