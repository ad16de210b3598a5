"""Is run B better than run A? Welch's t-test and a permutation test on per-sample scores.

The SeqGAN paper reports p-values of Welch-style t-tests between methods' per-sample scores (BLEU
or NLL of each generated sequence). The permutation test makes no normality assumption: it shuffles
the pooled scores between the two groups and counts how often the difference of the means is at
least as large as the one observed (two-sided), with the (k + 1) / (m + 1) estimate of Phipson and
Smyth, which is never exactly 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

_CHUNK = 1_000  # permutations drawn at a time (bounds memory to chunk x samples indices)


@dataclass(frozen=True)
class Comparison:
    """Two groups of per-sample scores compared; `difference` is mean_b - mean_a."""

    count_a: int
    count_b: int
    mean_a: float
    mean_b: float
    difference: float
    welch_t: float
    welch_df: float
    welch_p: float
    permutation_p: float
    permutations: int


def compare(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, permutations: int = 10_000,
            seed: int = 0) -> Comparison:
    """Welch's t-test and a two-sided permutation test of mean(b) - mean(a); reproducible by `seed`."""
    first, second = _scores(a, "a"), _scores(b, "b")
    if permutations < 1:
        raise ValueError(f"permutations must be >= 1, got {permutations}")
    t, df, p = _welch(first, second)
    return Comparison(len(first), len(second), float(first.mean()), float(second.mean()),
                      float(second.mean() - first.mean()), t, df, p,
                      _permutation_p(first, second, permutations, seed), permutations)


def _scores(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    scores = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(scores) < 2:
        raise ValueError(f"group {name} needs at least two scores to compare, got {len(scores)}")
    if not np.isfinite(scores).all():
        raise ValueError(f"group {name} holds a score that is not a finite number")
    return scores


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(t, degrees of freedom, two-sided p). Two constant groups: p = 1 if equal, else 0."""
    if a.var() == 0 and b.var() == 0:
        same = a.mean() == b.mean()
        return (0.0 if same else math.copysign(math.inf, b.mean() - a.mean()),
                float(len(a) + len(b) - 2), 1.0 if same else 0.0)
    result = stats.ttest_ind(b, a, equal_var=False)
    return float(result.statistic), float(result.df), float(result.pvalue)


def _permutation_p(a: np.ndarray, b: np.ndarray, permutations: int, seed: int) -> float:
    pooled = np.concatenate([a, b])  # (N,)
    observed = abs(b.mean() - a.mean())
    tolerance = 1e-12 * max(1.0, float(np.abs(pooled).max()))  # ties of the mean difference count as extreme
    rng = np.random.default_rng(seed)
    extreme, done = 0, 0
    while done < permutations:
        count = min(_CHUNK, permutations - done)
        order = rng.permuted(np.broadcast_to(np.arange(len(pooled)), (count, len(pooled))), axis=1)  # (c, N)
        shuffled = pooled[order]
        difference = shuffled[:, len(a):].mean(axis=1) - shuffled[:, :len(a)].mean(axis=1)  # (c,)
        extreme += int((np.abs(difference) >= observed - tolerance).sum())
        done += count
    return (extreme + 1) / (permutations + 1)
