"""The discriminator's feature vector of every prefix of a sequence, without running D once per prefix.

D pools each filter's window values by their maximum over the sequence; a prefix of t tokens is the
sequence with every position from t on empty (zero embeddings, `discriminator.EMPTY`). For a filter
of width w, the windows of a t-token prefix are of three kinds:
- full (start p <= t - w): the same value as in the whole sequence, and full in every longer prefix;
- mixed (t - w < p < t): their first k = t - p taps see tokens, the rest zeros: the filter cut to its
  first k taps, at p;
- empty (p >= t): the filter's bias.
So f_t needs the running maximum over full windows (a cumulative max over the whole sequence, or one
new window per step when writing), at most w - 1 mixed windows, and the bias: O(w^2) per position
instead of D over the whole padded length for each prefix. Both ways below give D's own
`highway_features` of the padded prefix (up to rounding).
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqgan_music.models.discriminator import EMPTY, Discriminator


def padded_to(tokens: Tensor, length: int) -> Tensor:
    """Tokens (B, n), n <= length, followed by EMPTY up to `length`."""
    padded = tokens.new_full((tokens.shape[0], length), EMPTY)
    padded[:, :tokens.shape[1]] = tokens
    return padded


def features_along(discriminator: Discriminator, tokens: Tensor) -> tuple[Tensor, Tensor]:
    """f_0 .. f_n (B, n + 1, F): D's feature vector of each prefix of `tokens` (B, n), padded to D's
    length; and the running max over the windows the n tokens fill (B, F), as `features_step` keeps it.

    Each filter's taps meet each token once (one matrix product, as much work as D's own convolution);
    a window's value with its first k taps on tokens is then a cumulative sum along the taps."""
    length, count = discriminator.length, tokens.shape[1]
    embedded = discriminator.embed(padded_to(tokens, length))  # (B, E, L)
    steps = torch.arange(count + 1, device=tokens.device)  # prefix lengths t
    pooled, maxima = [], []
    for conv in discriminator.convs:
        width, last = conv.kernel_size[0], length - conv.kernel_size[0]  # last: the last window's start
        taps = torch.einsum("bel,cej->bcjl", embedded, conv.weight)  # (B, C, w, L): tap j on position l
        # sums[:, :, k - 1, p]: the window at p with its first k taps on tokens, the rest on nothing
        sums = torch.stack([taps[:, :, j, j:j + last + 1] for j in range(width)], dim=2).cumsum(dim=2)
        sums = sums + conv.bias.view(1, -1, 1, 1)  # (B, C, w, last + 1)
        full = torch.cummax(sums[:, :, -1], dim=2).values  # (B, C, last + 1): max over full windows up to p
        best = full.new_full((*full.shape[:2], count + 1), float("-inf"))  # (B, C, n + 1)
        filled = steps >= width
        best[:, :, filled] = full[:, :, steps[filled] - width]
        maxima.append(best[:, :, -1].clone())
        for taps_on in range(1, width):  # the mixed window that starts `taps_on` tokens before t
            starts = steps - taps_on
            there = (starts >= 0) & (starts <= last)
            best[:, :, there] = torch.maximum(best[:, :, there], sums[:, :, taps_on - 1, starts[there]])
        empty = steps <= last
        best[:, :, empty] = torch.maximum(best[:, :, empty], conv.bias.view(1, -1, 1))
        pooled.append(torch.relu(best))
    return discriminator.highway(torch.cat(pooled, dim=1).transpose(1, 2)), torch.cat(maxima, dim=1)


def initial_running_max(discriminator: Discriminator, batch: int) -> Tensor:
    """No full window yet: -inf for every filter (B, F)."""
    weight = discriminator.highway_gate.weight
    return weight.new_full((batch, weight.shape[1]), float("-inf"))


def features_step(discriminator: Discriminator, prefix: Tensor, written: int,
                  running: Tensor) -> tuple[Tensor, Tensor]:
    """f_t (B, F) of a prefix (B, D's length) holding `written` = t tokens (EMPTY after them), and the
    running max over full windows (B, F) with the window that the t-th token filled folded in."""
    length, features, maxima, offset = discriminator.length, [], [], 0
    for conv in discriminator.convs:
        width, channels = conv.kernel_size[0], conv.out_channels
        last = length - width
        best = running[:, offset:offset + channels]
        first, stop = max(0, written - width), min(written - 1, last)  # the windows holding the t-th token
        candidates = []
        if first <= stop:
            values = conv(discriminator.embed(prefix[:, first:stop + width]))  # (B, C, stop - first + 1)
            if written >= width:  # the window that starts at t - w is full from now on
                best = torch.maximum(best, values[:, :, 0])
                values = values[:, :, 1:]
            if values.shape[2]:
                candidates.append(values.amax(dim=2))
        if written <= last:
            candidates.append(conv.bias.expand_as(best))
        pooled = best
        for candidate in candidates:
            pooled = torch.maximum(pooled, candidate)
        features.append(torch.relu(pooled))
        maxima.append(best)
        offset += channels
    return discriminator.highway(torch.cat(features, dim=1)), torch.cat(maxima, dim=1)
