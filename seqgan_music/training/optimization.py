"""The one optimizer step every parameter update takes (generators, discriminators, critics):
zero, backward, average the gradients across the ranks of a data-parallel job, clip, step."""

from __future__ import annotations

import torch
from torch import Tensor

from seqgan_music.training.distributed import synchronize_gradients


def descend(loss: Tensor, parameters: list[Tensor], optimizer: torch.optim.Optimizer, grad_clip: float | None,
            weight: float | Tensor = 1.0) -> None:
    """One optimizer step down `loss` for `parameters` only (a discriminator in the graph keeps its
    gradients untouched), the gradient norm clipped to `grad_clip` (None: not clipped).

    With several processes (training/distributed.py) the gradients are first averaged across them,
    each rank's weighted by `weight`: what its loss is a mean over (an MLE batch's counted tokens),
    so that the average is the gradient of the whole global batch's mean."""
    parameters = [p for p in parameters if p.requires_grad]  # a frozen one (a ranker's fixed gamma) takes none
    optimizer.zero_grad(set_to_none=True)
    loss.backward(inputs=parameters)
    synchronize_gradients(parameters, weight)
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
    optimizer.step()
