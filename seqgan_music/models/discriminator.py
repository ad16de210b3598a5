"""The SeqGAN discriminator D_phi: a CNN that scores whole sequences as real or generated.

As in the paper and its reference implementation: token embeddings, one bank of convolutions
per filter width with max-over-time pooling, a highway layer, dropout, and a linear output.
The reference's two-class softmax is one "real" logit here (the same model, one fewer column).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional

PAPER_FILTER_WIDTHS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
PAPER_FILTER_COUNTS = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)
INIT_STD = 0.1  # the reference draws conv and output weights from a normal truncated at 2 std...
INIT_BIAS = 0.1  # ...and sets their biases to 0.1
HIGHWAY_GATE_BIAS = 0.0  # the reference calls highway(..., num_layers=1, bias=0): the gate starts half open
# The id of a position that holds no token (embedded as zeros): how a prefix is padded for a
# discriminator of partial sequences (training/partial_rewards.py), whether or not the vocabulary has a pad.
EMPTY = -1


def filter_bank(length: int, scale: float = 1.0) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The paper's filter widths and counts for sequences of `length`.

    Widths longer than the sequence cannot fit and are dropped; counts are multiplied by `scale`
    (rounded, at least 1) so that small presets can train a small discriminator.
    """
    if length < 1:
        raise ValueError(f"sequence length must be >= 1, got {length}")
    if not scale > 0:
        raise ValueError(f"filter count scale must be > 0, got {scale}")
    kept = [(w, max(1, round(c * scale))) for w, c in zip(PAPER_FILTER_WIDTHS, PAPER_FILTER_COUNTS) if w <= length]
    return tuple(w for w, _ in kept), tuple(c for _, c in kept)


