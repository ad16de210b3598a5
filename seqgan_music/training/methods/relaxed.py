"""REBAR and RELAX as a training method (the ReGAN setup): each generator step draws sequences whose
every token is the argmax of a Gumbel-perturbed relaxation, rewards them with D, and follows the
REBAR / RELAX estimate, while the control variate takes a step down the estimate's variance.

As in ReGAN, the relaxation is per token with the LSTM fed the discrete tokens. The control is
per token by default (`relaxation.control = "token"`, unbiased); "sequence" is ReGAN's single
control over the whole relaxed sequence, biased for this autoregressive generator (estimators.py).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor

from seqgan_music.config import AdversarialConfig, Config, RelaxationConfig
from seqgan_music.models.discriminator import Discriminator
from seqgan_music.models.generator import Generator
from seqgan_music.training.estimators import (
    ControlVariate,
    SequenceResidual,
    control_variate_step,
    relax_sequences,
    relaxed_loss,
    sample_relaxed,
)
from seqgan_music.training.methods.base import AdversarialMethod
from seqgan_music.training.model_sizes import ModelSizes, control_variate_parameters

if TYPE_CHECKING:
    from seqgan_music.training.trainer import Trainer


class RelaxedEstimator:
    """The control variate of `rebar` (lambda and eta) or `relax` (plus r_phi) and its optimizer."""

    def __init__(self, learned_residual: bool, vocab_size: int, settings: RelaxationConfig,
                 device: torch.device) -> None:
        residual = SequenceResidual(vocab_size, settings.residual_hidden) if learned_residual else None
        self.control = ControlVariate(settings.temperature, settings.scale, settings.learn_temperature,
                                      settings.learn_scale, residual, per_token=settings.control == "token").to(device)
        trainable = [p for p in self.control.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(trainable, lr=settings.learning_rate) if trainable else None

    def state_dict(self) -> dict:
        return {"control": self.control.state_dict(),
                "optimizer": self.optimizer.state_dict() if self.optimizer else {}}

    def load_state_dict(self, state: dict) -> None:
        self.control.load_state_dict(state["control"])
        if self.optimizer is not None:
            self.optimizer.load_state_dict(state["optimizer"])

    def step(self, loss: Tensor, parameters: list[Tensor]) -> dict[str, float]:
        """Write the estimate into the generator's .grad and step the control down its variance."""
        if self.optimizer is not None:
            squared = control_variate_step(loss, parameters, self.optimizer)
        else:
            loss.backward(inputs=parameters)
            squared = float(torch.cat([p.grad.flatten() for p in parameters]).square().mean())
        # ln of the estimate's mean square: what the control lowers (its variance plus the squared
        # mean, which the control cannot change)
        return {"log_gradient_square": math.log(max(squared, 1e-300)), "temperature": self.control.temperature,
                "scale": float(self.control.scale.detach())}


def relaxed_surrogate(generator: Generator, discriminator: Discriminator, estimator: RelaxedEstimator, length: int,
                      settings: AdversarialConfig, sampling: torch.Generator) -> tuple[Tensor, dict[str, float]]:
    """Draw relaxed sequences and reward them with D: the REBAR / RELAX loss and what to log.

    D runs in eval mode (no dropout: the reward and the control must score the same function) and
    stays in the graph of the loss, which `RelaxedEstimator.step` differentiates for the generator only.
    """
    tokens, noise = sample_relaxed(generator, settings.batch_size, length, sampling)  # (B, T)
    mode = discriminator.training
    discriminator.eval()
    try:
        with torch.no_grad():
            rewards = discriminator.probability_real(tokens).float()  # (B,)
        generator.train()
        relaxation = relax_sequences(generator, tokens, noise)
        loss = relaxed_loss(relaxation, rewards, discriminator.probability_real, estimator.control)
    finally:
        discriminator.train(mode)
    return loss, {"g_loss": float(loss.detach()), "mean_reward": float(rewards.mean())}


class Rebar(AdversarialMethod):
    """REBAR (Tucker et al. 2017) in the ReGAN setup: the control's temperature and scale may learn."""

    name = "rebar"
    label = "REBAR"
    summary = "REBAR: REINFORCE with a Gumbel-softmax control variate (the ReGAN setup)"
    sections = ("relaxation",)
    learned_residual: ClassVar[bool] = False

    @classmethod
    def distributed_refusal(cls, config: Config) -> str:
        return "its control variate steps outside the shared update, so the processes would drift apart"

    @classmethod
    def model_sizes(cls, config: Config, vocab_size: int, length: int) -> ModelSizes:
        standard = super().model_sizes(config, vocab_size, length)
        return standard._replace(own=control_variate_parameters(config, vocab_size, cls.learned_residual))

    def __init__(self, trainer: Trainer) -> None:
        super().__init__(trainer)
        self.estimator = RelaxedEstimator(self.learned_residual, len(trainer.corpus.vocabulary),
                                          self.config.relaxation, trainer.device)

    def surrogate(self, noise: torch.Generator, training: bool) -> tuple[Tensor, dict]:
        trainer = self.trainer
        return relaxed_surrogate(trainer.generator, trainer.discriminator, self.estimator, trainer.length,
                                 self.config.adversarial, noise)

    def generator_step(self) -> dict:
        """The estimate goes into the generator's gradients while the control steps down its variance."""
        loss, metrics = self.surrogate(self.trainer.sampling, training=True)
        parameters = list(self.trainer.generator.parameters())
        optimizer = self.trainer.optimizers["adversarial"]
        optimizer.zero_grad(set_to_none=True)
        metrics.update(self.estimator.step(loss, parameters))
        torch.nn.utils.clip_grad_norm_(parameters, self.config.adversarial.grad_clip)
        optimizer.step()
        return metrics

    def state_dict(self) -> dict:
        return {"relaxation": self.estimator.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.estimator.load_state_dict(state["relaxation"])


class Relax(Rebar):
    """RELAX (Grathwohl et al. 2018): REBAR's control plus a learned residual r_phi."""

    name = "relax"
    label = "RELAX"
    summary = "RELAX: REBAR's control variate plus a learned residual network"
    learned_residual = True
    size_settings = ("relaxation.residual_hidden",)
