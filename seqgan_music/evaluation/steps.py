"""Music windows as time steps: the tokens that take time, in order, without bar lines or padding.

In both music encodings a time step is a pitch token, HOLD, REST (or any other token that is not
BAR or <pad>); <end> ends the window. The MSE, the music statistics and the novelty measures all
read windows this way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seqgan_music.corpora.encodings import BAR
from seqgan_music.corpora.vocabulary import END, PAD


def step_tokens(windows: np.ndarray, symbols: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token windows (N, T) -> each window's step tokens moved to the front (N, T) and their counts (N,).

    Entries at or after a row's count are leftovers and must be ignored.
    """
    windows = np.asarray(windows, dtype=np.int64)
    if windows.ndim != 2:
        raise ValueError(f"windows must be (N, T) token ids, got shape {windows.shape}")
    takes_no_step = np.array([s in (BAR, PAD) for s in symbols])
    if END in symbols:
        ended = np.cumsum(windows == list(symbols).index(END), axis=1) > 0  # (N, T) at or after <end>
    else:
        ended = np.zeros(windows.shape, dtype=bool)
    steps = ~takes_no_step[windows] & ~ended  # (N, T)
    order = np.argsort(~steps, axis=1, kind="stable")  # each row's steps first, in their order
    return np.take_along_axis(windows, order, axis=1), steps.sum(axis=1)
