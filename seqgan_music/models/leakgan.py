"""LeakGAN's generator (Guo et al., AAAI 2018): a Manager that reads the discriminator's leaked
feature vector of the prefix written so far and emits a goal, and a Worker that writes tokens
towards the goals of the last c steps.

At step t (the prefix s_t holds t tokens):
    f_t = F(s_t)                         D's feature vector (the highway output) of the prefix, the
                                         positions not yet written left empty (zero embeddings)
    g_t = normalise(W_g LSTM_M(f_t))      the Manager's goal, a unit vector in D's feature space
    w_t = normalise(W_psi (g_{t-c+1} + ... + g_t))   the goals of the last c steps, projected (no
                                         bias) to k dims, a unit vector as in the authors' code
    O_t = reshape(W_o LSTM_W(x_t) + b_o)  the Worker's (V x k) embedding matrix of the tokens
    logits_t = O_t w_t

The generator holds a frozen copy of D (its weights as buffers: saved with the generator, so a
finished run samples without its discriminator, and none of the generator's parameters); the
method copies D into it whenever D has trained, as the reference's `update_feature_function` does.
The Worker's logits read the goals detached: the Manager learns only from its own loss.

This is a `Generator` (its embedding and LSTM are the Worker's, `output` the Worker's O_t layer), so
sampling, masks, NLL and MLE work as for the LSTM generator; lookback, attention and header inputs
it does not have. The step state carries the prefix, so prefixes up to `length` (D's) tokens.
The features of the prefixes are pooled incrementally (models/prefix_features.py): O(w^2) per token
for a filter of width w, whatever the length, rather than D over the whole padded length each step.
"""

from __future__ import annotations

import copy
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional

from seqgan_music.models.discriminator import Discriminator
from seqgan_music.models.generator import INIT_STD, Generator
from seqgan_music.models.prefix_features import features_along, features_step, initial_running_max, padded_to


class LeakState(NamedTuple):
    """The state between steps: the Worker's and the Manager's (h, c), each (1, B, H); the goals
    of the last c steps (B, c, F), oldest first; the prefix written so far (B, length), EMPTY where
    nothing is yet; each of D's filters' max over the windows the prefix fills (B, F); how many
    tokens have been consumed (the start token first)."""

    worker: tuple[Tensor, Tensor]
    manager: tuple[Tensor, Tensor]
    goals: Tensor
    prefix: Tensor
    running: Tensor
    consumed: int


class TeacherForced(NamedTuple):
    """Everything one pass over given sequences (B, T) computes."""

    logits: Tensor  # (B, T, V) for each token
    features: Tensor  # (B, T + 1, F): f_0 (nothing written) .. f_T (the whole sequence)
    goals: Tensor  # (B, T, F): g_t, emitted on reading f_t (with gradients to the Manager)


def frozen_copy(module: nn.Module) -> nn.Module:
    """A copy of `module` whose parameters are buffers: saved in a state dict, trained by nothing."""
    frozen = copy.deepcopy(module)
    for part in frozen.modules():
        for name, parameter in list(part._parameters.items()):
            del part._parameters[name]
            part.register_buffer(name, None if parameter is None else parameter.detach())
    return frozen


