"""The kernel maximum mean discrepancy (Gretton et al. 2012) between two sets of feature vectors: what
TextGAN's generator minimises between D's features of real and of generated sequences.

MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y) under a sum of Gaussian kernels; zero when the two sets
hold the same vectors, larger the further apart their distributions lie. The estimate is the biased
one (every pair, a point with itself included), as TextGAN's code takes it: never negative, and
exactly zero for identical sets.

Each bandwidth is a multiple of the median distance between the pooled vectors of both sets, taken
without gradient (Gretton et al.'s median heuristic). TextGAN's fixed bandwidths suit its features,
bounded by a tanh; D's features here are unbounded and change scale as D trains, and a fixed
bandwidth far from their distances gives kernels of 0 or 1 everywhere, and no gradient.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

_SMALLEST_SQUARED_DISTANCE = 1e-12  # the median of identical vectors is 0: a kernel over it must stay defined


def squared_distances(x: Tensor, y: Tensor) -> Tensor:
    """|x_i - y_j|^2 (N, M) for rows of x (N, F) and y (M, F); smooth at zero distance, unlike cdist."""
    return (x.square().sum(1, keepdim=True) + y.square().sum(1).unsqueeze(0) - 2.0 * x @ y.T).clamp(min=0.0)


def mmd_squared(x: Tensor, y: Tensor, bandwidths: Sequence[float]) -> Tensor:
    """The biased MMD^2 between feature sets x (N, F) and y (M, F) under the sum over `bandwidths` c
    of the Gaussian kernels exp(-|a - b|^2 / (2 (c m)^2)), m the median distance of the pooled set.
    Symmetric in x and y; differentiable in both."""
    if not bandwidths or min(bandwidths) <= 0:
        raise ValueError(f"bandwidths must be one or more numbers > 0, got {list(bandwidths)}")
    pooled = torch.cat([x, y])  # (N + M, F)
    distances = squared_distances(pooled, pooled)  # (N + M, N + M)
    pairs = torch.triu_indices(len(pooled), len(pooled), offset=1, device=pooled.device)
    median = distances.detach()[pairs[0], pairs[1]].median().clamp(min=_SMALLEST_SQUARED_DISTANCE)
    n = len(x)
    within_x, within_y, across = distances[:n, :n], distances[n:, n:], distances[:n, n:]
    total = pooled.new_zeros(())
    for bandwidth in bandwidths:
        scale = 2.0 * bandwidth**2 * median
        total = total + (torch.exp(-within_x / scale).mean() + torch.exp(-within_y / scale).mean()
                         - 2.0 * torch.exp(-across / scale).mean())
    return total
