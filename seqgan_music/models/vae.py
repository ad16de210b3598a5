"""Latent-variable sequence models: an LSTM encoder reads a whole sequence into a code, an LSTM
decoder starts from that code and writes the sequence again.

`CodeConditionedGenerator` is what the VAE and ARAE (models/arae.py) share: the decoder is the
package's Generator (embedding, LSTM, output layer, stepping and sampling), whose initial hidden
state is a linear map of the code (Bowman et al. 2016: z initialises the decoder). Outside a
`conditioned_on` block the code is zero, the prior's mean, so every path that steps a generator
from its initial state (rollouts) still works; composing (composing/continuation.py) decodes each
tune from a code of `prior_codes`, drawn with the tune's seed, or from a code it is given.

`SentenceVAE` (Bowman et al. 2016, "Generating sentences from a continuous space") adds the
Gaussian posterior q(z | x) = N(mu, sigma^2), word (token) dropout on the decoder's inputs and
sampling from the prior N(0, I). Its NLL is not tractable: `log_probs` gives the importance-weighted
bound of Burda et al. (2016) with K samples of q (K = 1: the ELBO), an upper bound on the true NLL
in expectation, spread evenly over each sequence's counted tokens so that the per-token NLL_test
and the per-sequence sums the app computes read the bound. The K draws come from a fixed seed and
are the same for every sequence, so the same weights always give the same figure, whatever the batch.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn
from torch.nn import functional

from seqgan_music.models.generator import INIT_STD, Generator, State
from seqgan_music.models.sampling import uniforms

BOUND_SEED = 0  # the fixed noise of the NLL bound's draws
# (sequences, noise) -> codes (B, C) and the log of each code's importance weight but p(x | code) (B,)
CodeDraw = Callable[[Tensor, torch.Generator], tuple[Tensor, Tensor]]


class CodeConditionedGenerator(Generator):
    """An encoder LSTM over the same embedding, and a Generator whose initial hidden state is
    `code_to_state(code)` (cell state zero). The embedding has one more row, the blank that token
    dropout puts in place of a dropped input."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_dim: int, layers: int, code_size: int,
                 start_token: int | None = None, end_token: int | None = None, pad_token: int | None = None) -> None:
        super().__init__(vocab_size, embedding_dim, hidden_dim, layers, start_token=start_token, end_token=end_token,
                         pad_token=pad_token)
        if code_size < 1:
            raise ValueError(f"code_size must be >= 1, got {code_size}")
        self.code_size = code_size
        self.blank = self.embedding.num_embeddings  # the row after the start row
        self.embedding = nn.Embedding(self.blank + 1, embedding_dim)
        self.encoder = nn.LSTM(embedding_dim, hidden_dim, num_layers=layers, batch_first=True)
        self.code_to_state = nn.Linear(code_size, layers * hidden_dim)
        for name, parameter in self.named_parameters():
            if name.startswith(("embedding.", "encoder.", "code_to_state.")):
                if name.startswith("encoder.bias_hh"):
                    nn.init.zeros_(parameter)
                else:
                    nn.init.normal_(parameter, std=INIT_STD)
        self._codes: Tensor | None = None  # the codes `initial_state` starts from (conditioned_on)

    # ------------------------------------------------------------------ the decoder, from a code
    def state_from(self, codes: Tensor) -> tuple[Tensor, Tensor]:
        """(h, c), each (layers, B, H): h a linear map of the codes (B, C), c zero."""
        h = self.code_to_state(codes).view(len(codes), self.lstm.num_layers, self.lstm.hidden_size)
        h = h.transpose(0, 1).contiguous()
        return h, torch.zeros_like(h)

    def forward(self, inputs: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Teacher forcing as Generator's, but without a state from `initial_state` (the code of
        `conditioned_on`, else code zero), as stepping starts, never from the LSTM's zeros."""
        return super().forward(inputs, self.initial_state(len(inputs)) if state is None else state)

    def prior_codes(self, n: int, noise: torch.Generator | None) -> Tensor:
        """`n` codes (n, C) drawn as the model samples them (its prior, or its code generator) with `noise`."""
        raise NotImplementedError

    @property
    def nll_bound(self) -> str:
        """What `log_probs` gives instead of the exact log-likelihood, in words."""
        raise NotImplementedError

    def initial_state(self, batch: int) -> State:
        """The state of the codes set by `conditioned_on` (as many rows as `batch`), else of code zero."""
        codes = self._codes
        if codes is None:
            weight = self.output.weight
            codes = torch.zeros((batch, self.code_size), device=weight.device, dtype=weight.dtype)
        elif len(codes) != batch:
            raise ValueError(f"the decoder is conditioned on {len(codes)} codes, asked for a batch of {batch}")
        return self.state_from(codes)

    @contextlib.contextmanager
    def conditioned_on(self, codes: Tensor) -> Iterator[None]:
        """Within the block, `initial_state` starts from these codes (B, C)."""
        previous, self._codes = self._codes, codes
        try:
            yield
        finally:
            self._codes = previous

    def teacher_forced_log_probs(self, sequences: Tensor, codes: Tensor, temperature: float = 1.0,
                                 dropped: Tensor | None = None) -> Tensor:
        """log p(x_t | x_<t, code) of every token (B, T); where `dropped` (B, T) is True, the input
        that predicts token t is the blank instead."""
        inputs = self.shift_right(sequences)  # (B, T)
        if dropped is not None:
            inputs = inputs.masked_fill(dropped, self.blank)
        logits, _ = self(inputs, self.state_from(codes))  # (B, T, V)
        if temperature != 1.0:
            logits = logits / temperature
        picked = functional.cross_entropy(logits.flatten(0, 1), sequences.flatten(), reduction="none")
        return -picked.view(sequences.shape)

    @torch.no_grad()
    def decode(self, codes: Tensor, length: int, temperature: float = 1.0, top_k: int | None = None,
               generator: torch.Generator | None = None, batch_size: int = 1024) -> Tensor:
        """One sequence of `length` tokens per code (N, C), drawn as Generator.sample draws (padded
        after the end token); `generator` supplies the tokens' noise."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        batches = []
        for first in range(0, len(codes), batch_size):
            rows = codes[first:first + batch_size]
            with self.conditioned_on(rows):
                batches.append(Generator.sample(self, len(rows), length, temperature, top_k, generator, len(rows)))
        if not batches:
            return torch.empty((0, length), dtype=torch.long, device=self.device)
        return torch.cat(batches)

    @torch.no_grad()
    def sample(self, n: int, length: int, temperature: float = 1.0, top_k: int | None = None,
               generator: torch.Generator | None = None, batch_size: int = 1024, prefix: Tensor | None = None) -> Tensor:
        """`n` sequences decoded from `prior_codes` (codes and tokens drawn with `generator`)."""
        if prefix is not None:
            raise ValueError(f"{type(self).__name__} decodes whole sequences from drawn codes: it continues no prefix")
        return self.decode(self.prior_codes(n, generator), length, temperature, top_k, generator, batch_size)

    # ------------------------------------------------------------------ the encoder
    def encoder_output(self, sequences: Tensor) -> Tensor:
        """The encoder's last layer's output (B, H) at each sequence's last counted token (its end
        token, or the last position), so padding never enters the code."""
        out, _ = self.encoder(self.embedding(sequences))  # (B, T, H)
        last = (self.token_mask(sequences).sum(dim=1).long() - 1).clamp(min=0)  # (B,)
        return out[torch.arange(len(sequences), device=sequences.device), last]

    # ------------------------------------------------------------------ the NLL bound
    def bound_log_probs(self, sequences: Tensor, temperature: float, samples: int, draw_codes: CodeDraw) -> Tensor:
        """log p(x) estimated as log (1/K sum_k p(x | z_k) w_k) over K = `samples` draws (codes z_k and
        log weights log w_k from `draw_codes`, fixed noise), spread evenly over the counted tokens (B, T)."""
        noise = torch.Generator(device=sequences.device).manual_seed(BOUND_SEED)
        mask = self.token_mask(sequences)  # (B, T)
        terms = []
        for _ in range(samples):
            codes, log_weights = draw_codes(sequences, noise)
            reconstruction = (self.teacher_forced_log_probs(sequences, codes, temperature) * mask).sum(dim=1)
            terms.append(reconstruction + log_weights)
        log_likelihood = torch.logsumexp(torch.stack(terms), dim=0) - math.log(samples)  # (B,)
        return (log_likelihood / mask.sum(dim=1).clamp(min=1)).unsqueeze(1) * mask


class SentenceVAE(CodeConditionedGenerator):
    """Bowman et al.'s VAE: q(z | x) = N(mu(x), diag sigma^2(x)) from the encoder's last output, the
    prior N(0, I), the decoder started from z; `token_dropout` of the decoder's inputs (the start
    token never) become the blank while training."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_dim: int, layers: int, latent: int,
                 token_dropout: float = 0.0, nll_samples: int = 1, start_token: int | None = None,
                 end_token: int | None = None, pad_token: int | None = None) -> None:
        super().__init__(vocab_size, embedding_dim, hidden_dim, layers, latent, start_token, end_token, pad_token)
        if not 0.0 <= token_dropout <= 1.0 or nll_samples < 1:
            raise ValueError(f"token_dropout must be in [0, 1] and nll_samples >= 1, got {token_dropout}, {nll_samples}")
        self.token_dropout = token_dropout
        self.nll_samples = nll_samples
        self.posterior_head = nn.Linear(hidden_dim, 2 * latent)
        nn.init.normal_(self.posterior_head.weight, std=INIT_STD)
        nn.init.zeros_(self.posterior_head.bias)

    @property
    def latent(self) -> int:
        return self.code_size

    def posterior(self, sequences: Tensor) -> tuple[Tensor, Tensor]:
        """mu and log sigma^2 of q(z | x), (B, latent) each."""
        mu, log_variance = self.posterior_head(self.encoder_output(sequences)).chunk(2, dim=1)
        return mu, log_variance

    def encode(self, sequences: Tensor) -> Tensor:
        """The posterior means (B, latent): where each sequence sits in the latent space."""
        return self.posterior(sequences)[0]

    def dropped_inputs(self, sequences: Tensor, noise: torch.Generator) -> Tensor:
        """Which decoder inputs token dropout replaces (B, T) bool: each with probability
        `token_dropout`, never the first (the start token)."""
        dropped = uniforms(sequences.shape, noise, sequences.device) < self.token_dropout
        dropped[:, 0] = False
        return dropped

    def elbo_terms(self, sequences: Tensor, noise: torch.Generator, dropout: bool = True) -> tuple[Tensor, Tensor]:
        """One draw of z ~ q(z | x) with `noise` (and the dropout's coins): each sequence's
        reconstruction NLL -log p(x | z) over its counted tokens and its KL(q || p), (B,) each, in nats."""
        mu, log_variance = self.posterior(sequences)
        z = mu + torch.exp(0.5 * log_variance) * torch.randn(mu.shape, generator=noise, device=mu.device,
                                                             dtype=mu.dtype)
        dropped = self.dropped_inputs(sequences, noise) if dropout and self.token_dropout > 0 else None
        mask = self.token_mask(sequences)
        reconstruction = -(self.teacher_forced_log_probs(sequences, z, dropped=dropped) * mask).sum(dim=1)
        kl = 0.5 * (mu.square() + log_variance.exp() - 1.0 - log_variance).sum(dim=1)
        return reconstruction, kl

    def prior_codes(self, n: int, noise: torch.Generator | None) -> Tensor:
        """`n` codes from the prior N(0, I), drawn with `noise`."""
        weight = self.output.weight
        return torch.randn((n, self.latent), generator=noise, device=weight.device, dtype=weight.dtype)

    @property
    def nll_bound(self) -> str:
        return (f"an upper bound: importance-weighted over {self.nll_samples} posterior draw"
                f"{'s' if self.nll_samples != 1 else ' (the ELBO)'}")

    def log_probs(self, sequences: Tensor, temperature: float = 1.0) -> Tensor:
        """The importance-weighted bound on log p(x) with `nll_samples` draws of q (1: the ELBO),
        spread over the counted tokens (B, T): see the module's docstring."""

        def draw(rows: Tensor, noise: torch.Generator) -> tuple[Tensor, Tensor]:
            mu, log_variance = self.posterior(rows)
            # one draw for every row, so that a sequence's figure does not depend on its batch
            epsilon = torch.randn((1, self.latent), generator=noise, device=mu.device, dtype=mu.dtype).expand_as(mu)
            z = mu + torch.exp(0.5 * log_variance) * epsilon
            log_prior = -0.5 * z.square().sum(dim=1)
            log_posterior = -0.5 * (epsilon.square() + log_variance).sum(dim=1)  # the 2 pi terms cancel
            return z, log_prior - log_posterior

        return self.bound_log_probs(sequences, temperature, self.nll_samples, draw)
