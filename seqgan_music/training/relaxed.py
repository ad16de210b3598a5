"""REBAR and RELAX as a training method (the ReGAN setup): each generator step draws sequences whose
every token is the argmax of a Gumbel-perturbed relaxation, rewards them with D, and follows the
REBAR / RELAX estimate, while the control variate takes a step down the estimate's variance.

As in ReGAN, the relaxation is per token with the LSTM fed the discrete tokens; for an
autoregressive generator that makes the pathwise term miss how earlier tokens move later
relaxations, so the estimate is biased for parameters that shape early tokens (see estimators.py).
"""

from __future__ import annotations

import math

import torch
from torch import nn

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
                                      settings.learn_scale, residual).to(device)
        trainable = [p for p in self.control.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(trainable, lr=settings.learning_rate) if trainable else None

    def state_dict(self) -> dict:
        return {"control": self.control.state_dict(),
                "optimizer": self.optimizer.state_dict() if self.optimizer else {}}

    def load_state_dict(self, state: dict) -> None:
        self.control.load_state_dict(state["control"])
        if self.optimizer is not None:
            self.optimizer.load_state_dict(state["optimizer"])


def relaxed_step(generator: Generator, optimizer: torch.optim.Optimizer, discriminator: Discriminator,
                 estimator: RelaxedEstimator, length: int, settings: AdversarialConfig,
                 sampling: torch.Generator) -> dict[str, float]:
    """One generator step along the REBAR / RELAX estimate, and one step of its control variate."""
    tokens, noise = sample_relaxed(generator, settings.batch_size, length, sampling)  # (B, T)
    modes = discriminator.training
    discriminator.eval()  # no dropout: the reward and the control must score the same function
    try:
        with torch.no_grad():
            rewards = discriminator.probability_real(tokens).float()  # (B,)
        generator.train()
        relaxation = relax_sequences(generator, tokens, noise)
        loss = relaxed_loss(relaxation, rewards, discriminator.probability_real, estimator.control)
        parameters = list(generator.parameters())
        optimizer.zero_grad(set_to_none=True)
        if estimator.optimizer is not None:
            squared = control_variate_step(loss, parameters, estimator.optimizer)
        else:
            loss.backward(inputs=parameters)
            squared = float(torch.cat([p.grad.flatten() for p in parameters]).square().mean())
    finally:
        discriminator.train(modes)
    nn.utils.clip_grad_norm_(generator.parameters(), settings.grad_clip)
    optimizer.step()
    # ln of the estimate's mean square: what the control variate is trained to lower (its variance
    # plus the squared mean, which the control cannot change)
    return {"g_loss": float(loss.detach()), "mean_reward": float(rewards.mean()),
            "log_gradient_square": math.log(max(squared, 1e-300)),
            "temperature": estimator.control.temperature, "scale": float(estimator.control.scale.detach())}
