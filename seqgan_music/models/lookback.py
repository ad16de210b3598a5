"""Lookback inputs (Magenta's lookback RNN, at the scale of grid16 bars and tune parts).

A melody repeats: a folk tune's bar often equals the bar before it or the same bar of the previous
strain. An LSTM has to carry what happened a bar or a part ago through hundreds of steps; these
features hand it over directly. For the position i being predicted, from the consumed prefix
x_0..x_{i-1} (the start token is never part of it):

- `step_in_bar`: tokens since the last BAR (0 right after it), clipped at MAX_STEP_IN_BAR;
  STEP_NONE before the first BAR.
- `bar_in_part`: BARs since the last PART (0 in a part's pickup, 1 in its first bar), clipped at
  MAX_BAR_IN_PART; BAR_NONE before the first PART (and always in corpora without parts).
- `bars_back` (one per entry of `LookbackIds.bars_back`, (1, 2) by default; (1, 2, 4) reaches the
  repeat halfway through an 8-bar strain): the token at the same offset k = i - (last BAR) after
  the BAR that many bars earlier. The earlier bar runs up to and including the BAR that ends it,
  so k past its end (a longer bar now) gives `none`; so does a missing bar.
- `one_part`: the token at the same offset in the bar with the same index in the previous part
  (that bar runs up to the next BAR, or up to the current PART for the part's last bar); `none`
  in a pickup, in the first part, or when the previous part has fewer bars.
- `header` (`LookbackIds.header` tokens, none by default): the sequence's first tokens, a whole
  tune's meter, mode and type, once consumed; so the conditioning is read at every step rather
  than carried from the start through hundreds of steps.

ONE definition (`_features`), computed two ways that agree exactly:
- `features_along`: vectorised over a batch of whole prefixes (teacher forcing), from cumulative
  counts (cumsum), last positions (cummax) and gathers; no loop over rows or time.
- `advance` + `features`: step by step (sampling, rollouts) from a `LookbackState` per row, which
  holds the tokens consumed so far and the positions of their BARs plus a few counters.
Both derive the same quantities (the count and positions of the BARs, the last two PARTs and the
BARs before them) and hand them to `_features`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

MAX_STEP_IN_BAR = 32  # a 12/8 bar is 24 sixteenths; longer offsets share one value
MAX_BAR_IN_PART = 32  # strains are 4-16 bars; a free tune's long single part shares one value
STEP_NONE = MAX_STEP_IN_BAR + 1  # no BAR yet
BAR_NONE = MAX_BAR_IN_PART + 1  # no PART yet (or a corpus without parts)
STEP_VALUES = STEP_NONE + 1  # embedding rows for step_in_bar
BAR_VALUES = BAR_NONE + 1  # embedding rows for bar_in_part
INITIAL_CAPACITY = 64  # tokens a fresh state holds before it grows (doubling)


@dataclass(frozen=True)
class LookbackIds:
    """The ids lookback reads and writes: the bar line, the part token (None: the corpus has no
    parts, so part features are always none) and the id fed where there is no such token; how
    many bars back the lookback tokens are read; how many leading tokens are a header."""

    bar: int
    part: int | None
    none: int
    bars_back: tuple[int, ...] = (1, 2)
    header: int = 0


class LookbackFeatures(NamedTuple):
    """The lookback inputs for the predicted position(s): token ids and clipped positions, all long.
    `bars_back` and `header` have one more last dimension than the others: one token per
    `LookbackIds.bars_back`, one per header token."""

    bars_back: Tensor
    one_part: Tensor
    step_in_bar: Tensor
    bar_in_part: Tensor
    header: Tensor


class LookbackState(NamedTuple):
    """What step-by-step lookback needs per row; every field has the batch as its first dimension.

    history (B, C): the consumed tokens (only the first `length` count); bar_positions (B, C): where
    the consumed BARs are (only the first `bars` count); length (B,): tokens consumed, -1 before the
    start token; bars (B,): BARs consumed; parts (B, 2): positions of the last and the previous PART
    (-1: none); part_bars (B, 2): BARs consumed before each of them.
    """

    history: Tensor
    bar_positions: Tensor
    length: Tensor
    bars: Tensor
    parts: Tensor
    part_bars: Tensor

    def map(self, function: Callable[[Tensor], Tensor]) -> LookbackState:
        """The state with `function` applied to every field (index rows, expand, move to a device)."""
        return LookbackState(*(function(field) for field in self))


def initial_state(batch: int, device: torch.device | str | None = None,
                  capacity: int = INITIAL_CAPACITY) -> LookbackState:
    """The state before the start token: nothing consumed."""
    capacity = max(1, capacity)
    history = torch.zeros((batch, capacity), dtype=torch.long, device=device)
    minus_one = torch.full((batch, 2), -1, dtype=torch.long, device=device)
    return LookbackState(history, history.clone(), torch.full((batch,), -1, dtype=torch.long, device=device),
                         torch.zeros(batch, dtype=torch.long, device=device), minus_one,
                         torch.zeros_like(minus_one))


def advance(state: LookbackState, tokens: Tensor, ids: LookbackIds) -> LookbackState:
    """The state once each row has consumed its token (B,); the first token after `initial_state`
    is the start token, which only marks the start. A new state: the old one stays valid."""
    history, bar_positions, length, bars, parts, part_bars = state
    if length.numel() and int(length.max()) >= history.shape[1]:  # full: double the capacity
        history, bar_positions = (torch.cat([table, torch.zeros_like(table)], dim=1)
                                  for table in (history, bar_positions))
    started = length >= 0
    position = length.clamp(min=0).unsqueeze(1)  # (B, 1): where this token goes
    # Unconditional writes land beyond `length` / `bars` where they do not count: ignored, later overwritten.
    history = history.scatter(1, position, tokens.unsqueeze(1))
    bar_positions = bar_positions.scatter(1, bars.unsqueeze(1), position)
    bars = bars + (started & (tokens == ids.bar)).long()
    if ids.part is not None:
        is_part = (started & (tokens == ids.part)).unsqueeze(1)  # (B, 1)
        parts = torch.where(is_part, torch.cat([position, parts[:, :1]], dim=1), parts)
        part_bars = torch.where(is_part, torch.cat([bars.unsqueeze(1), part_bars[:, :1]], dim=1), part_bars)
    return LookbackState(history, bar_positions, length + 1, bars, parts, part_bars)


def features(state: LookbackState, ids: LookbackIds) -> LookbackFeatures:
    """The lookback inputs (each (B,)) for the position each row predicts next."""
    return _features(state.length.clamp(min=0), state.bars, state.bar_positions, state.history,
                     state.parts[:, 0], state.parts[:, 1], state.part_bars[:, 0], state.part_bars[:, 1], ids)


class _Along(NamedTuple):
    """The quantities `_features` reads, for every prefix length i = 0..n of a batch (B, n)."""

    history: Tensor  # (B, n + 1): the tokens, then one `none` column so no table is empty
    bar_positions: Tensor  # (B, n + 1)
    bars: Tensor  # (B, n + 1): BARs in x[:, :i]
    last_part: Tensor  # (B, n + 1): the last PART in x[:, :i], -1 none
    previous_part: Tensor  # (B, n + 1)
    last_part_bars: Tensor  # (B, n + 1): BARs before last_part
    previous_part_bars: Tensor  # (B, n + 1)


def _along(consumed: Tensor, ids: LookbackIds) -> _Along:
    batch, n = consumed.shape
    device = consumed.device
    history = torch.cat([consumed, torch.full((batch, 1), ids.none, dtype=torch.long, device=device)], dim=1)
    zero = torch.zeros((batch, 1), dtype=torch.long, device=device)
    is_bar = (consumed == ids.bar).long()  # (B, n)
    bars = torch.cat([zero, torch.cumsum(is_bar, dim=1)], dim=1)  # (B, n + 1)
    positions = torch.arange(n, device=device).expand(batch, n)  # (B, n)
    # The BAR at position q is BAR number bars[:, q]; other positions write to the spare last column.
    slot = torch.where(is_bar.bool(), bars[:, :n], n)  # (B, n)
    bar_positions = torch.zeros((batch, n + 1), dtype=torch.long, device=device).scatter(1, slot, positions)
    if ids.part is None:
        none = torch.full((batch, n + 1), -1, dtype=torch.long, device=device)
        return _Along(history, bar_positions, bars, none, none, none + 1, none + 1)
    marked = torch.where(consumed == ids.part, positions, -1)  # (B, n)
    last_part = torch.cat([zero - 1, torch.cummax(marked, dim=1).values], dim=1)  # (B, n + 1)
    # The PART before the last one is the last PART before it: last_part read at that position.
    previous_part = torch.where(last_part >= 0, last_part.gather(1, last_part.clamp(min=0)), -1)
    last_part_bars = torch.where(last_part >= 0, bars.gather(1, last_part.clamp(min=0)), 0)
    previous_part_bars = torch.where(previous_part >= 0, bars.gather(1, previous_part.clamp(min=0)), 0)
    return _Along(history, bar_positions, bars, last_part, previous_part, last_part_bars, previous_part_bars)


def features_along(consumed: Tensor, ids: LookbackIds) -> LookbackFeatures:
    """The lookback inputs (each (B, n + 1)) of every prefix x[:, :i], i = 0..n, of `consumed` (B, n)."""
    along = _along(consumed, ids)
    batch, width = along.bars.shape
    position = torch.arange(width, device=consumed.device).expand(batch, width)
    return _features(position, along.bars, along.bar_positions, along.history, along.last_part,
                     along.previous_part, along.last_part_bars, along.previous_part_bars, ids)


def state_after(consumed: Tensor, ids: LookbackIds) -> LookbackState:
    """The state after the start token and `consumed` (B, n), computed vectorised: what `advance`
    gives token by token (equal in every field that counts; capacity n + 1)."""
    along = _along(consumed, ids)
    n = consumed.shape[1]
    last = [field[:, n] for field in along[2:]]  # (B,) each: bars, parts, part bars after all n tokens
    return LookbackState(along.history, along.bar_positions, torch.full_like(last[0], n), last[0],
                         torch.stack(last[1:3], dim=1), torch.stack(last[3:5], dim=1))


def _same_bar(bars: Tensor, last_part: Tensor, previous_part: Tensor, last_part_bars: Tensor,
              previous_part_bars: Tensor) -> Tensor:
    """The number of the bar in the previous part that matches the current bar's place in its part
    (the same bar of the strain before), -1 where there is none."""
    in_part = bars - last_part_bars  # BARs since the last PART
    same_bar = previous_part_bars + in_part - 1
    return torch.where((previous_part >= 0) & (in_part >= 1) & (same_bar < last_part_bars), same_bar, -1)


class BarView(NamedTuple):
    """Where each predicted position stands among the bars: what attention over the bars reads.
    position, bars and same_bar have the positions' shape (B, S); the tables are (B, C)."""

    position: Tensor  # tokens consumed before the predicted one
    bars: Tensor  # BARs among them
    same_bar: Tensor  # the number of the same bar of the previous part, -1 none
    bar_positions: Tensor  # where BAR number j is, for j < bars
    history: Tensor  # the consumed tokens


