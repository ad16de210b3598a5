"""Continue a token prefix under constraints: tokens forced at some positions, some banned everywhere,
a limit on how long one pitch may sound in a row, strains written again (copies of earlier
positions) and cadences (the last beat of a strain on a chord tone of the tonic).

This is how composing gets the meter it is asked for from a grid16 model: the bar-line token is
part of what the model was trained on, so forcing it every bar (and banning it inside bars) puts
the model's own rhythm inside the requested bars, rather than relabelling whatever it produced.
The hold limit keeps plain sampling (a low temperature, a small top-k) from freezing on one pitch:
once a pitch has sounded its limit, the tokens that would keep it sounding are banned like the others.
A cadence slot bans every token that would not land the strain on its chord: the first step of the
closing beat must start one of the chord's pitches, and the steps after it may only hold it or
start another of them, so the strain's last note is one of them whatever the model prefers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from seqgan_music.errors import SeqganError
from seqgan_music.models.generator import Generator
from seqgan_music.models.maskgan import MaskGANGenerator
from seqgan_music.models.sampling import draw, uniforms
from seqgan_music.models.vae import CodeConditionedGenerator


HoldState = tuple[Tensor, Tensor]  # per row: the sounding pitch's token (-1: none) and the steps it has sounded


@dataclass(frozen=True)
class Copy:
    """A layout slot that writes the token at `position` (of the whole sequence, prefix included) of
    the same row again: a strain played again, written out (the last A of AABA)."""

    position: int


@dataclass(frozen=True)
class Cadence:
    """A layout slot sampled among the tokens that close a strain on `degrees` (semitones above the
    tonic: (0,) the tonic, (0, 4, 7) the major tonic chord). `onset`: the closing beat's first step,
    where one of those pitches must start; after it, only holding it or starting another of them."""

    degrees: tuple[int, ...]
    onset: bool


Slot = int | None | Copy | Cadence  # forced token id, sampled, copied or a cadence step


@dataclass(frozen=True)
class CadenceRule:
    """What cadence slots need: each token's pitch class (V,) (-1: not a pitch), the hold token, and
    `tonic(tokens)`: each row's tonic pitch class (rows,) from its tokens so far (rows, n), as a long
    tensor on the tokens' device (a constant for a model whose tunes share one signature)."""

    pitch_classes: Tensor
    hold: int
    tonic: Callable[[Tensor], Tensor]

    def banned(self, slot: Cadence, tokens: Tensor) -> Tensor:
        """(rows, V) True where a token would not close on the slot's degrees."""
        tonic = self.tonic(tokens).unsqueeze(1)  # (rows, 1)
        classes = self.pitch_classes.unsqueeze(0)  # (1, V)
        degree = (classes - tonic) % 12  # (rows, V)
        wanted = torch.zeros_like(degree, dtype=torch.bool)
        for step in slot.degrees:
            wanted |= degree == step
        allowed = wanted & (classes >= 0)
        if not slot.onset:
            allowed = allowed | (torch.arange(classes.shape[1], device=classes.device) == self.hold)
        return ~allowed


@dataclass(frozen=True)
class HoldLimit:
    """One pitch may sound at most `steps` steps in a row, held or struck again; after that neither
    `hold` (the token that continues the sounding note) nor the pitch's own token may come, so a
    different note or a rest must.

    `starts` (V,) is True for the tokens that start a note, `timeless` (V,) for those that take no
    step (bar lines, across which a note goes on sounding); any other token (a rest) ends the note.
    Both live on the generator's device.
    """

    hold: int
    steps: int
    starts: Tensor
    timeless: Tensor

    def after(self, state: HoldState, tokens: Tensor) -> HoldState:
        """The state once each row's next token (rows,) is added."""
        pitch, held = state
        starts, timeless = self.starts[tokens], self.timeless[tokens]  # (rows,)
        holding = (tokens == self.hold) & (held > 0)
        again = (starts & (tokens == pitch)) | holding
        held = torch.where(again, held + 1, torch.where(starts, 1, torch.where(timeless, held, 0)))
        return torch.where(starts, tokens, torch.where(holding | timeless, pitch, -1)), held

    def ban(self, banned: Tensor, state: HoldState) -> None:
        """Mark in `banned` (rows, V) the tokens that would keep a pitch sounding past the limit."""
        pitch, held = state
        over = (held >= self.steps).unsqueeze(1)  # (rows, 1) rows whose pitch has sounded its limit
        tokens = torch.arange(banned.shape[1], device=banned.device)  # (V,)
        banned |= over & ((tokens == self.hold) | (tokens == pitch.unsqueeze(1)))


@dataclass(frozen=True)
class Constraints:
    """What composing imposes on the model's choices, as token ids.

    `layout` has one slot per position after the prefix: the token forced there, None to sample one,
    a `Copy` of an earlier position or a `Cadence` step (which needs `cadence`). `banned` are never
    sampled; `hold_limit` (None: none) bans keeping one pitch past its limit. Where a cadence and the
    hold limit together leave a row nothing, the cadence wins.
    """

    layout: Sequence[Slot]
    banned: Sequence[int] = ()
    hold_limit: HoldLimit | None = None
    cadence: CadenceRule | None = None

    def start(self, prefix: Sequence[int], rows: int, device: torch.device) -> HoldState:
        """The state the constraints follow, after the prefix."""
        state = (torch.full((rows,), -1, dtype=torch.long, device=device),
                 torch.zeros(rows, dtype=torch.long, device=device))
        for token in prefix:
            state = self.advance(state, torch.full((rows,), token, dtype=torch.long, device=device))
        return state

    def advance(self, state: HoldState, chosen: Tensor) -> HoldState:
        """The state once each row's chosen token (rows,) is added."""
        return state if self.hold_limit is None else self.hold_limit.after(state, chosen)

    def always_banned(self, vocab_size: int, device: torch.device) -> Tensor:
        """(V,) True for the tokens never sampled: computed once per continuation, not every step."""
        banned = torch.zeros(vocab_size, dtype=torch.bool, device=device)
        banned[list(self.banned)] = True
        return banned

    def banned_now(self, state: HoldState, always: Tensor) -> Tensor:
        """(rows, V) True where a token may not be sampled in `state`; `always` from `always_banned`."""
        banned = always.expand(len(state[1]), -1).clone()
        if self.hold_limit is not None:
            self.hold_limit.ban(banned, state)
        return banned


