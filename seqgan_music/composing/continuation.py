"""Continue a token prefix under a layout: tokens forced at some positions, others banned everywhere else.

This is how composing gets the meter it is asked for from a grid16 model: the bar-line token is
part of what the model was trained on, so forcing it every bar (and banning it inside bars) puts
the model's own rhythm inside the requested bars, rather than relabelling whatever it produced.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from seqgan_music.models.generator import Generator
from seqgan_music.models.sampling import draw, uniforms


@torch.no_grad()
def continue_prefix(generator: Generator, prefix: Sequence[int], layout: Sequence[int | None], banned: Sequence[int],
                    rows: int, temperature: float = 1.0, top_k: int | None = None,
                    noise_source: torch.Generator | None = None) -> Tensor:
    """`rows` sequences (rows, len(prefix) + len(layout)): the prefix, then one token per layout entry.

    A layout entry is the token forced at that position, or None to sample one that is not in
    `banned`. Noise is drawn for every position, forced or not, so the same seed gives the same
    tokens whatever the layout.
    """
    device = generator.device
    start = torch.tensor([generator.start_token, *prefix], dtype=torch.long, device=device)
    logits, state = generator(start.unsqueeze(0).expand(rows, -1))  # (rows, P + 1, V)
    logits = logits[:, -1]  # (rows, V)
    noise = uniforms((len(layout), rows), noise_source, device)  # (L, rows)
    ban = torch.zeros(generator.vocab_size, dtype=torch.bool, device=device)
    ban[list(banned)] = True
    tokens = [start[1:].unsqueeze(0).expand(rows, -1)]
    for position, forced in enumerate(layout):
        if forced is None:
            chosen = draw(logits.masked_fill(ban, float("-inf")), noise[position], temperature, top_k)  # (rows,)
        else:
            chosen = torch.full((rows,), forced, dtype=torch.long, device=device)
        tokens.append(chosen.unsqueeze(1))
        if position + 1 < len(layout):
            logits, state = generator.step(chosen, state)
    return torch.cat(tokens, dim=1)


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
