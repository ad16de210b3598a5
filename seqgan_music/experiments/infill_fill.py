"""Fill the masked positions of held-out items with a trained generator.

A generator with `infill` (MaskGAN's, either row) fills with context on both sides. Any other
generator fills from the left, as `compose --fill` does without a MaskGAN model: each item is
written `candidates` times left to right, the kept tokens forced and the masked ones sampled, and
the candidate under which the generator finds the kept tokens after the first gap most likely
(the bars after the gap, given the fill) is kept. Both take the same noise seed and the same
banned tokens, and return the items with every kept position unchanged.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from seqgan_music.models.generator import Generator
from seqgan_music.models.sampling import draw, uniforms

BATCH = 32  # items filled at once (times the candidates for the left-context fill)


def fill_items(generator: Generator, tokens: np.ndarray, keep: np.ndarray, banned: np.ndarray, seed: int,
               candidates: int, temperature: float = 1.0) -> np.ndarray:
    """`tokens` (n, T) with every position where `keep` is False written again by `generator`
    (its own `infill`, else the left-context best of `candidates`), `BATCH` items at a time; the
    noise comes from one torch generator seeded with `seed`, so the same seed fills alike."""
    device = generator.device
    noise = torch.Generator(device=device).manual_seed(seed)
    not_allowed = torch.as_tensor(banned, dtype=torch.bool, device=device)
    filled = []
    for first in range(0, len(tokens), BATCH):
        rows = torch.as_tensor(tokens[first:first + BATCH], dtype=torch.long, device=device)
        kept = torch.as_tensor(keep[first:first + BATCH], dtype=torch.bool, device=device)
        if hasattr(generator, "infill"):
            out = generator.infill(rows, kept, temperature=temperature, generator=noise, banned=not_allowed)
        else:
            out = left_context_fill(generator, rows, kept, not_allowed, noise, candidates, temperature)
        filled.append(out.cpu().numpy())
    return np.concatenate(filled) if filled else tokens.copy()


@torch.no_grad()
def left_context_fill(generator: Generator, tokens: Tensor, keep: Tensor, banned: Tensor,
                      noise: torch.Generator | None, candidates: int, temperature: float = 1.0) -> Tensor:
    """Each row of `tokens` (n, T) written `candidates` times from the left (kept tokens forced,
    the others drawn without `banned` (V,) tokens), and the candidate with the highest
    log-likelihood of the kept tokens from the row's first gap on returned (n, T)."""
    rows, length = tokens.shape
    masked = ~keep
    if rows == 0 or not bool(masked.any()):
        return tokens.clone()
    repeated_tokens = tokens.repeat_interleave(candidates, dim=0)  # (n * K, T), a row's candidates together
    repeated_keep = keep.repeat_interleave(candidates, dim=0)
    written = _write_left_to_right(generator, repeated_tokens, repeated_keep, banned, noise, temperature)
    after_gap = (torch.cumsum(masked.long(), dim=1) > 0) & keep  # kept tokens from the first gap on
    counted = after_gap.repeat_interleave(candidates, dim=0).to(torch.float32) * generator.token_mask(written).float()
    scores = (generator.log_probs(written).float() * counted).sum(dim=1).view(rows, candidates)  # (n, K)
    best = scores.argmax(dim=1)  # (n,)
    return written.view(rows, candidates, length)[torch.arange(rows, device=tokens.device), best]


@torch.no_grad()
def _write_left_to_right(generator: Generator, tokens: Tensor, keep: Tensor, banned: Tensor,
                         noise: torch.Generator | None, temperature: float) -> Tensor:
    """Step the generator along `tokens` (R, T): kept tokens fed as they are, masked ones drawn;
    it stops after the last masked position (the rest is kept)."""
    rows, length = tokens.shape
    last = int(torch.nonzero((~keep).any(dim=0)).max())
    draws = uniforms((last + 1, rows), noise, tokens.device)  # (T', R)
    written = tokens.clone()
    previous = torch.full((rows,), generator.start_token, dtype=torch.long, device=tokens.device)
    state = generator.initial_state(rows)
    for t in range(last + 1):
        logits, state = generator.step(previous, state)
        if not bool(keep[:, t].all()):
            sampled = draw(logits.masked_fill(banned, float("-inf")), draws[t], temperature)
            written[:, t] = torch.where(keep[:, t], tokens[:, t], sampled)
        previous = written[:, t]
    return written