@torch.no_grad()
def continue_prefix(generator: Generator, prefix: Sequence[int], constraints: Constraints, rows: int,
                    temperature: float = 1.0, top_k: int | None = None,
                    noise_source: torch.Generator | None = None, codes: Tensor | None = None) -> Tensor:
    """`rows` sequences (rows, len(prefix) + len(layout)): the prefix, then one token per layout entry,
    each forced or sampled under the constraints.

    Noise is drawn for every position, forced or not, so the same seed gives the same tokens
    whatever the layout. A latent-variable decoder (VAE, ARAE) writes each row from a code (rows, C):
    `codes` where given, else drawn as it samples (its prior, its code generator) with `noise_source`
    first.
    """
    if isinstance(generator, MaskGANGenerator):  # its encoder reads the whole sequence's length up front
        raise SeqganError("a MaskGAN model writes by in-filling, not left to right: give it bars to write again "
                          "(compose --fill BARS --from TUNE), or sample it with `seqgan-music generate RUN`")
    device = generator.device
    layout = constraints.layout
    start = torch.tensor([generator.start_token, *prefix], dtype=torch.long, device=device)
    state = None
    if isinstance(generator, CodeConditionedGenerator):
        state = generator.state_from(generator.prior_codes(rows, noise_source) if codes is None else codes)
    elif codes is not None:
        raise ValueError(f"a {type(generator).__name__} reads no code")
    logits, state = generator(start.unsqueeze(0).expand(rows, -1), state)  # (rows, P + 1, V)
    logits = logits[:, -1]  # (rows, V)
    noise = uniforms((len(layout), rows), noise_source, device)  # (L, rows)
    sounding = constraints.start(prefix, rows, device)
    tokens = torch.empty((rows, len(prefix) + len(layout)), dtype=torch.long, device=device)
    tokens[:, :len(prefix)] = start[1:]
    always = constraints.always_banned(generator.vocab_size, device)
    for position, slot in enumerate(layout):
        at = len(prefix) + position
        if slot is None or isinstance(slot, Cadence):
            banned = constraints.banned_now(sounding, always)  # (rows, V)
            if isinstance(slot, Cadence):
                banned = _with_cadence(banned, always, constraints, slot, tokens[:, :at])
            chosen = draw(logits.masked_fill(banned, float("-inf")), noise[position], temperature, top_k)  # (rows,)
        elif isinstance(slot, Copy):
            if not 0 <= slot.position < at:
                raise ValueError(f"slot {at} copies position {slot.position}, which is not before it")
            chosen = tokens[:, slot.position]
        else:
            chosen = torch.full((rows,), slot, dtype=torch.long, device=device)
        tokens[:, at] = chosen
        sounding = constraints.advance(sounding, chosen)
        if position + 1 < len(layout):
            logits, state = generator.step(chosen, state)
    return tokens


def _with_cadence(banned: Tensor, always: Tensor, constraints: Constraints, slot: Cadence, tokens: Tensor) -> Tensor:
    """`banned` (rows, V) with the cadence's bans added; a row left with nothing keeps only the
    cadence's own bans (and the fixed ones), so the strain still closes on its chord."""
    if constraints.cadence is None:
        raise ValueError("a Cadence slot needs Constraints.cadence")
    closing = constraints.cadence.banned(slot, tokens)  # (rows, V)
    combined = banned | closing
    stuck = combined.all(dim=1, keepdim=True)  # (rows, 1)
    return torch.where(stuck, closing | always, combined)


def bar_layout(prefix_bars: Sequence[bool], bar_steps: int, bars: int | None, steps: int | None) -> list[bool]:
    """The layout after a grid16 prefix (True where the prefix has a bar line): True where a bar line
    is forced, False where a step is sampled, a bar line every `bar_steps` steps.

    The tune ends after `bars` bar lines in all (the prefix's included) or after `steps` steps
    (sixteenths, the prefix's included); a tune without a prefix opens with a bar line.
    """
    count_bars = sum(prefix_bars)
    count_steps = len(prefix_bars) - count_bars
    since_bar = None  # steps since the last bar line; None: no bar line yet
    for is_bar in prefix_bars:
        since_bar = 0 if is_bar else (None if since_bar is None else since_bar + 1)
    layout: list[bool] = []

    def done() -> bool:
        if steps is not None:
            return count_steps >= steps
        return count_bars >= (bars or 0) and since_bar is not None and since_bar >= bar_steps

    while not done():
        if since_bar is None or since_bar >= bar_steps:
            layout.append(True)
            count_bars += 1
            since_bar = 0
        else:
            layout.append(False)
            count_steps += 1
            since_bar += 1
    return layout
