"""REBAR and RELAX as a training method (the ReGAN setup): each generator step draws sequences whose
every token is the argmax of a Gumbel-perturbed relaxation, rewards them with D, and follows the
REBAR / RELAX estimate, while the control variate takes a step down the estimate's variance.

As in ReGAN, the relaxation is per token with the LSTM fed the discrete tokens. The control is
per token by default (`relaxation.control = "token"`, unbiased); "sequence" is ReGAN's single
control over the whole relaxed sequence, biased for this autoregressive generator (estimators.py).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from seqgan_music.config import AdversarialConfig, RelaxationConfig
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


class RelaxedEstimator:
    """The control variate of `rebar` (lambda and eta) or `relax` (plus r_phi) and its optimizer."""

    def __init__(self, method: str, vocab_size: int, settings: RelaxationConfig, device: torch.device) -> None:
        residual = SequenceResidual(vocab_size, settings.residual_hidden) if method == "relax" else None
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
