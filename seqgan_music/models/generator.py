"""The SeqGAN generator G_theta: an LSTM language model over token ids.

One module serves every use: teacher-forced scoring for MLE and NLL (`forward`, `log_probs`),
token-by-token sampling (`step`, `sample`), and the per-prefix states the Monte Carlo rollout
continues from (`states_along`). Every path feeds the start token first, exactly as generation
does, so a rollout from a prefix sees the same history the generator saw when it drew it.

With `lookback`, each LSTM input also carries the tokens some bars back (`lookback_bars`, one and
two by default) and one part back and
the position in the bar and in the part (models/lookback.py): teacher forcing computes them
vectorised from the inputs, stepping carries a `LookbackState` as the third part of the state.
With `attention` as well, the next token's distribution mixes the LSTM's with the tokens that the
tune's earlier bars offer at the same place (models/bar_attention.py), and the state's fourth part
is the keys of the bars begun so far. The logits are then log-probabilities of the mixture.

The recurrent core is the LSTM, or with `core="relational"` RelGAN's relational memory
(models/relational_memory.py), called the same way and with a state of the same form, so every
path above works with either.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional

from seqgan_music.models import lookback as lookback_inputs
from seqgan_music.models.bar_attention import BarAttention, BarMemory
from seqgan_music.models.lookback import LookbackIds, LookbackState
from seqgan_music.models.relational_memory import RelationalMemory
from seqgan_music.models.sampling import check_sampling, draw, uniforms

INIT_STD = 0.1  # the reference implementation draws every generator weight and bias from N(0, 0.1^2)
POSITION_DIM = 8  # embedding size of each lookback position (in the bar, in the part)
CORES = ("lstm", "relational")  # the recurrent cores a generator can have (config.py's generator.core)

# (h, c), each (layers, B, H); a lookback generator's state adds the lookback state (batch first),
# one with attention also the bar memory.
State = tuple[Tensor, Tensor] | tuple[Tensor, Tensor, LookbackState] | tuple[Tensor, Tensor, LookbackState, BarMemory]
# states_along: h and c (T-1, layers, B, H), logits (T-1, B, V); with lookback, the lookback states
# (T-1, B, ...); with attention, the bar memories (T-1, B, ...).
StatesAlong = (tuple[Tensor, Tensor, Tensor] | tuple[Tensor, Tensor, Tensor, LookbackState]
               | tuple[Tensor, Tensor, Tensor, LookbackState, BarMemory])


class Generator(nn.Module):
    """Embedding -> LSTM -> linear logits over `vocab_size` tokens.

    `start_token` is the first input of every sequence. Oracle corpora use token 0, a normal
    vocabulary entry; when None, the start token is an extra embedding row (index `vocab_size`)
    that the output layer has no logit for, so it can never be generated.
    After the first `end_token` a sequence is over: later positions are masked out of losses and
    filled with `pad_token` (or `end_token` when there is no pad) by `sample`.
    With `lookback` (which needs `bar_token`; `part_token` None: no parts, part features none) the
    LSTM reads, beside each token's embedding, the embeddings of the lookback tokens (the same
    embedding, plus a row for "none") and small embeddings of the two positions. `attention` (which
    needs lookback) mixes in copies of the tune's earlier bars (models/bar_attention.py).
    `core="relational"` replaces the LSTM (and `hidden_dim`, `layers`: one block) by a relational
    memory of `memory_slots` slots of `memory_heads * memory_head_size`, the output its whole memory.
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 32, hidden_dim: int = 32, layers: int = 1,
                 start_token: int | None = None, end_token: int | None = None, pad_token: int | None = None,
                 lookback: bool = False, bar_token: int | None = None, part_token: int | None = None,
                 lookback_bars: Sequence[int] = (1, 2), attention: bool = False, header_tokens: int = 0,
                 core: str = "lstm", memory_slots: int = 1, memory_heads: int = 2, memory_head_size: int = 32) -> None:
        super().__init__()
        if min(vocab_size, embedding_dim, hidden_dim, layers) < 1:
            raise ValueError(f"vocab_size, embedding_dim, hidden_dim and layers must be >= 1, got "
                             f"{vocab_size}, {embedding_dim}, {hidden_dim}, {layers}")
        if core not in CORES:
            raise ValueError(f"core must be one of {', '.join(CORES)}, got {core!r}")
        if core == "relational" and layers != 1:
            raise ValueError(f"the relational memory core is one block: layers must be 1, got {layers}")
        for name, token in (("start_token", start_token), ("end_token", end_token), ("pad_token", pad_token),
                            ("bar_token", bar_token), ("part_token", part_token)):
            if token is not None and not 0 <= token < vocab_size:
                raise ValueError(f"{name} {token} is outside the vocabulary 0..{vocab_size - 1}")
        if lookback and bar_token is None:
            raise ValueError("lookback needs the bar line's token id (bar_token)")
        if (attention or header_tokens) and not lookback:
            raise ValueError("attention over bars and header inputs read the lookback state: they need lookback")
        rows = vocab_size + (start_token is None)
        # The ids lookback reads; "none" gets the embedding row after the start row.
        self.lookback = (LookbackIds(bar_token, part_token, none=rows, bars_back=tuple(lookback_bars),
                                     header=header_tokens) if lookback and bar_token is not None else None)
        self.vocab_size = vocab_size
        self.start_token = vocab_size if start_token is None else start_token
        self.end_token = end_token
        self.pad_token = pad_token
        self.embedding = nn.Embedding(rows + lookback, embedding_dim)
        if self.lookback is not None:
            self.step_embedding = nn.Embedding(lookback_inputs.STEP_VALUES, POSITION_DIM)
            self.bar_embedding = nn.Embedding(lookback_inputs.BAR_VALUES, POSITION_DIM)
        # the token, bars back, a part back, the header
        looked = 0 if self.lookback is None else len(self.lookback.bars_back) + 2 + self.lookback.header
        inputs = embedding_dim if self.lookback is None else looked * embedding_dim + 2 * POSITION_DIM
        self.core_kind = core
        if core == "lstm":
            self.lstm = nn.LSTM(inputs, hidden_dim, num_layers=layers, batch_first=True)
        else:
            self.relational_memory = RelationalMemory(inputs, memory_slots, memory_heads, memory_head_size)
        self.output = nn.Linear(self.core.hidden_size, vocab_size)
        self.attention = BarAttention(self.core.hidden_size, vocab_size) if attention else None
        # Tokens this model may never sample (a window model: the whole tunes' tokens); see `ban`.
        self.register_buffer("banned", torch.zeros(vocab_size, dtype=torch.bool), persistent=False)
        self.bans = False
        for name, parameter in self.named_parameters():
            # torch's LSTM adds two bias vectors where the reference has one: zero the second.
            if name.startswith("lstm.bias_hh"):
                nn.init.zeros_(parameter)
            elif not name.startswith("relational_memory."):  # its layer norms start at 1 and 0, as torch's
                nn.init.normal_(parameter, std=INIT_STD)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def core(self) -> nn.LSTM | RelationalMemory:
        """The recurrent core: the LSTM, or the relational memory (one calling convention, `hidden_size`,
        `num_layers`)."""
        return self.lstm if self.core_kind == "lstm" else self.relational_memory

    def initial_state(self, batch: int) -> State:
        """(h, c), each (layers, B, H), on the module's device and in its dtype: zeros for the LSTM, the
        initial memory (identity rows) flattened for the relational core; with lookback, also an empty
        lookback state (the next token consumed is the start token)."""
        weight = self.output.weight
        if self.core_kind == "relational":
            start = self.relational_memory.initial_memory(batch, weight).flatten(1).unsqueeze(0)  # (1, B, H)
            h, c = start, start.clone()
        else:
            h = torch.zeros((self.lstm.num_layers, batch, self.lstm.hidden_size), device=weight.device,
                            dtype=weight.dtype)
            c = h.clone()
        if self.lookback is None:
            return h, c
        memory = lookback_inputs.initial_state(batch, weight.device)
        if self.attention is None:
            return h, c, memory
        return h, c, memory, self.attention.empty_memory(batch, weight)

    def ban(self, token_ids: Sequence[int]) -> None:
        """Never sample these tokens: every step's logits for them are -inf (teacher forcing is unchanged).
        The one place a window model is kept from writing whole tunes' tokens, for every sampler."""
        self.banned.zero_()
        self.banned[list(token_ids)] = True
        self.bans = bool(self.banned.any())

    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        """Consume one token per row (B,): the logits (B, V) for the next token and the new state."""
        if self.lookback is None:
            out, state = self.core(self.embedding(tokens).unsqueeze(1), state)  # out (B, 1, H)
            return self._allowed(self.output(out.squeeze(1))), state
        h, c, memory, *bars = state
        memory = lookback_inputs.advance(memory, tokens, self.lookback)
        inputs = self._lookback_inputs(tokens, lookback_inputs.features(memory, self.lookback))  # (B, In)
        out, (h, c) = self.core(inputs.unsqueeze(1), (h, c))  # out (B, 1, H)
        logits = self.output(out)  # (B, 1, V)
        if self.attention is None:
            return self._allowed(logits.squeeze(1)), (h, c, memory)
        remembered = self.attention.remember(bars[0], out.squeeze(1), tokens, self.lookback.bar, memory.bars)
        logits = self.attention.mix(logits, out, remembered, lookback_inputs.bar_view(memory))
        return self._allowed(logits.squeeze(1)), (h, c, memory, remembered)

    def _allowed(self, logits: Tensor) -> Tensor:
        return logits.masked_fill(self.banned, float("-inf")) if self.bans else logits

    def forward(self, inputs: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Teacher forcing: inputs (B, T) -> logits (B, T, V) for each next token, and the final state.

        Without a state, a lookback generator reads inputs[:, 0] as the start token (as `initial_state`
        does); with one, it continues from it step by step.
        """
        if self.lookback is None:
            out, state = self.core(self.embedding(inputs), state)  # (B, T, H)
            return self.output(out), state
        if state is not None:
            logits = inputs.new_empty((*inputs.shape, self.vocab_size), dtype=self.output.weight.dtype)
            for t in range(inputs.shape[1]):
                logits[:, t], state = self.step(inputs[:, t], state)
            return logits, state
        consumed = inputs[:, 1:]  # (B, T - 1): the lookback history never holds the start token
        features = lookback_inputs.features_along(consumed, self.lookback)  # (B, T) each
        out, (h, c) = self.core(self._lookback_inputs(inputs, features))  # (B, T, H)
        memory = lookback_inputs.state_after(consumed, self.lookback)
        if self.attention is None:
            return self.output(out), (h, c, memory)
        view = lookback_inputs.bar_view_along(consumed, self.lookback)
        bars = self.attention.memory_along(out, view)
        return self.attention.mix(self.output(out), out, bars, view), (h, c, memory, bars)

    def _lookback_inputs(self, tokens: Tensor, features: lookback_inputs.LookbackFeatures) -> Tensor:
        """The LSTM input (..., (K + 2 + N)E + 2P): the token's, the K bars-back tokens', the part-back
        token's and the N header tokens' embeddings (one shared table), then the embeddings of the
        position in the bar and in the part."""
        looked = torch.cat([tokens.unsqueeze(-1), features.bars_back, features.one_part.unsqueeze(-1),
                            features.header], dim=-1)
        return torch.cat([self.embedding(looked).flatten(-2), self.step_embedding(features.step_in_bar),
                          self.bar_embedding(features.bar_in_part)], dim=-1)

    def shift_right(self, sequences: Tensor) -> Tensor:
        """The inputs that predict `sequences` (B, T): the start token, then all but the last token."""
        start = torch.full_like(sequences[:, :1], self.start_token)  # (B, 1)
        return torch.cat([start, sequences[:, :-1]], dim=1)  # (B, T)

    def log_probs(self, sequences: Tensor, temperature: float = 1.0) -> Tensor:
        """log p(x_t | start, x_<t) of every given token, (B, T), under the logits divided by `temperature`."""
        logits, _ = self(self.shift_right(sequences))  # (B, T, V)
        if temperature != 1.0:
            logits = logits / temperature
        # cross_entropy fuses log-softmax and the pick: about a third faster backward than gather on CPU.
        picked = functional.cross_entropy(logits.flatten(0, 1), sequences.flatten(), reduction="none")  # (B * T,)
        return -picked.view(sequences.shape)

    def token_mask(self, sequences: Tensor) -> Tensor:
        """(B, T) in the module's dtype: 1 up to and including the first end token, 0 after it."""
        dtype = self.output.weight.dtype
        if self.end_token is None:
            return torch.ones(sequences.shape, dtype=dtype, device=sequences.device)
        is_end = (sequences == self.end_token).long()  # (B, T)
        ended_before = (torch.cumsum(is_end, dim=1) - is_end) > 0  # (B, T)
        return (~ended_before).to(dtype)

    def nll(self, sequences: Tensor, temperature: float = 1.0) -> Tensor:
        """Mean negative log-likelihood per counted token of each sequence (B,), in nats."""
        mask = self.token_mask(sequences)
        return -(self.log_probs(sequences, temperature) * mask).sum(dim=1) / mask.sum(dim=1)

    def mle_loss(self, sequences: Tensor) -> Tensor:
        """Cross-entropy averaged over every counted token of the batch (the MLE objective)."""
        mask = self.token_mask(sequences)
        return -(self.log_probs(sequences) * mask).sum() / mask.sum()

    @torch.no_grad()
    def sample(self, n: int, length: int, temperature: float = 1.0, top_k: int | None = None,
               generator: torch.Generator | None = None, batch_size: int = 1024,
               prefix: Tensor | None = None) -> Tensor:
        """`n` sequences of `length` tokens (the start token excluded), drawn `batch_size` rows at a time.

        `generator` (on the module's device; None: torch's global RNG) supplies all the noise, so
        the same seed and batch size give the same samples. Positions after the first end token
        are filled with pad_token, or end_token where there is no pad; once every row of a batch has
        ended, its sampling stops (the noise is drawn up front, so this changes no token).
        `prefix` (n, N), N <= length: each row's first N tokens are given, the rest drawn given them
        (MaliGAN's continuations of real prefixes); the noise is drawn for every position all the
        same, so a row's own first N tokens as its prefix give the row again.
        """
        check_sampling(temperature, top_k)
        if n < 0 or length < 0 or batch_size < 1:
            raise ValueError(f"sample needs n >= 0, length >= 0 and batch_size >= 1, got {n}, {length}, {batch_size}")
        if prefix is not None and (prefix.ndim != 2 or len(prefix) != n or prefix.shape[1] > length):
            raise ValueError(f"prefix must be (n, N) with N <= length = {length}, got {tuple(prefix.shape)} for n = {n}")
        given = 0 if prefix is None else prefix.shape[1]
        device = self.device
        batches = []
        for first in range(0, n, batch_size):
            rows = min(batch_size, n - first)
            noise = uniforms((length, rows), generator, device)  # (T, b)
            previous = torch.full((rows,), self.start_token, dtype=torch.long, device=device)  # (b,)
            state = self.initial_state(rows)
            fill = self.end_token if self.pad_token is None else self.pad_token
            tokens = torch.full((rows, length), 0 if fill is None else fill, dtype=torch.long, device=device)  # (b, T)
            ended = torch.zeros((rows,), dtype=torch.bool, device=device)
            for t in range(length):
                logits, state = self.step(previous, state)
                previous = prefix[first:first + rows, t] if t < given else draw(logits, noise[t], temperature, top_k)
                tokens[:, t] = previous
                if self.end_token is not None:
                    ended |= previous == self.end_token
                    # on a GPU the test waits for the device: there it is made every 16th position
                    if (device.type == "cpu" or t % 16 == 15) and bool(ended.all()):
                        break
            batches.append(tokens)
        sequences = torch.cat(batches) if batches else torch.empty((0, length), dtype=torch.long, device=device)
        if self.end_token is None:
            return sequences
        fill = self.end_token if self.pad_token is None else self.pad_token
        return sequences.masked_fill(self.token_mask(sequences) == 0, fill)

    def states_along(self, sequences: Tensor) -> StatesAlong:
        """The state after each prefix x_1..x_t (t = 1..T-1, start token first) and the logits for x_{t+1}.

        Returns h and c (T-1, layers, B, H) and logits (T-1, B, V): where the rollout resumes
        sampling for each prefix. Computed with `step` itself, so it matches step-by-step sampling.
        A lookback generator also returns the lookback state of each prefix, every field (T-1, B, ...):
        the counters as stepping left them, the token and bar tables of the whole sequence (capacity
        T, of which each prefix counts only its own part).
        """
        batch, length = sequences.shape
        logits, state = self.step(torch.full((batch,), self.start_token, dtype=torch.long,
                                             device=sequences.device), self.initial_state(batch))
        hs, cs, all_logits, memories = [], [], [], []
        for t in range(length - 1):
            logits, state = self.step(sequences[:, t], state)
            hs.append(state[0])
            cs.append(state[1])
            all_logits.append(logits)
            if self.lookback is not None:
                memories.append(state[2])
        if not hs:
            layers, hidden = self.core.num_layers, self.core.hidden_size
            empty = logits.new_empty((0, layers, batch, hidden))  # (0, layers, B, H)
            along = empty, empty.clone(), logits.new_empty((0, batch, self.vocab_size))
        else:
            along = torch.stack(hs), torch.stack(cs), torch.stack(all_logits)  # (T-1, layers, B, H) x2, (T-1, B, V)
        if self.lookback is None:
            return along
        tables = lookback_inputs.state_after(sequences[:, :-1], self.lookback)  # (B, T) tables
        stacked = tables.map(lambda field: field.unsqueeze(0).expand(length - 1, *field.shape))
        if memories:
            counters = {name: torch.stack([getattr(memory, name) for memory in memories])
                        for name in ("length", "bars", "parts", "part_bars")}
            stacked = stacked._replace(**counters)
        if self.attention is None:
            return (*along, stacked)
        # A bar's key never changes once taken and is read only once a later bar has begun, so every
        # prefix can share the keys of the whole sequence (a rollout overwrites those of bars it opens).
        bars = state[3].map(lambda field: field.unsqueeze(0).expand(length - 1, *field.shape))
        return (*along, stacked, bars)
