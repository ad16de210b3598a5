"""Monte Carlo search rewards (the paper's Q(s, a) by N-time rollout) and the delayed rollout network.

For a generated batch x_1..x_T (B, T), the reward of token x_t is
    Q(t) = 1/N * sum_n D(Y^n_{1:T}),  Y^n = x_1..x_t completed by the rollout policy  (t < T)
    Q(T) = D(x_1..x_T)
with D the discriminator's probability that a sequence is real. Rewards after the first end token
are zero (those positions are not the generator's decisions).

Two implementations give identical completions for the same noise:
- `naive_rollout_rewards`, the reference implementation's algorithm: for every rollout n and prefix
  length t, rerun the policy from the start token over x_1..x_t, sample the rest at batch B and
  score it, one D call per (n, t). Kept as the ground truth for tests and the benchmark.
- `rollout_rewards`, the vectorized one: one teacher-forced pass (`Generator.states_along`) gives
  the state after every prefix, so no prefix is ever rerun; all (t, n, b) completions then advance
  together, position by position, in cache-sized chunks of rows, and D scores them in chunks.

Row layout of the vectorized rollout (the reshape order every test pins down):
    row r = ((t - 1) * N + n) * B + b    for prefix length t = 1..T-1, rollout n, sequence b
Rows are ordered by t ascending, so at position p (0-based) the rows still being sampled (t <= p)
are the leading slice [0, p * N * B): rows [0, (p-1)NB) continue from their own last token, rows
[(p-1)NB, pNB) start at p from the teacher-forced logits for x_{p+1}.

Rewards per bar (`every`): the same rows, for the chosen prefixes only (`rollout_positions`: every
prefix, every K-th, or those that end at a bar line), still ordered by t; each token is credited with
the Q of the first chosen prefix that contains it. One code path serves all three.

Noise: `rollout_noise` gives uniforms (N, T-1, B, T); noise[n, t-1, b, p] draws position p of the
completion of prefix t for rollout n and sequence b (positions p < t are the prefix and unused).
Completions are finished as `Generator.sample` finishes its samples (positions after the first end
token filled with the pad token), so D scores them in the form it was trained on.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager, nullcontext
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Union

import torch
from torch import Tensor, nn

from seqgan_music.models.discriminator import Discriminator
from seqgan_music.models.sampling import check_sampling, draw, uniforms

if TYPE_CHECKING:
    from seqgan_music.models.generator import Generator

PRECISIONS = ("float32", "bfloat16")
# What rewards a completed sequence: the discriminator (SeqGAN), or rows (R, T) -> scores (R,) (PG-BLEU).
Scorer = Union[Discriminator, Callable[[Tensor], Tensor]]


class RolloutPolicy:
    """A delayed copy of the generator (the paper's rollout network G_beta).

    After each generator update, `update` moves every parameter a fraction 1 - beta of the way to
    the generator: rollout <- beta * rollout + (1 - beta) * generator. beta = 0 follows the
    generator exactly; beta = 0.8 (the paper's) lags behind it. The copy never takes gradients.
    """

    def __init__(self, generator: Generator, beta: float = 0.8) -> None:
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1] (0: follow the generator, 0.8: the paper's lag), got {beta}")
        self.beta = float(beta)
        self.network: Generator = copy.deepcopy(generator)
        self.network.requires_grad_(False)

    @torch.no_grad()
    def update(self, generator: Generator) -> None:
        """rollout <- beta * rollout + (1 - beta) * generator for every parameter; buffers are copied."""
        ours, theirs = dict(self.network.named_parameters()), dict(generator.named_parameters())
        _check_same_shapes("parameters", ours, theirs)
        for name, mine in ours.items():
            target = theirs[name].detach().to(device=mine.device, dtype=mine.dtype)
            if self.beta == 0.0:
                mine.copy_(target)
            else:
                mine.mul_(self.beta).add_(target, alpha=1.0 - self.beta)
        our_buffers, their_buffers = dict(self.network.named_buffers()), dict(generator.named_buffers())
        _check_same_shapes("buffers", our_buffers, their_buffers)
        for name, mine in our_buffers.items():
            mine.copy_(their_buffers[name])

    @torch.no_grad()
    def copy_from(self, generator: Generator) -> None:
        """Start again as an exact copy of the generator (the reference builds its rollout network
        only after pre-training, so the first adversarial round rolls out the pre-trained policy)."""
        self.network.load_state_dict(generator.state_dict())

    def state_dict(self) -> dict:
        """beta and the network's weights: plain floats and tensors (loads with weights_only=True)."""
        return {"beta": self.beta, "network": self.network.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.beta = float(state["beta"])
        self.network.load_state_dict(state["network"])


def _check_same_shapes(what: str, ours: dict[str, Tensor], theirs: dict[str, Tensor]) -> None:
    if ours.keys() != theirs.keys() or any(ours[k].shape != theirs[k].shape for k in ours):
        raise ValueError(f"the rollout network and the generator have different {what}; "
                         "build the RolloutPolicy from this generator")


def rollout_noise(batch: int, length: int, rollouts: int, generator: torch.Generator | None,
                  device: torch.device | str | None) -> Tensor:
    """Uniforms (rollouts, length - 1, batch, length) in [0, 1): noise[n, t-1, b, p] draws position p
    (0-based) of the completion of prefix length t for rollout n and sequence b (only p >= t is used)."""
    if min(batch, rollouts) < 0 or length < 1:
        raise ValueError(f"rollout_noise needs batch >= 0, rollouts >= 0 and length >= 1, got {batch}, {rollouts}, {length}")
    return uniforms((rollouts, length - 1, batch, length), generator, device)


def _check_inputs(sequences: Tensor, rollouts: int) -> None:
    if sequences.ndim != 2:
        raise ValueError(f"sequences must be (B, T), got shape {tuple(sequences.shape)}")
    if rollouts < 1:
        raise ValueError(f"rollouts must be >= 1, got {rollouts}")
    if sequences.shape[1] < 1:
        raise ValueError("sequences must have at least one token")


def _checked_noise(noise: Tensor | None, sequences: Tensor, rollouts: int, generator: torch.Generator | None) -> Tensor:
    _check_inputs(sequences, rollouts)
    batch, length = sequences.shape
    if noise is None:
        return rollout_noise(batch, length, rollouts, generator, sequences.device)
    expected = (rollouts, length - 1, batch, length)
    if tuple(noise.shape) != expected:
        raise ValueError(f"noise must be (rollouts, T-1, B, T) = {expected}, got {tuple(noise.shape)}")
    return noise.to(sequences.device)


def _finish(policy: Generator, completions: Tensor) -> Tensor:
    """Fill positions after the first end token as `Generator.sample` does (pad, else end)."""
    if policy.end_token is None:
        return completions
    fill = policy.end_token if policy.pad_token is None else policy.pad_token
    return completions.masked_fill(policy.token_mask(completions) == 0, fill)


@contextmanager
def evaluating(*modules: nn.Module) -> Iterator[None]:
    """Eval mode (no dropout) and no gradients inside; each module's own mode restored after."""
    modes = [module.training for module in modules]
    try:
        for module in modules:
            module.eval()
        with torch.no_grad():
            yield
    finally:
        for module, mode in zip(modules, modes):
            module.train(mode)


EVERY_TOKEN, EVERY_BAR = "token", "bar"


def rollout_positions(sequences: Tensor, every: str | int = EVERY_TOKEN, bar_token: int | None = None) -> Tensor:
    """Which prefixes are rolled out, (B, T) bool: column j is the prefix x_1..x_{j+1}; the last column
    (the whole sequence, scored as it is) is always on.

    "token": every prefix (the paper's). K (an int, or its digits as a string): every K-th prefix.
    "bar": the prefixes that end at a bar line (the next token is `bar_token`), so a generated tune is
    rolled out once per bar instead of once per token.
    """
    batch, length = sequences.shape
    chosen = torch.zeros((batch, length), dtype=torch.bool, device=sequences.device)
    chosen[:, -1] = True
    if every == EVERY_TOKEN:
        chosen[:] = True
    elif every == EVERY_BAR:
        if bar_token is None:
            raise ValueError("rollouts every bar need the bar line's token id (bar_token)")
        chosen[:, :-1] = sequences[:, 1:] == bar_token
    else:
        step = int(every)
        if step < 1:
            raise ValueError(f"every must be 'token', 'bar' or an integer >= 1, got {every!r}")
        chosen[:, step - 1::step] = True
    return chosen


def credited_positions(chosen: Tensor) -> Tensor:
    """(B, T) long: for each token, the column of the first rolled-out prefix that contains it (its
    bar's end with "bar"), whose Q the token is credited with."""
    length = chosen.shape[1]
    columns = torch.arange(length, device=chosen.device).expand_as(chosen)
    marked = torch.where(chosen, columns, torch.full_like(columns, length - 1))
    return torch.flip(torch.cummin(torch.flip(marked, [1]), dim=1).values, [1])


def _rollout_rows(chosen: Tensor, rollouts: int) -> tuple[Tensor, Tensor, Tensor]:
    """The rows of the vectorized rollout for the chosen prefixes: prefix length t - 1, rollout n and
    sequence b of each row, in the order ((t - 1) * N + n) * B + b (so t ascending)."""
    batch, length = chosen.shape
    prefix, sequence = torch.nonzero(chosen[:, :-1].t(), as_tuple=True)  # (P,) each: t - 1 and b
    n = torch.arange(rollouts, device=chosen.device)
    keys = ((prefix.unsqueeze(1) * rollouts + n) * batch + sequence.unsqueeze(1)).flatten().sort().values  # (R,)
    return keys // (rollouts * batch), (keys // batch) % rollouts, keys % batch


def _complete_rows(policy: Generator, sequences: Tensor, rows: tuple[Tensor, Tensor, Tensor], row_noise: Tensor,
                   chunk_size: int, temperature: float, top_k: int | None) -> Tensor:
    """The completions (R, T) of the given rows (see `_rollout_rows`); row r draws position p with row_noise[r, p]."""
    prefix, _, sequence = rows
    length = sequences.shape[1]
    starts = torch.searchsorted(prefix, torch.arange(length, device=prefix.device)).tolist()  # first row of each t - 1
    with evaluating(policy):
        # (T-1, L, B, H) x2, (T-1, B, V), and a lookback generator's lookback states (T-1, B, ...)
        h_along, c_along, logits_along, *lookback_along = policy.states_along(sequences)

        def per_row(along: Tensor) -> Tensor:  # (T-1, B, ...) -> (R, ...): the state after each row's prefix
            return along[prefix, sequence]

        h, c = (per_row(along.transpose(1, 2)) for along in (h_along, c_along))  # (R, L, H)
        # Each row's own copy of its lookback state, written back chunk by chunk like h and c.
        lookback = [state.map(per_row) for state in lookback_along]
        tokens = sequences.index_select(0, sequence)  # (R, T)
        # Rows whose completion has its end token: what they would still draw is padding (_finish), so
        # a chunk of them is skipped (the chunks stay the same, so nothing else changes).
        ended = _ends_by(policy, tokens, prefix + 1)  # (R,)
        skip_ended = skips_ended_chunks(tokens.device)
        for p in range(1, length):
            # Rows with t < p: feed the token drawn at p-1, draw position p from the new logits.
            running = starts[p - 1]
            for first in range(0, running, chunk_size):
                chunk = slice(first, min(first + chunk_size, running))
                if skip_ended and bool(ended[chunk].all()):
                    continue
                state = (h[chunk].transpose(0, 1).contiguous(), c[chunk].transpose(0, 1).contiguous(),  # (L, r, H)
                         *(memory.map(lambda field: field[chunk]) for memory in lookback))
                logits, (h_new, c_new, *lookback_new) = policy.step(tokens[chunk, p - 1], state)  # (r, V)
                h[chunk] = h_new.transpose(0, 1)
                c[chunk] = c_new.transpose(0, 1)
                for memory, new in zip(lookback, lookback_new):
                    for field, value in zip(memory, new):
                        field[chunk] = value
                tokens[chunk, p] = draw(logits, row_noise[chunk, p], temperature, top_k)
                if policy.end_token is not None:
                    ended[chunk] |= tokens[chunk, p] == policy.end_token
            # Rows with t = p start here, from the teacher-forced logits for x_{p+1} of their sequence.
            for first in range(running, starts[p], chunk_size):
                chunk = slice(first, min(first + chunk_size, starts[p]))
                tokens[chunk, p] = draw(logits_along[p - 1].index_select(0, sequence[chunk]), row_noise[chunk, p],
                                        temperature, top_k)
                if policy.end_token is not None:
                    ended[chunk] |= tokens[chunk, p] == policy.end_token
        return _finish(policy, tokens)


def skips_ended_chunks(device: torch.device) -> bool:
    """Whether the rollout tests each chunk for rows that have all ended, to skip it: on the CPU only.
    On a GPU the test would make the host wait for the device at every chunk and position; there
    every chunk is computed instead (the same tokens come out: _finish pads what follows an end)."""
    return device.type == "cpu"


def _ends_by(policy: Generator, tokens: Tensor, lengths: Tensor) -> Tensor:
    """(R,) bool: whether the first `lengths[r]` tokens of row r hold the end token."""
    if policy.end_token is None:
        return torch.zeros(tokens.shape[:1], dtype=torch.bool, device=tokens.device)
    inside = torch.arange(tokens.shape[1], device=tokens.device) < lengths.unsqueeze(1)  # (R, T)
    return ((tokens == policy.end_token) & inside).any(dim=1)


def _row_noise(noise: Tensor | None, sequences: Tensor, chosen: Tensor, rows: tuple[Tensor, Tensor, Tensor],
               rollouts: int, generator: torch.Generator | None) -> Tensor:
    """Each row's uniforms (R, T): noise[n, t-1, b] of the full noise; without noise, the full noise is
    drawn when every prefix is rolled out (the paper's stream) and only the rows' own otherwise."""
    prefix, n, sequence = rows
    if noise is None and not bool(chosen.all()):
        return uniforms((prefix.shape[0], sequences.shape[1]), generator, sequences.device)
    noise = _checked_noise(noise, sequences, rollouts, generator)
    return noise[n, prefix, sequence]


def rollout_completions(policy: Generator, sequences: Tensor, rollouts: int, noise: Tensor | None = None,
                        generator: torch.Generator | None = None, chunk_size: int = 256,
                        temperature: float = 1.0, top_k: int | None = None) -> Tensor:
    """The vectorized Monte Carlo search: every completion (N, T-1, B, T) of every prefix of `sequences`.

    completions[n, t-1, b] keeps sequences[b, :t] and samples positions t..T-1 with the policy,
    drawing position p with noise[n, t-1, b, p]. See the module docstring for the row layout.
    """
    check_sampling(temperature, top_k)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    noise = _checked_noise(noise, sequences, rollouts, generator)
    batch, length = sequences.shape
    chosen = rollout_positions(sequences)
    rows = _rollout_rows(chosen, rollouts)
    tokens = _complete_rows(policy, sequences, rows, _row_noise(noise, sequences, chosen, rows, rollouts, generator),
                            chunk_size, temperature, top_k)
    return tokens.view(length - 1, rollouts, batch, length).transpose(0, 1)  # (N, T-1, B, T)


def naive_rollout_completions(policy: Generator, sequences: Tensor, rollouts: int, noise: Tensor | None = None,
                              generator: torch.Generator | None = None, temperature: float = 1.0,
                              top_k: int | None = None) -> Tensor:
    """The reference algorithm's completions (N, T-1, B, T): per (n, t), rerun the prefix, then sample."""
    check_sampling(temperature, top_k)
    noise = _checked_noise(noise, sequences, rollouts, generator)
    batch, length = sequences.shape
    completions = sequences.new_empty((rollouts, length - 1, batch, length))  # (N, T-1, B, T)
    with evaluating(policy):
        inputs = policy.shift_right(sequences)  # (B, T): the start token, x_1..x_{T-1}
        for n in range(rollouts):
            for t in range(1, length):
                state = policy.initial_state(batch)
                for i in range(t + 1):  # the start token, then x_1..x_t
                    logits, state = policy.step(inputs[:, i], state)  # (B, V): logits for x_{i+1}
                completion = sequences.clone()  # (B, T)
                for p in range(t, length):
                    token = draw(logits, noise[n, t - 1, :, p], temperature, top_k)  # (B,)
                    completion[:, p] = token
                    if p < length - 1:
                        logits, state = policy.step(token, state)
                completions[n, t - 1] = _finish(policy, completion)
    return completions


def score_rows(scorer: Scorer, rows: Tensor, chunk_size: int, precision: str) -> Tensor:
    """D's P(real) of each row (R, T) -> (R,), `chunk_size` rows per call, under bf16 autocast if asked;
    any other scorer (PG-BLEU's) takes all the rows at once.

    Only D's logit runs under autocast; the sigmoid runs in the discriminator's parameter dtype (as
    `Discriminator.probability_real` does), which keeps bf16 scores within ~0.002 of float32 ones.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if not isinstance(scorer, nn.Module):  # a plain scorer; a module is a discriminator giving logits
        return scorer(rows)
    discriminator = scorer
    dtype = next((p.dtype for p in discriminator.parameters() if p.is_floating_point()), torch.float32)
    autocast = (torch.autocast(rows.device.type, dtype=torch.bfloat16) if precision == "bfloat16" else nullcontext())
    parts = []
    for first in range(0, rows.shape[0], chunk_size):
        with autocast:
            logits = discriminator(rows[first:first + chunk_size])  # (r,)
        parts.append(torch.sigmoid(logits.to(dtype)))
    return torch.cat(parts) if parts else rows.new_empty((0,), dtype=dtype)


def score_completions(scorer: Scorer, policy: Generator, sequences: Tensor, completions: Tensor,
                      chunk_size: int = 256, precision: str = "float32") -> Tensor:
    """Rewards (B, T) from completions (N, T-1, B, T): the mean score over n for t < T, the score of x
    for t = T, zero after the first end token. The scorer is D (its P(real)) or any sequence scorer."""
    rollouts, prefixes, batch, length = completions.shape
    with evaluating(*[scorer] if isinstance(scorer, nn.Module) else []):
        # Score rows in the vectorized layout (t, n, b) so each chunk shares a prefix length.
        rows = completions.transpose(0, 1).reshape(prefixes * rollouts * batch, length)  # (R, T)
        scores = score_rows(scorer, rows, chunk_size, precision).view(prefixes, rollouts, batch)  # (T-1, N, B)
        final = score_rows(scorer, sequences, chunk_size, precision)  # (B,)
    rewards = torch.cat([scores.mean(dim=1).transpose(0, 1), final.unsqueeze(1)], dim=1)  # (B, T)
    return rewards * policy.token_mask(sequences).to(rewards.dtype)


def rollout_rewards(policy: Generator, scorer: Scorer, sequences: Tensor, rollouts: int,
                    noise: Tensor | None = None, generator: torch.Generator | None = None,
                    chunk_size: int = 256, precision: str = "float32", temperature: float = 1.0,
                    top_k: int | None = None, every: str | int = EVERY_TOKEN, bar_token: int | None = None) -> Tensor:
    """Rewards (B, T) for `sequences` by N-time Monte Carlo search with `policy` (the rollout network).

    Q(t) is the mean over the N completions of prefix x_1..x_t of the score (D's P(real)) for t < T,
    Q(T) the score of x_1..x_T; rewards after the first end token are zero. Sampling runs in the policy's dtype,
    `chunk_size` rows at a time; D scores `chunk_size` rows per call, under bfloat16 autocast when
    precision is "bfloat16" (about half D's time on CPU, rewards within ~0.01). D's training mode is
    restored afterwards. `noise` (see `rollout_noise`) or `generator` makes the result reproducible.

    `every` (see `rollout_positions`) rolls out only some prefixes: each token is then credited with
    the Q of the first rolled-out prefix that contains it ("bar": the Q at its bar's end). Row (t, n, b)
    uses noise[n, t-1, b] whichever prefixes are rolled out, so the Qs equal the token-level ones.
    """
    check_sampling(temperature, top_k)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    _check_inputs(sequences, rollouts)
    batch, length = sequences.shape
    chosen = rollout_positions(sequences, every, bar_token)  # (B, T)
    rows = _rollout_rows(chosen, rollouts)
    prefix, n, sequence = rows
    completions = _complete_rows(policy, sequences, rows, _row_noise(noise, sequences, chosen, rows, rollouts, generator),
                                 chunk_size, temperature, top_k)  # (R, T)
    with evaluating(*[scorer] if isinstance(scorer, nn.Module) else []):
        scores = score_rows(scorer, completions, chunk_size, precision)  # (R,)
        final = score_rows(scorer, sequences, chunk_size, precision)  # (B,)
    # Every row's score in the full (T-1, N, B) layout (zero where not rolled out), averaged over n.
    laid_out = scores.new_zeros((length - 1, rollouts, batch))
    laid_out[prefix, n, sequence] = scores
    q = torch.cat([laid_out.mean(dim=1).transpose(0, 1), final.unsqueeze(1)], dim=1)  # (B, T)
    rewards = q.gather(1, credited_positions(chosen))  # (B, T)
    return rewards * policy.token_mask(sequences).to(rewards.dtype)


def naive_rollout_rewards(policy: Generator, discriminator: Discriminator, sequences: Tensor, rollouts: int,
                          noise: Tensor | None = None, generator: torch.Generator | None = None,
                          temperature: float = 1.0, top_k: int | None = None) -> Tensor:
    """The reference implementation's rewards (B, T), float32, one D call per (rollout, prefix) batch.

    Same definition and same noise layout as `rollout_rewards`, computed the slow way; the ground truth
    the vectorized rollout is tested and benchmarked against.
    """
    completions = naive_rollout_completions(policy, sequences, rollouts, noise, generator, temperature, top_k)
    return naive_score_completions(discriminator, policy, sequences, completions)


def naive_score_completions(discriminator: Discriminator, policy: Generator, sequences: Tensor,
                            completions: Tensor) -> Tensor:
    """The reference's scoring of completions (N, T-1, B, T): one D call per (n, t) batch -> rewards (B, T)."""
    rollouts = completions.shape[0]
    batch, length = sequences.shape
    with evaluating(discriminator):
        rewards = torch.stack([discriminator.probability_real(sequences)] * length, dim=1)  # (B, T), Q(T) last
        for t in range(1, length):
            rewards[:, t - 1] = sum(discriminator.probability_real(completions[n, t - 1])
                                    for n in range(rollouts)) / rollouts
    return rewards * policy.token_mask(sequences).to(rewards.dtype)
