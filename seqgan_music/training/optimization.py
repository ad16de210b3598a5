"""The one optimizer step every generator update takes: zero, backward, clip, step."""

from __future__ import annotations

import torch
from torch import Tensor


def descend(loss: Tensor, parameters: list[Tensor], optimizer: torch.optim.Optimizer, grad_clip: float) -> None:
    """One optimizer step down `loss` for `parameters` only (a discriminator in the graph keeps its
    gradients untouched), the gradient norm clipped to `grad_clip`."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward(inputs=parameters)
    torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
    optimizer.step()
