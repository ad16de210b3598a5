"""The GAN losses the relaxed-token methods choose from, as functions of D's logits on a batch of
real and a batch of generated sequences, and the WGAN-GP gradient penalty.

"standard": the original GAN's (D by cross-entropy, G by the non-saturating -log D(fake));
"relativistic": the relativistic standard GAN (Jolicoeur-Martineau 2019; RelGAN's default), where
D judges whether real data is more realistic than generated, pair by pair; "hinge" (Lim and Ye
2017; Miyato et al. 2018); "wasserstein": the critic's difference of means (Arjovsky et al. 2017),
with the gradient penalty of Gulrajani et al. 2017 added by the caller.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional

LOSSES: tuple[str, ...] = ("standard", "relativistic", "hinge", "wasserstein")


def discriminator_loss(kind: str, real: Tensor, fake: Tensor) -> Tensor:
    """D's loss for logits (B,) of real and of generated sequences (lower is a better D)."""
    if kind == "standard":
        return functional.softplus(-real).mean() + functional.softplus(fake).mean()
    if kind == "relativistic":
        return functional.softplus(-(real - fake)).mean()
    if kind == "hinge":
        return torch.relu(1.0 - real).mean() + torch.relu(1.0 + fake).mean()
    if kind == "wasserstein":
        return fake.mean() - real.mean()
    raise ValueError(f"unknown GAN loss {kind!r}: one of {', '.join(LOSSES)}")


def generator_loss(kind: str, real: Tensor, fake: Tensor) -> Tensor:
    """The generator's loss for the same logits (only `fake` carries its gradient)."""
    if kind == "standard":
        return functional.softplus(-fake).mean()
    if kind == "relativistic":
        return functional.softplus(-(fake - real)).mean()
    if kind in ("hinge", "wasserstein"):
        return -fake.mean()
    raise ValueError(f"unknown GAN loss {kind!r}: one of {', '.join(LOSSES)}")


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                     noise: torch.Generator | None) -> Tensor:
    """Mean over the batch of (||grad_x critic(x)|| - 1)^2 at x = e * real + (1 - e) * fake, one
    uniform e per sequence: the 1-Lipschitz constraint of WGAN-GP, taken where it matters, between
    the real and the generated sequences (B, T, V), not at either."""
    mix = torch.rand((real.shape[0], *([1] * (real.ndim - 1))), generator=noise, device=real.device, dtype=real.dtype)
    interpolates = (mix * real + (1.0 - mix) * fake.detach()).requires_grad_(True)
    gradients, = torch.autograd.grad(critic(interpolates).sum(), interpolates, create_graph=True)
    return (gradients.flatten(1).norm(dim=1) - 1.0).square().mean()
