"""The SeqGAN synthetic experiment's oracle: a fixed, randomly initialised LSTM that plays the
true data distribution, so a generator's samples can be scored exactly (NLL_oracle).

The step follows the paper's reference implementation literally (see ../shared/oracle/README.md):
    i = sigmoid(x W_i + h U_i + b_i)    f = sigmoid(x W_f + h U_f + b_f)
    o = sigmoid(x W_o + h U_o + b_o)    c~ = tanh(x W_c + h U_c + b_c)
    c' = f * c + i * c~                 h' = o * tanh(c')
    logits = h' W_out + b_out
with x the embedding of the previous token, token 0 as the first input and a zero initial state.
Its weights are row-vector matrices (x W), not torch.nn.LSTM's packed (i, f, g, o) column layout,
so the step is written out here rather than borrowed from torch.nn.LSTM.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from torch import Tensor

from seqgan_music.errors import SeqganError

GATES = ("i", "f", "o", "c")
ARRAY_NAMES = ("embedding", *(f"{kind}_{g}" for g in GATES for kind in ("W", "U", "b")), "W_out", "b_out")
START_TOKEN = 0
_SCORING_BATCH = 4096  # rows scored at once: bounds memory to about 4096 x vocabulary floats


class OracleLSTM(torch.nn.Module):
    """The oracle's parameters and the two things it does: sample sequences and score them.

    The weights are buffers, not parameters: the oracle is the ground truth and is never trained,
    so optimisers and `requires_grad` never touch it, yet `.to(device)` still moves it.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        super().__init__()
        for name in ARRAY_NAMES:
            self.register_buffer(name, torch.from_numpy(np.array(arrays[name], dtype=np.float32)))

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], source: str = "oracle parameters") -> OracleLSTM:
        """Validate every array (presence, float dtype, consistent shapes, finite) and build the oracle."""
        problem = _problem_with(arrays)
        if problem is not None:
            raise SeqganError(f"malformed {source}: {problem}; use the paper's seqgan_oracle.npz or a seeded random oracle")
        return cls(arrays)

    @classmethod
    def from_npz(cls, path: Path | str | BinaryIO, label: str | None = None) -> OracleLSTM:
        """Load an .npz of the paper's array names without pickle; any problem is one SeqganError."""
        source = f"oracle file {label or path}"
        if isinstance(path, (str, Path)) and not Path(path).is_file():
            what = "is a folder" if Path(path).is_dir() else "does not exist"
            raise SeqganError(f"malformed {source}: it {what}; give the paper's seqgan_oracle.npz (../shared/oracle/)")
        try:
            arrays = _read_npz(path)
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
            raise SeqganError(f"malformed {source}: not a readable .npz archive of float arrays; "
                              "give the paper's seqgan_oracle.npz") from None
        return cls.from_arrays(arrays, source)

    @classmethod
    def random(cls, seed: int, vocab: int = 5000, embedding: int = 32, hidden: int = 32) -> OracleLSTM:
        """A fresh oracle with every array drawn from N(0, 1), as the paper initialised its oracle."""
        generator = torch.Generator().manual_seed(seed)
        shapes = _shapes(vocab, embedding, hidden)
        return cls({name: torch.randn(shapes[name], generator=generator).numpy() for name in ARRAY_NAMES})

    @property
    def vocab(self) -> int:
        return int(self.embedding.shape[0])

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The parameters under the paper file's array names, float32, ready for np.savez."""
        return {name: getattr(self, name).detach().cpu().numpy().copy() for name in ARRAY_NAMES}

    @torch.no_grad()
    def sample(self, n: int, length: int, generator: torch.Generator) -> Tensor:
        """`n` sequences of `length` tokens drawn from the oracle (the start token is not included).

        `generator` must live on the oracle's device; it alone decides the draws, so runs reproduce.
        """
        device = self.embedding.device
        weights = self._packed()
        previous = torch.full((n,), START_TOKEN, dtype=torch.long, device=device)
        state = self._zero_state(n)
        tokens = torch.empty((n, length), dtype=torch.long, device=device)
        for t in range(length):
            logits, state = self._step(previous, state, weights)
            previous = _draw(logits, generator)
            tokens[:, t] = previous
        return tokens

    @torch.no_grad()
    def nll(self, tokens: Tensor) -> Tensor:
        """Mean negative log-likelihood per token (nats) of each sequence, shape (n,)."""
        if tokens.ndim != 2 or tokens.shape[1] == 0:
            raise SeqganError(f"the oracle scores (sequences, length) token arrays, got shape {tuple(tokens.shape)}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab):
            raise SeqganError(f"token ids outside the oracle's vocabulary of {self.vocab}: "
                              "score sequences of an oracle corpus only")
        tokens = tokens.to(self.embedding.device, torch.long)
        if len(tokens) == 0:
            return torch.zeros(0, device=tokens.device)
        return torch.cat([self._nll_batch(tokens[s:s + _SCORING_BATCH]) for s in range(0, len(tokens), _SCORING_BATCH)])

    def _nll_batch(self, tokens: Tensor) -> Tensor:
        weights = self._packed()
        n, length = tokens.shape
        previous = torch.full((n,), START_TOKEN, dtype=torch.long, device=tokens.device)
        state = self._zero_state(n)
        total = torch.zeros(n, device=tokens.device)
        for t in range(length):
            logits, state = self._step(previous, state, weights)
            target = tokens[:, t]
            total -= torch.log_softmax(logits, dim=-1).gather(1, target.unsqueeze(1)).squeeze(1)
            previous = target
        return total / length

    def _packed(self) -> tuple[Tensor, Tensor, Tensor]:
        """The four gates' W, U and b side by side in i, f, o, c order, so one matmul serves all."""
        return (torch.cat([getattr(self, f"W_{g}") for g in GATES], dim=1),
                torch.cat([getattr(self, f"U_{g}") for g in GATES], dim=1),
                torch.cat([getattr(self, f"b_{g}") for g in GATES]))

    def _zero_state(self, n: int) -> tuple[Tensor, Tensor]:
        hidden = self.U_i.shape[0]
        zeros = torch.zeros((n, hidden), device=self.embedding.device)
        return zeros, zeros.clone()

    def _step(self, previous: Tensor, state: tuple[Tensor, Tensor],
              weights: tuple[Tensor, Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One README step: previous tokens and (h, c) -> next-token logits and the new (h, c)."""
        h, c = state
        w, u, b = weights
        pre_i, pre_f, pre_o, pre_c = (self.embedding[previous] @ w + h @ u + b).chunk(4, dim=1)
        c = torch.sigmoid(pre_f) * c + torch.sigmoid(pre_i) * torch.tanh(pre_c)
        h = torch.sigmoid(pre_o) * torch.tanh(c)
        return torch.addmm(self.b_out, h, self.W_out), (h, c)


def _draw(logits: Tensor, generator: torch.Generator) -> Tensor:
    """One token per row from softmax(logits) by inverting the cumulative distribution.

    Exact categorical sampling like torch.multinomial, but several times faster on CPU for a
    5,000-token vocabulary (one cumsum and a binary search instead of multinomial's set-up).
    """
    cumulative = torch.cumsum(torch.softmax(logits, dim=-1), dim=-1)
    uniform = torch.rand((len(logits), 1), generator=generator, device=logits.device) * cumulative[:, -1:]
    drawn = torch.searchsorted(cumulative, uniform, right=True).squeeze(1)
    return drawn.clamp_(max=logits.shape[1] - 1)


def _read_npz(path: Path | str | BinaryIO) -> dict[str, np.ndarray]:
    """Every array of an .npz archive, never unpickling; an .npy or any other file is a ValueError."""
    data = np.load(path, allow_pickle=False)
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError("not an .npz archive")
    with data:
        return {name: np.asarray(data[name]) for name in data.files}


def _shapes(vocab: int, embedding: int, hidden: int) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {"embedding": (vocab, embedding), "W_out": (hidden, vocab), "b_out": (vocab,)}
    for g in GATES:
        shapes.update({f"W_{g}": (embedding, hidden), f"U_{g}": (hidden, hidden), f"b_{g}": (hidden,)})
    return shapes


def _problem_with(arrays: Mapping[str, np.ndarray]) -> str | None:
    """What is wrong with a set of oracle arrays, or None; sizes are read from embedding and U_i."""
    missing = [name for name in ARRAY_NAMES if name not in arrays]
    if missing:
        return f"missing array(s) {', '.join(missing)}"
    for name in ARRAY_NAMES:
        if not np.issubdtype(np.asarray(arrays[name]).dtype, np.floating):
            return f"array {name} has dtype {np.asarray(arrays[name]).dtype}, expected float32"
    embedding, recurrent = np.shape(arrays["embedding"]), np.shape(arrays["U_i"])
    if len(embedding) != 2 or len(recurrent) != 2 or min(*embedding, *recurrent) < 1:
        return f"embedding has shape {embedding} and U_i {recurrent}, expected (vocab, embedding) and (hidden, hidden)"
    for name, expected in _shapes(embedding[0], embedding[1], recurrent[0]).items():
        if np.shape(arrays[name]) != expected:
            return f"array {name} has shape {np.shape(arrays[name])}, expected {expected}"
        if not np.all(np.isfinite(arrays[name])):
            return f"array {name} holds NaN or infinite values"
    return None