class LeakGANGenerator(Generator):
    """The Manager and Worker over `discriminator`'s feature space (a frozen copy is kept)."""

    def __init__(self, vocab_size: int, discriminator: Discriminator, embedding_dim: int = 32,
                 worker_hidden: int = 32, manager_hidden: int = 32, goal_size: int = 16, horizon: int = 4,
                 start_token: int | None = None, end_token: int | None = None, pad_token: int | None = None) -> None:
        super().__init__(vocab_size, embedding_dim, worker_hidden, 1, start_token, end_token, pad_token)
        if min(manager_hidden, goal_size, horizon) < 1:
            raise ValueError(f"manager_hidden, goal_size and horizon must be >= 1, got "
                             f"{manager_hidden}, {goal_size}, {horizon}")
        features = discriminator.highway_transform.in_features
        self.goal_size, self.horizon, self.length = goal_size, horizon, discriminator.length
        self.output = nn.Linear(worker_hidden, vocab_size * goal_size)  # O_t, row v * k + j
        self.manager = nn.LSTM(features, manager_hidden, batch_first=True)
        self.goal = nn.Linear(manager_hidden, features)
        self.goal_projection = nn.Linear(features, goal_size, bias=False)  # psi
        for module in (self.output, self.manager, self.goal, self.goal_projection):
            for name, parameter in module.named_parameters():
                if name.startswith("bias_hh"):
                    nn.init.zeros_(parameter)
                else:
                    nn.init.normal_(parameter, std=INIT_STD)
        self.leak = frozen_copy(discriminator).eval()

    @torch.no_grad()
    def leak_from(self, discriminator: Discriminator) -> None:
        """Take D's current weights as the features the Manager reads."""
        self.leak.load_state_dict(discriminator.state_dict())

    # ------------------------------------------------------------------ the two modules
    def prefix_features(self, sequences: Tensor) -> Tensor:
        """f_0 .. f_T (B, T + 1, F): the features of every prefix of `sequences` (B, T), T <= length."""
        return self._features_along(sequences)[0]

    def _features_along(self, sequences: Tensor) -> tuple[Tensor, Tensor]:
        self._check_length(sequences.shape[1])
        with torch.no_grad():
            return features_along(self.leak, sequences)

    def goals_along(self, features: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple]:
        """The Manager over features (B, n, F): unit goals (B, n, F) and its final (h, c)."""
        out, state = self.manager(features, state)  # (B, n, Hm)
        return functional.normalize(self.goal(out), dim=-1), state

    def goal_sums(self, goals: Tensor) -> Tensor:
        """Each step's sum of the goals of the last c steps, itself included (B, n, F)."""
        window = functional.pad(goals, (0, 0, self.horizon - 1, 0))  # (B, n + c - 1, F), zeros before g_0
        return window.unfold(1, self.horizon, 1).sum(dim=-1)  # (B, n, F)

    def worker_logits(self, hidden: Tensor, goal_sums: Tensor) -> Tensor:
        """logits (..., V) = O_t w_t, with O_t (V x k) from the Worker's hidden state (..., H) and
        w_t = psi(goal sums (..., F)) scaled to unit length; computed without forming O_t: (w outer h)
        against W_o. Unit length because the goals barely change from step to step: an unnormalised
        w_t is one vector shared by every token, its length the inverse of a sampling temperature
        that one Adam step on psi (its F x k weights moving together) can double, and did, collapsing
        the adversarial phase on the oracle (the Worker's REINFORCE on its own positive-reward samples
        sharpens whatever it can)."""
        w = functional.normalize(self.goal_projection(goal_sums), dim=-1)  # (..., k)
        vocab, hidden_size = self.vocab_size, hidden.shape[-1]
        weight = self.output.weight.view(vocab, self.goal_size * hidden_size)  # [v, j H + h] = W_o[v k + j, h]
        bias = self.output.bias.view(vocab, self.goal_size)
        mixed = (w.unsqueeze(-1) * hidden.unsqueeze(-2)).flatten(-2)  # (..., k H)
        return mixed @ weight.T + w @ bias.T

    # ------------------------------------------------------------------ the Generator interface
    def initial_state(self, batch: int) -> LeakState:
        weight = self.output.weight
        worker = weight.new_zeros((1, batch, self.lstm.hidden_size))
        manager = weight.new_zeros((1, batch, self.manager.hidden_size))
        goals = weight.new_zeros((batch, self.horizon, self.goal.out_features))
        prefix = padded_to(torch.empty((batch, 0), dtype=torch.long, device=weight.device), self.length)
        running = initial_running_max(self.leak, batch)
        return LeakState((worker, worker.clone()), (manager, manager.clone()), goals, prefix, running, 0)

    def step(self, tokens: Tensor, state: LeakState) -> tuple[Tensor, LeakState]:
        """Consume one token per row (B,) (the start token first, which the prefix never holds)."""
        prefix = state.prefix
        if state.consumed:
            self._check_length(state.consumed)
            prefix = prefix.clone()
            prefix[:, state.consumed - 1] = tokens
        with torch.no_grad():
            features, running = features_step(self.leak, prefix, state.consumed, state.running)
        goal, manager = self.goals_along(features.unsqueeze(1), state.manager)  # (B, 1, F)
        goals = torch.cat([state.goals[:, 1:], goal.detach()], dim=1)  # (B, c, F)
        out, worker = self.lstm(self.embedding(tokens).unsqueeze(1), state.worker)  # (B, 1, H)
        logits = self.worker_logits(out.squeeze(1), goals.sum(dim=1))
        return self._allowed(logits), LeakState(worker, manager, goals, prefix, running, state.consumed + 1)

    def forward(self, inputs: Tensor, state: LeakState | None = None) -> tuple[Tensor, LeakState]:
        """Teacher forcing: inputs (B, T), the start token first, -> logits (B, T, V) and the state
        after them. Without a state, in one pass; with one, step by step from it."""
        if state is not None:
            logits = inputs.new_empty((*inputs.shape, self.vocab_size), dtype=self.output.weight.dtype)
            for t in range(inputs.shape[1]):
                logits[:, t], state = self.step(inputs[:, t], state)
            return logits, state
        consumed = inputs[:, 1:]  # (B, T - 1): the prefix never holds the start token
        features, running = self._features_along(consumed)  # f_0 .. f_{T-1}
        goals, manager = self.goals_along(features)  # (B, T, F)
        logits, worker = self._worker_pass(inputs, goals)
        recent = functional.pad(goals.detach(), (0, 0, self.horizon, 0))[:, -self.horizon:]  # (B, c, F), zeros before g_0
        prefix = padded_to(consumed, self.length)
        return logits, LeakState(worker, manager, recent, prefix, running, inputs.shape[1])

    def teacher_forced(self, sequences: Tensor) -> TeacherForced:
        """Logits, every prefix's features and the goals for given sequences (B, T)."""
        features = self.prefix_features(sequences)  # (B, T + 1, F)
        goals, _ = self.goals_along(features[:, :-1])  # (B, T, F)
        return TeacherForced(self._worker_pass(self.shift_right(sequences), goals)[0], features, goals)

    def _worker_pass(self, inputs: Tensor, goals: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """The Worker over inputs (B, T) towards the goals (B, T, F) (detached): logits, final (h, c)."""
        out, worker = self.lstm(self.embedding(inputs))  # (B, T, H)
        return self.worker_logits(out, self.goal_sums(goals.detach())), worker

    def mle_loss(self, sequences: Tensor) -> Tensor:
        """The Worker's cross-entropy per counted token plus the Manager's supervised loss: minus the
        mean cosine between each goal and the real feature change over its c steps."""
        passed = self.teacher_forced(sequences)
        mask = self.token_mask(sequences)
        worker = weighted_nll(passed.logits, sequences, 1.0, mask)
        return worker + manager_loss(passed.features, passed.goals, mask, self.horizon)

    def _check_length(self, count: int) -> None:
        if count > self.length:
            raise ValueError(f"LeakGAN's generator reads prefixes of at most {self.length} tokens "
                             f"(its discriminator's length), got {count}")


def picked_log_probs(logits: Tensor, sequences: Tensor) -> Tensor:
    """log p of each given token (B, T) under logits (B, T, V)."""
    picked = functional.cross_entropy(logits.flatten(0, 1), sequences.flatten(), reduction="none")
    return -picked.view(sequences.shape)


def weighted_nll(logits: Tensor, sequences: Tensor, weights: Tensor | float, mask: Tensor) -> Tensor:
    """Minus the mean over counted tokens (mask (B, T)) of log p of each token of `sequences` (B, T)
    under `logits` (B, T, V), times its weight (B, T): the Worker's MLE loss with weights 1, its
    REINFORCE loss with its rewards."""
    return -(picked_log_probs(logits, sequences) * weights * mask).sum() / mask.sum()


def block_starts(length: int, horizon: int) -> Tensor:
    """The steps where a Manager's goal is judged: 0, c, 2c, ... below `length`."""
    return torch.arange(0, length, horizon)


def transition_cosines(features: Tensor, goals: Tensor, horizon: int) -> Tensor:
    """cos(f_{t+c} - f_t, g_t) for t = 0, c, 2c, ... (B, K); the last block ends at T."""
    length = goals.shape[1]
    starts = block_starts(length, horizon).to(features.device)
    ends = (starts + horizon).clamp(max=length)
    change = features[:, ends] - features[:, starts]  # (B, K, F)
    return functional.cosine_similarity(change, goals[:, starts], dim=-1)


def manager_loss(features: Tensor, goals: Tensor, mask: Tensor, horizon: int, weights: Tensor | None = None) -> Tensor:
    """Minus the mean over counted blocks of cos(f_{t+c} - f_t, g_t), each weighted by `weights`
    (B, K) (the rescaled Q of the transition policy gradient; None: 1, the supervised loss)."""
    cosines = transition_cosines(features, goals, horizon)  # (B, K)
    counted = mask[:, block_starts(goals.shape[1], horizon).to(mask.device)]  # blocks that start before the end
    weighted = cosines if weights is None else cosines * weights
    return -(weighted * counted).sum() / counted.sum().clamp(min=1)


def intrinsic_rewards(features: Tensor, goals: Tensor, horizon: int) -> Tensor:
    """The Worker's reward for each token (B, T): the mean over i = 1..c of cos(f_{t+1} - f_{t+1-i},
    g_{t+1-i}) (the paper's r^I with s_{t+1} the prefix the token completes), over the i where the
    goal exists."""
    batch, length, _ = goals.shape
    total = goals.new_zeros((batch, length))
    count = goals.new_zeros((length,))
    after = features[:, 1:]  # (B, T, F): f_{t+1}
    for back in range(1, horizon + 1):
        first = back - 1  # the first token position whose goal g_{t+1-back} exists
        if first >= length:
            break
        earlier = slice(0, length - first)  # steps t + 1 - back = 0 .. T - back
        cosines = functional.cosine_similarity(after[:, first:] - features[:, earlier], goals[:, earlier], dim=-1)
        total[:, first:] += cosines
        count[first:] += 1
    return total / count
