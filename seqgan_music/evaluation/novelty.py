"""Novelty: how much generated music is new, and the longest stretch copied verbatim from training.

Windows are read as time steps (see steps.py). A k-step fragment of a generated window is new when
no training window holds the same k steps in a row; novelty-k is the share of the generated
fragments that are new (8 and 16 steps: two bars of 4/4 at the sixteenth grid are 32 steps, so 8
and 16 are half a bar and a bar). The longest copy of a generated window is the most consecutive
steps of it that appear verbatim in one training window (fragments spanning two training windows
are not searched).

Fragments are compared exactly, as byte strings of their token ids. The longest copy is found by a
binary search on the length per window (a window holding a copied run of k steps holds one of
every shorter length), with the training fragments of each length probed built once and shared.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from seqgan_music.evaluation.steps import step_tokens

FRAGMENT_LENGTHS = (8, 16)


class TrainingFragments:
    """The training windows as step sequences, with their k-step fragments built per k on demand."""

    def __init__(self, windows: np.ndarray, symbols: Sequence[str]) -> None:
        self.symbols = symbols
        self.steps, self.counts = step_tokens(windows, symbols)  # (N, T), (N,)
        self._fragments: dict[int, np.ndarray] = {}

    def fragments(self, k: int) -> np.ndarray:
        """The sorted distinct k-step fragments of the training windows, as byte keys."""
        if k not in self._fragments:
            self._fragments[k] = np.unique(_fragment_keys(self.steps, self.counts, k)[0])
        return self._fragments[k]


def novelty(generated: np.ndarray, training: TrainingFragments, k: int) -> float:
    """The share of the generated windows' k-step fragments that no training window holds (NaN: none)."""
    steps, counts = step_tokens(generated, training.symbols)
    keys, _ = _fragment_keys(steps, counts, k)
    return float(1.0 - _present(keys, training.fragments(k)).mean()) if len(keys) else float("nan")


def longest_copies(generated: np.ndarray, training: TrainingFragments) -> np.ndarray:
    """(N,) per generated window, the most consecutive steps found verbatim in one training window."""
    steps, counts = step_tokens(generated, training.symbols)
    low = np.zeros(len(steps), dtype=np.int64)  # a copy of this length is known to exist
    high = np.minimum(counts, int(training.counts.max(initial=0)))  # no copy can be longer
    while (active := np.flatnonzero(low < high)).size:
        middle = (low[active] + high[active] + 1) // 2
        for k in np.unique(middle):
            rows = active[middle == k]
            keys, owner = _fragment_keys(steps[rows], counts[rows], int(k))
            found = np.zeros(len(rows), dtype=bool)
            found[owner[_present(keys, training.fragments(int(k)))]] = True
            low[rows[found]] = k
            high[rows[~found]] = k - 1
    return low


def _fragment_keys(steps: np.ndarray, counts: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every k-step fragment lying inside its row's steps, as a byte key (M,), and its row (M,)."""
    if k < 1:
        raise ValueError(f"fragment length must be >= 1, got {k}")
    if steps.shape[1] < k:
        return np.empty(0, dtype=np.dtype((np.void, 4 * k))), np.empty(0, dtype=np.int64)
    windows = sliding_window_view(steps, k, axis=1)  # (N, W, k)
    inside = np.arange(windows.shape[1])[None, :] + k <= counts[:, None]  # (N, W)
    fragments = np.ascontiguousarray(windows[inside].astype(np.int32))  # (M, k)
    return fragments.view(np.dtype((np.void, 4 * k))).reshape(-1), np.nonzero(inside)[0]


def _present(keys: np.ndarray, known: np.ndarray) -> np.ndarray:
    """(M,) whether each key is among the sorted distinct `known` keys."""
    if len(keys) == 0 or len(known) == 0:
        return np.zeros(len(keys), dtype=bool)
    distinct, inverse = np.unique(np.concatenate([known, keys]), return_inverse=True)
    seen = np.zeros(len(distinct), dtype=bool)
    seen[inverse[:len(known)]] = True
    return seen[inverse[len(known):]]