def bar_view(state: LookbackState) -> BarView:
    """The view (positions (B, 1)) of the position each row predicts next, step by step."""
    parts, part_bars = state.parts, state.part_bars
    same_bar = _same_bar(state.bars, parts[:, 0], parts[:, 1], part_bars[:, 0], part_bars[:, 1])
    return BarView(state.length.clamp(min=0).unsqueeze(1), state.bars.unsqueeze(1), same_bar.unsqueeze(1),
                   state.bar_positions, state.history)


def bar_view_along(consumed: Tensor, ids: LookbackIds) -> BarView:
    """The view (positions (B, n + 1)) of every prefix x[:, :i], i = 0..n, of `consumed` (B, n)."""
    along = _along(consumed, ids)
    batch, width = along.bars.shape
    position = torch.arange(width, device=consumed.device).expand(batch, width)
    same_bar = _same_bar(along.bars, along.last_part, along.previous_part, along.last_part_bars,
                         along.previous_part_bars)
    return BarView(position, along.bars, same_bar, along.bar_positions, along.history)


def take(table: Tensor, index: Tensor) -> Tensor:
    """table (B, C) read at index (B, ...) (any trailing shape), each index clamped into the table."""
    flat = index.reshape(index.shape[0], -1).clamp(0, table.shape[1] - 1)
    return table.gather(1, flat).view(index.shape)


