"""MaskGAN's models (Fedus, Goodfellow and Dai, ICLR 2018, "MaskGAN: Better text generation via
filling in the ______"): an in-filling generator with a critic head, and a discriminator that judges
every filled token given the masked context.

The generator is a sequence-to-sequence model over sequences of one length T. The encoder, an LSTM
(bidirectional by default), reads the masked sequence: each position either its token (kept) or the
MASK input, an embedding row of its own, so vocabularies and corpora stay as they are. The decoder,
an LSTM, writes the sequence left to right; at step t it reads the previous token and the encoder's
output at position t (the in-filling is aligned), and its output attends over every encoder state
(Luong's dot-product attention, as the authors' attention_option=luong), so a kept token far away is
one look away. At a kept position it is fed the real token, at a masked one it samples. A critic
head on the decoder's attended output (read without gradient, so the critic never moves the actor)
estimates the value of the state each token is chosen from, the baseline of MaskGAN's actor-critic.

Free generation is in-filling with nothing kept, and `log_probs` is the exact likelihood of a
sequence given a fully masked input of its length, so NLL_test, NLL_oracle, evaluation, generation
and sampling treat this generator as any other. It has no left-to-right `step` of unbounded length
(the encoder needs the whole length up front): whatever needs one refuses it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional

from seqgan_music.models.generator import INIT_STD, Generator
from seqgan_music.models.sampling import check_sampling, draw, uniforms

MASK_KINDS = ("contiguous", "random")  # config.py's maskgan.mask


def _initialise(module: nn.Module) -> None:
    """The generator's initialisation: every weight and bias from N(0, INIT_STD^2), the LSTMs'
    second bias zero (torch has two where the reference has one)."""
    for name, parameter in module.named_parameters():
        if "bias_hh" in name:
            nn.init.zeros_(parameter)
        else:
            nn.init.normal_(parameter, std=INIT_STD)


class MaskedContext(nn.Module):
    """The encoder both MaskGAN models share in shape: an embedding with a MASK row after `rows`
    token rows, and an LSTM over the masked sequence; its output at each position (B, T, C)."""

    def __init__(self, rows: int, embedding_dim: int, hidden_dim: int, layers: int, bidirectional: bool) -> None:
        super().__init__()
        self.mask_token = rows
        self.embedding = nn.Embedding(rows + 1, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        self.width = hidden_dim * (2 if bidirectional else 1)

    def forward(self, tokens: Tensor, keep: Tensor) -> Tensor:
        out, _ = self.lstm(self.embedding(tokens.masked_fill(~keep, self.mask_token)))
        return out


class MaskGANGenerator(Generator):
    """The in-filling generator: `context` (the encoder), the Generator's embedding, `lstm` (the
    decoder, whose input is a token's embedding and the context at its position), the attention
    (`attention_key`, `attention_combine`) and `output`, and `critic` (hidden -> `critic_hidden` ->
    1, on the detached attended output)."""

    def __init__(self, vocab_size: int, embedding_dim: int = 32, hidden_dim: int = 32, layers: int = 1,
                 bidirectional: bool = True, critic_hidden: int = 32, start_token: int | None = None,
                 end_token: int | None = None, pad_token: int | None = None) -> None:
        super().__init__(vocab_size, embedding_dim, hidden_dim, layers, start_token=start_token,
                         end_token=end_token, pad_token=pad_token)
        if critic_hidden < 1:
            raise ValueError(f"critic_hidden must be >= 1, got {critic_hidden}")
        self.bidirectional = bidirectional
        self.context = MaskedContext(self.embedding.num_embeddings, embedding_dim, hidden_dim, layers, bidirectional)
        self.lstm = nn.LSTM(embedding_dim + self.context.width, hidden_dim, num_layers=layers, batch_first=True)
        self.attention_key = nn.Linear(self.context.width, hidden_dim, bias=False)
        self.attention_combine = nn.Linear(hidden_dim + self.context.width, hidden_dim)
        self.critic = nn.Sequential(nn.Linear(hidden_dim, critic_hidden), nn.Tanh(), nn.Linear(critic_hidden, 1))
        for module in (self.context, self.lstm, self.attention_key, self.attention_combine, self.critic):
            _initialise(module)

    # ------------------------------------------------------------------ teacher forcing
    def forward(self, tokens: Tensor, keep: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        """The decoder run over `tokens` (B, T) given the masked input (`keep` (B, T) bool: the
        encoder sees those tokens, MASK elsewhere): logits (B, T, V) for each token, and the
        attended decoder output (B, T, H) each token is chosen from (what the critic reads)."""
        context = self.context(tokens, keep)  # (B, T, C)
        inputs = torch.cat([self.embedding(self.shift_right(tokens)), context], dim=-1)  # (B, T, E + C)
        out, _ = self.lstm(inputs)  # (B, T, H)
        attended = self.attend(out, context, self.attention_key(context))
        return self.output(attended), attended

    def attend(self, out: Tensor, context: Tensor, keys: Tensor) -> Tensor:
        """Luong's attention: each decoder output (B, t, H) scores the encoder states by their keys
        (B, T, H), and tanh(W [output; the states weighted by the softmax]) (B, t, H) is what the
        output layer and the critic read."""
        weights = torch.softmax(out @ keys.transpose(1, 2), dim=-1)  # (B, t, T)
        return torch.tanh(self.attention_combine(torch.cat([out, weights @ context], dim=-1)))

    def infill_log_probs(self, tokens: Tensor, keep: Tensor, temperature: float = 1.0) -> Tensor:
        """log p(x_t | masked input, x_<t) of every token (B, T) under the logits / `temperature`."""
        logits, _ = self(tokens, keep)
        if temperature != 1.0:
            logits = logits / temperature
        picked = functional.cross_entropy(logits.flatten(0, 1), tokens.flatten(), reduction="none")
        return -picked.view(tokens.shape)

    def log_probs(self, sequences: Tensor, temperature: float = 1.0) -> Tensor:
        """log p(x_t | x_<t) given a fully masked input of the sequences' length (B, T): free generation's."""
        return self.infill_log_probs(sequences, torch.zeros_like(sequences, dtype=torch.bool), temperature)

    def values(self, decoder_out: Tensor) -> Tensor:
        """The critic's value (B, T) of each attended decoder output (`forward`'s second), read
        without gradient into the decoder."""
        return self.critic(decoder_out.detach()).squeeze(-1)

    def step(self, tokens: Tensor, state):  # type: ignore[override]
        raise ValueError("a MaskGAN generator writes by in-filling a sequence of known length (infill, sample): "
                         "it has no open-ended left-to-right step")

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def infill(self, tokens: Tensor, keep: Tensor, temperature: float = 1.0, top_k: int | None = 0,
               generator: torch.Generator | None = None, banned: Tensor | None = None) -> Tensor:
        """`tokens` (n, T) with every position where `keep` (n, T) is False sampled from the decoder,
        left to right, given the kept tokens (both sides, through the encoder) and the tokens before
        it; kept positions come back unchanged. `banned` (V,) bool: tokens never sampled (on top of
        `ban`'s). `generator` supplies the noise, one uniform per position drawn up front whether it
        is kept or not, so a seed gives the same draws (and fills) again."""
        check_sampling(temperature, top_k)
        if tokens.ndim != 2 or keep.shape != tokens.shape or keep.dtype != torch.bool:
            raise ValueError(f"infill takes tokens (n, T) and a bool keep of the same shape, got "
                             f"{tuple(tokens.shape)} and {tuple(keep.shape)} {keep.dtype}")
        if banned is not None and (banned.shape != (self.vocab_size,) or banned.dtype != torch.bool):
            raise ValueError(f"banned must be a bool tensor of shape ({self.vocab_size},), got "
                             f"{tuple(banned.shape)} {banned.dtype}")
        kept = tokens[keep]
        if len(kept) and (int(kept.min()) < 0 or int(kept.max()) >= self.vocab_size):
            raise ValueError(f"a kept token is outside the vocabulary 0..{self.vocab_size - 1}")
        rows, length = tokens.shape
        device = self.device
        tokens, keep = tokens.to(device), keep.to(device)
        noise = uniforms((length, rows), generator, device)  # (T, n)
        filled = tokens.clone()
        if rows == 0 or length == 0:
            return filled
        context = self.context(tokens, keep)  # (n, T, C): a masked position's id is never read
        keys = self.attention_key(context)  # (n, T, H)
        previous = torch.full((rows,), self.start_token, dtype=torch.long, device=device)
        state = None
        for t in range(length):
            inputs = torch.cat([self.embedding(previous), context[:, t]], dim=-1).unsqueeze(1)  # (n, 1, E + C)
            out, state = self.lstm(inputs, state)
            if not bool(keep[:, t].all()):
                logits = self._allowed(self.output(self.attend(out, context, keys).squeeze(1)))  # (n, V)
                if banned is not None:
                    logits = logits.masked_fill(banned.to(device), float("-inf"))
                filled[:, t] = torch.where(keep[:, t], tokens[:, t], draw(logits, noise[t], temperature, top_k or None))
            previous = filled[:, t]
        return filled

    @torch.no_grad()
    def sample(self, n: int, length: int, temperature: float = 1.0, top_k: int | None = None,
               generator: torch.Generator | None = None, batch_size: int = 1024,
               prefix: Tensor | None = None) -> Tensor:
        """`n` sequences of `length` tokens in-filled from nothing kept (the first N given by `prefix`
        (n, N) kept), `batch_size` rows at a time; padded after the first end token as Generator.sample."""
        check_sampling(temperature, top_k)
        if n < 0 or length < 0 or batch_size < 1:
            raise ValueError(f"sample needs n >= 0, length >= 0 and batch_size >= 1, got {n}, {length}, {batch_size}")
        if prefix is not None and (prefix.ndim != 2 or len(prefix) != n or prefix.shape[1] > length):
            raise ValueError(f"prefix must be (n, N) with N <= length = {length}, got {tuple(prefix.shape)} for n = {n}")
        fill = self.end_token if self.pad_token is None else self.pad_token
        batches = []
        for first in range(0, n, batch_size):
            rows = min(batch_size, n - first)
            tokens = torch.full((rows, length), 0 if fill is None else fill, dtype=torch.long, device=self.device)
            keep = torch.zeros((rows, length), dtype=torch.bool, device=self.device)
            if prefix is not None:
                tokens[:, :prefix.shape[1]] = prefix[first:first + rows].to(self.device)
                keep[:, :prefix.shape[1]] = True
            batches.append(self.infill(tokens, keep, temperature, top_k, generator))
        sequences = torch.cat(batches) if batches else torch.empty((0, length), dtype=torch.long, device=self.device)
        if self.end_token is None:
            return sequences
        return sequences.masked_fill(self.token_mask(sequences) == 0, fill)


class MaskGANDiscriminator(nn.Module):
    """D of the same encoder-decoder shape: the encoder reads the masked sequence, the decoder the
    filled one (token t's embedding and the context at t); the logit (B, T) that each token is real."""

    def __init__(self, vocab_size: int, embedding_dim: int = 32, hidden_dim: int = 32, layers: int = 1,
                 bidirectional: bool = True) -> None:
        super().__init__()
        self.context = MaskedContext(vocab_size, embedding_dim, hidden_dim, layers, bidirectional)
        self.lstm = nn.LSTM(embedding_dim + self.context.width, hidden_dim, num_layers=layers, batch_first=True)
        self.output = nn.Linear(hidden_dim, 1)
        _initialise(self)

    def forward(self, filled: Tensor, keep: Tensor) -> Tensor:
        context = self.context(filled, keep)  # (B, T, C)
        out, _ = self.lstm(torch.cat([self.context.embedding(filled), context], dim=-1))  # (B, T, H)
        return self.output(out).squeeze(-1)


def draw_keep(tokens: Tensor, counted: Tensor, kind: str, rate: float, full_share: float,
              noise: torch.Generator | None) -> Tensor:
    """Which positions of `tokens` (B, T) a training mask keeps (B, T) bool. `counted` (B, T): the
    positions up to each sequence's end token (the rest, padding, are kept). "contiguous": one span
    of round(rate * L) positions (at least one) at a uniform place among a sequence's L counted
    ones; "random": each counted position masked with probability `rate`. A share `full_share` of
    the sequences is masked whole, padding too: free generation's input."""
    if kind not in MASK_KINDS:
        raise ValueError(f"unknown mask kind {kind!r}: one of {', '.join(MASK_KINDS)}")
    batch, length = tokens.shape
    device = tokens.device
    counted = counted > 0
    if kind == "contiguous":
        lengths = counted.sum(dim=1)  # (B,)
        spans = torch.round(lengths * rate).long().clamp(min=1).minimum(lengths)  # (B,)
        starts = (uniforms(batch, noise, device) * (lengths - spans + 1)).long()  # (B,)
        positions = torch.arange(length, device=device).unsqueeze(0)  # (1, T)
        masked = (positions >= starts.unsqueeze(1)) & (positions < (starts + spans).unsqueeze(1))
    else:
        masked = (uniforms((batch, length), noise, device) < rate) & counted
    whole = uniforms(batch, noise, device) < full_share  # (B,)
    return ~(masked | whole.unsqueeze(1))
