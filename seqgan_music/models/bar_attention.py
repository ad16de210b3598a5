"""Attention over the tune's earlier bars, with copying: a pointer-generator at the scale of bars.

Folk tunes repeat whole bars: bar 5 of a strain often equals bar 1, the B strain echoes the A. The
lookback inputs show an LSTM the tokens a few fixed bars back, but to write a bar again it must
choose each of its steps right in a row, and sampling loses most exact repeats. Here, for the
position predicted at offset k of the current bar, every earlier bar j of the tune is a candidate
that offers its own token at offset k. A candidate is scored by content (a query from the LSTM's
output now against a key from its output when bar j began), by its distance in bars, by whether it
is the same bar of the previous part, and by how many steps of the current bar so far equal bar j's
(the match length: once a bar is being copied, the copy goes on). A "write new" score competes in
the same softmax, and the next token's distribution mixes the LSTM's with the candidates' tokens:

    p(x) = a_new softmax(logits)(x) + sum_j a_j [v_j == x]

It is a proper distribution over the vocabulary, so whatever reads logits (sampling, likelihood,
rollouts, policy gradients) reads log p(x) unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional

from seqgan_music.models.lookback import MAX_STEP_IN_BAR, BarView, take

MAX_BARS = 64  # the bars a tune holds (corpora.tunes.MAX_TUNE_BARS); later bars are not attended
MAX_DISTANCE = 32  # bars back; farther bars share one distance bias
MAX_MATCH = MAX_STEP_IN_BAR  # matched steps counted; a longer match shares one bias
BROKEN = MAX_MATCH + 1  # the match index of a bar that differs from the current bar so far
ATTENTION_DIM = 64  # query and key size (at most the LSTM's hidden size)
MATCH_BUDGET = 1 << 22  # elements of one comparison of steps against every bar (teacher forcing runs in chunks)


class BarMemory(NamedTuple):
    """The key of every bar begun so far (B, MAX_BARS, D); zeros for bars not begun."""

    keys: Tensor

    def map(self, function: Callable[[Tensor], Tensor]) -> BarMemory:
        """The memory with `function` applied to its field (index rows, expand, move to a device)."""
        return BarMemory(function(self.keys))


class Candidates(NamedTuple):
    """What each earlier bar offers the predicted positions, each (B, S, MAX_BARS)."""

    values: Tensor  # the token at the same offset in bar j; -1 where bar j offers none
    match: Tensor  # steps of the current bar so far equal to bar j's (clipped at MAX_MATCH), BROKEN if not
    distance: Tensor  # bars back, clipped to 1..MAX_DISTANCE
    same_in_part: Tensor  # bar j is the same bar of the previous part


def candidates(view: BarView) -> Candidates:
    """The candidates of every earlier complete bar for the positions in `view` (B, S).

    Bar j runs from its BAR up to and including the next BAR (as in lookback); the current bar is
    the one the last BAR opened, and only bars before it are candidates. The match length compares
    the current bar's steps so far with bar j's, over at most MAX_MATCH steps."""
    position, bars = view.position.unsqueeze(-1), view.bars.unsqueeze(-1)  # (B, S, 1)
    numbers = torch.arange(MAX_BARS, device=position.device)  # (M,)

    def bar_at(number: Tensor) -> Tensor:  # where BAR `number` is, -1 if it is not among the consumed
        number = number.expand(*position.shape[:-1], number.shape[-1])  # (B, S, k)
        return torch.where((number >= 0) & (number < bars), take(view.bar_positions, number), -1)

    current = bars - 1  # (B, S, 1): the bar the last BAR opened
    opened = bar_at(current)  # (B, S, 1)
    offset = position - opened  # 1 right after the BAR
    start, end = bar_at(numbers), bar_at(numbers + 1)  # (B, S, M)
    aligned = start + offset
    offers = (numbers < current) & (opened >= 0) & (aligned <= end)
    values = torch.where(offers, take(view.history, aligned), -1)
    broken = torch.zeros_like(offers)
    longest = min(int(offset.max()) - 1, MAX_MATCH) if offset.numel() else 0
    chunk = max(1, MATCH_BUDGET // max(1, offers.numel()))  # steps compared at once: all of them when stepping
    for first in range(1, longest + 1, chunk):
        steps = torch.arange(first, min(first + chunk, longest + 1), device=position.device)  # (L,)
        inside = (steps < offset).unsqueeze(-2)  # (B, S, 1, L): these steps of the current bar are written
        here = take(view.history, opened + steps).unsqueeze(-2)  # (B, S, 1, L)
        at = start.unsqueeze(-1) + steps  # (B, S, M, L)
        there = take(view.history, at)
        broken |= (inside & ((there != here) | (at > end.unsqueeze(-1)))).any(dim=-1)
    match = torch.where(broken, BROKEN, (offset - 1).clamp(0, MAX_MATCH))
    distance = (current - numbers).clamp(1, MAX_DISTANCE)
    same_in_part = numbers == view.same_bar.unsqueeze(-1)
    return Candidates(values, match, distance, same_in_part)


class BarAttention(nn.Module):
    """Scores the earlier bars and mixes their offered tokens into the LSTM's distribution."""

    def __init__(self, hidden_dim: int, vocab_size: int) -> None:
        super().__init__()
        dim = min(ATTENTION_DIM, hidden_dim)
        self.vocab_size = vocab_size
        self.query = nn.Linear(hidden_dim, dim)
        self.key = nn.Linear(hidden_dim, dim)
        self.new = nn.Linear(hidden_dim, 1)  # the score of writing a new token
        self.distance_bias = nn.Embedding(MAX_DISTANCE + 1, 1)
        self.match_bias = nn.Embedding(BROKEN + 1, 1)
        self.part_bias = nn.Parameter(torch.zeros(1))
        self.sharpness = 1.0  # scales the scores of writing new and of each bar when sampling

    def empty_memory(self, batch: int, like: Tensor) -> BarMemory:
        """No bar begun yet: zero keys in `like`'s device and dtype."""
        return BarMemory(like.new_zeros((batch, MAX_BARS, self.key.out_features)))

    def remember(self, memory: BarMemory, out: Tensor, consumed: Tensor, bar: int, bars: Tensor) -> BarMemory:
        """The memory once each row consumed its token (B,) and the LSTM gave `out` (B, H): a bar line
        opens bar number `bars` - 1 (bars: (B,), counted after it), whose key is taken now."""
        opens = (consumed == bar) & (bars >= 1) & (bars <= MAX_BARS)  # (B,)
        slot = (bars - 1).clamp(0, MAX_BARS - 1)
        rows = torch.arange(len(slot), device=slot.device)
        keys = memory.keys.clone()
        keys[rows, slot] = torch.where(opens.unsqueeze(1), self.key(out), keys[rows, slot])
        return BarMemory(keys)

    def memory_along(self, outs: Tensor, view: BarView) -> BarMemory:
        """The memory after a teacher-forced pass: outs (B, n + 1, H) (outs[:, i] after i consumed tokens),
        `view` of the same pass; the key of bar j is the output right after its BAR was consumed."""
        total = view.bars[:, -1:]  # (B, 1): BARs in the whole pass
        numbers = torch.arange(MAX_BARS, device=outs.device).unsqueeze(0)  # (1, M)
        where = take(view.bar_positions, numbers.expand(len(total), -1)) + 1  # (B, M)
        keys = self.key(outs).gather(1, where.clamp(max=outs.shape[1] - 1).unsqueeze(-1).expand(
            -1, -1, self.key.out_features))  # (B, M, D)
        return BarMemory(keys * (numbers < total).unsqueeze(-1).to(keys.dtype))

    def mix(self, logits: Tensor, outs: Tensor, memory: BarMemory, view: BarView) -> Tensor:
        """log p(x) (B, S, V) of the mixture, from the LSTM's logits (B, S, V) and outputs (B, S, H)."""
        found = candidates(view)
        content = torch.matmul(self.query(outs), memory.keys.transpose(1, 2)) / math.sqrt(self.key.out_features)
        scores = (content + self.distance_bias(found.distance).squeeze(-1) + self.match_bias(found.match).squeeze(-1)
                  + self.part_bias * found.same_in_part)  # (B, S, M)
        offered = found.values >= 0
        scores = scores.masked_fill(~offered, float("-inf"))
        choice = torch.cat([self.new(outs), scores], dim=-1)  # (B, S, 1 + M)
        weights = functional.log_softmax(choice * self.sharpness if self.sharpness != 1.0 else choice, dim=-1)
        written = functional.log_softmax(logits, dim=-1) + weights[..., :1]  # (B, S, V)
        copied = torch.zeros_like(written).scatter_add(-1, found.values.clamp(min=0),
                                                       weights[..., 1:].exp() * offered)
        has = copied > 0  # log only where a candidate offers the token, so no gradient meets log(0)
        copied = torch.where(has, torch.log(torch.where(has, copied, torch.ones_like(copied))), float("-inf"))
        return torch.logaddexp(written, copied)