class Discriminator(nn.Module):
    """Sequences (B, T) of token ids -> one logit each that the sequence is real data.

    Every method also takes token weights (B, T, V), rows on the simplex: the relaxed sequences
    that REBAR and RELAX score. They are embedded as weights @ embedding, so one-hot weights
    give exactly the logit of their ids.
    """

    def __init__(self, vocab_size: int, length: int, embedding_dim: int = 64,
                 filter_widths: Sequence[int] = PAPER_FILTER_WIDTHS, filter_counts: Sequence[int] = PAPER_FILTER_COUNTS,
                 dropout_keep: float = 0.75, l2: float = 0.2) -> None:
        super().__init__()
        _check(vocab_size, length, embedding_dim, filter_widths, filter_counts, dropout_keep, l2)
        self.length = length
        self.l2 = l2
        features = sum(filter_counts)
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        # Conv1d over the embedding channels is the reference's conv over a (width x embedding) window.
        self.convs = nn.ModuleList(nn.Conv1d(embedding_dim, count, width)
                                   for width, count in zip(filter_widths, filter_counts))
        self.highway_transform = nn.Linear(features, features)
        self.highway_gate = nn.Linear(features, features)
        # The paper's "dropout keep probability 0.75" drops 25% of the features, not 75%.
        self.dropout = nn.Dropout(p=1.0 - dropout_keep)
        self.output = nn.Linear(features, 1)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """The reference's initialisation: uniform(-1, 1) embeddings, truncated normals, 0.1 biases."""
        nn.init.uniform_(self.embedding.weight, -1.0, 1.0)
        for layer in (*self.convs, self.output):
            nn.init.trunc_normal_(layer.weight, std=INIT_STD, a=-2 * INIT_STD, b=2 * INIT_STD)
            nn.init.constant_(layer.bias, INIT_BIAS)
        nn.init.constant_(self.highway_gate.bias, HIGHWAY_GATE_BIAS)

    def embed(self, sequences: Tensor) -> Tensor:
        """Token ids (B, T) or token weights (B, T, V) -> embeddings (B, E, T) for the convolutions.
        An id of EMPTY (any negative id) is a position with no token: zeros, on any vocabulary."""
        if not sequences.is_floating_point():
            present = (sequences >= 0).unsqueeze(2)  # (B, T, 1)
            return (self.embedding(sequences.clamp(min=0)) * present).transpose(1, 2)
        weight = self.embedding.weight  # (V, E)
        if sequences.ndim != 3 or sequences.shape[2] != weight.shape[0]:
            raise ValueError(f"token weights must be (B, T, {weight.shape[0]}), got {tuple(sequences.shape)}")
        return (sequences.to(weight.dtype) @ weight).transpose(1, 2)

    def features(self, sequences: Tensor) -> Tensor:
        """The pooled convolution features (B, F) the highway layer reads."""
        embedded = self.embed(sequences)  # (B, E, T)
        # ReLU commutes with the max over time, so it runs on the pooled (B, C) rather than (B, C, T').
        return torch.cat([torch.relu(torch.amax(conv(embedded), dim=2)) for conv in self.convs], dim=1)  # (B, F)

    def highway_features(self, sequences: Tensor) -> Tensor:
        """The highway layer's output (B, F): the feature vector the output layer reads (and RankGAN's
        ranker compares by cosine)."""
        return self.highway(self.features(sequences))

    def highway(self, pooled: Tensor) -> Tensor:
        """The highway layer over pooled features (..., F) (LeakGAN pools its prefixes incrementally)."""
        gate = torch.sigmoid(self.highway_gate(pooled))  # (..., F)
        return gate * torch.relu(self.highway_transform(pooled)) + (1.0 - gate) * pooled

    def forward(self, sequences: Tensor) -> Tensor:
        """The logit (B,) that each sequence of `sequences` (ids (B, T) or weights (B, T, V)) is real."""
        return self.output(self.dropout(self.highway_features(sequences))).squeeze(1)

    def probability_real(self, sequences: Tensor) -> Tensor:
        """sigmoid(logit) (B,); the caller chooses eval mode (no dropout) when scoring rewards.

        The sigmoid runs in the parameters' dtype: under bfloat16 autocast a bf16 sigmoid would
        round probabilities near 1 to steps of 0.004, coarser than the rewards' differences.
        """
        return torch.sigmoid(self(sequences).to(self.output.weight.dtype))

    def loss(self, sequences: Tensor, labels: Tensor) -> Tensor:
        """Mean binary cross-entropy against `labels` (B,) (1 real, 0 generated) plus the L2 penalty.

        As in the reference, only the output layer is penalised, with TF's l2_loss convention
        (half the sum of squares) on its weight and bias.
        """
        return self.loss_from_logits(self(sequences), labels)

    def loss_from_logits(self, logits: Tensor, labels: Tensor) -> Tensor:
        """`loss` for logits already computed (training reuses them to count accuracy)."""
        logits = logits.to(self.output.weight.dtype)  # (B,)
        cross_entropy = functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
        penalty = (self.output.weight.square().sum() + self.output.bias.square().sum()) / 2
        return cross_entropy + self.l2 * penalty


def _check(vocab_size: int, length: int, embedding_dim: int, filter_widths: Sequence[int],
           filter_counts: Sequence[int], dropout_keep: float, l2: float) -> None:
    """Reject settings the network cannot be built from, each with what to change."""
    if min(vocab_size, length, embedding_dim) < 1:
        raise ValueError(f"vocab_size, length and embedding_dim must be >= 1, got {vocab_size}, {length}, {embedding_dim}")
    if len(filter_widths) != len(filter_counts) or not filter_widths:
        raise ValueError(f"give one filter count per filter width (at least one), got {len(filter_widths)} widths "
                         f"and {len(filter_counts)} counts")
    too_long = [w for w in filter_widths if w > length]
    if too_long:
        raise ValueError(f"filter widths {too_long} exceed the sequence length {length}; "
                         f"use filter_bank({length}) to drop them")
    if min(filter_widths) < 1 or min(filter_counts) < 1:
        raise ValueError(f"filter widths and counts must be >= 1, got {tuple(filter_widths)} and {tuple(filter_counts)}")
    if not 0 < dropout_keep <= 1:
        raise ValueError(f"dropout_keep is the probability of keeping a feature, in (0, 1] "
                         f"(the paper's 0.75 drops 25%), got {dropout_keep}")
    if not l2 >= 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