def _features(position: Tensor, bars: Tensor, bar_positions: Tensor, history: Tensor, last_part: Tensor,
              previous_part: Tensor, last_part_bars: Tensor, previous_part_bars: Tensor,
              ids: LookbackIds) -> LookbackFeatures:
    """The definition, for positions of any shape S: position i, BARs before it, their positions
    (table), the tokens (table), the last two PARTs before i and the BARs before each."""

    def bar_at(number: Tensor) -> Tensor:  # the position of BAR `number` (0-based), -1 if there is none
        return torch.where((number >= 0) & (number < bars), take(bar_positions, number), -1)

    def token_at(where: Tensor, valid: Tensor) -> Tensor:
        return torch.where(valid, take(history, where), ids.none)

    bar1 = bar_at(bars - 1)
    offset = position - bar1  # k: 1 right after the last BAR
    back = []
    for count in ids.bars_back:  # the bar `count` bars back runs from BAR number bars-1-count to the next
        start, end = bar_at(bars - 1 - count), bar_at(bars - count)
        back.append(token_at(start + offset, (start >= 0) & (start + offset <= end)))
    step_in_bar = torch.where(bar1 >= 0, (offset - 1).clamp(max=MAX_STEP_IN_BAR), STEP_NONE)
    in_part = bars - last_part_bars  # c: BARs since the last PART
    bar_in_part = torch.where(last_part >= 0, in_part.clamp(max=MAX_BAR_IN_PART), BAR_NONE)
    same_bar = _same_bar(bars, last_part, previous_part, last_part_bars, previous_part_bars)
    has_bar = same_bar >= 0
    start = bar_at(same_bar)
    end = torch.where(same_bar + 1 < last_part_bars, bar_at(same_bar + 1), last_part)
    one_part = token_at(start + offset, has_bar & (start + offset <= end))
    header = [token_at(torch.full_like(position, index), position > index) for index in range(ids.header)]
    header_tokens = torch.stack(header, dim=-1) if header else position.new_empty((*position.shape, 0))
    return LookbackFeatures(torch.stack(back, dim=-1), one_part, step_in_bar, bar_in_part, header_tokens)
