"""RelGAN's multi-representation discriminator (Nie et al., ICLR 2019, section 2.3).

One embedding of the one-hot input gives D one view of a sequence, and its gradient tells the
generator about that view only. RelGAN embeds the input S times (S embedding matrices, here the
rows of one (V, S * d) matrix), runs the same CNN over each representation and scores each one
separately: D gives S logits per sequence, and the GAN loss averages over all of them, as the
authors' code does (its logits are batch x S, flattened, and every loss is a mean over them).

The CNN is the SeqGAN discriminator's (models/discriminator.py: convolutions with max-over-time
pooling, a highway layer, dropout), shared by the representations, with RelGAN's extra linear layer
of 100 before the logit. Like that discriminator it reads token ids (B, T) or token weights
(B, T, V) (relaxed one-hot rows), and one-hot weights give exactly the logits of their ids.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from seqgan_music.models.discriminator import INIT_BIAS, INIT_STD, Discriminator

RELGAN_FILTER_WIDTHS = (2, 3, 4, 5)  # the authors' code
RELGAN_FILTER_COUNTS = (300, 300, 300, 300)
RELGAN_HIDDEN = 100  # the authors' code: a linear layer of 100 (no activation) between the highway layer and the logit


class MultiRepresentationDiscriminator(Discriminator):
    """Sequences (B, T) of ids or (B, T, V) of token weights -> logits (B, S), one per representation."""

    def __init__(self, vocab_size: int, length: int, representations: int = 64, representation_size: int = 1,
                 filter_widths: Sequence[int] = RELGAN_FILTER_WIDTHS,
                 filter_counts: Sequence[int] = RELGAN_FILTER_COUNTS, dropout_keep: float = 0.75,
                 hidden: int = RELGAN_HIDDEN) -> None:
        # The CNN reads one representation at a time: its input channels are one representation's size.
        super().__init__(vocab_size, length, representation_size, filter_widths, filter_counts, dropout_keep, l2=0.0)
        if min(representations, hidden) < 1:
            raise ValueError(f"representations and hidden must be >= 1, got {representations} and {hidden}")
        self.representations = representations
        self.embedding = nn.Embedding(vocab_size, representations * representation_size)  # S matrices side by side
        self.hidden = nn.Linear(sum(filter_counts), hidden)
        self.output = nn.Linear(hidden, 1)
        self._reset_parameters()
        nn.init.trunc_normal_(self.hidden.weight, std=INIT_STD, a=-2 * INIT_STD, b=2 * INIT_STD)
        nn.init.constant_(self.hidden.bias, INIT_BIAS)

    def embed(self, sequences: Tensor) -> Tensor:
        """Ids (B, T) or weights (B, T, V) -> each representation as a sequence of its own (B * S, d, T),
        the rows of a sequence's S representations adjacent."""
        embedded = super().embed(sequences)  # (B, S * d, T)
        batch, _, length = embedded.shape
        return embedded.reshape(batch * self.representations, -1, length)

    def forward(self, sequences: Tensor) -> Tensor:
        """The logits (B, S) that each sequence is real, as each representation shows it."""
        logits = self.output(self.hidden(self.dropout(self.highway_features(sequences))))  # (B * S, 1)
        return logits.view(-1, self.representations)
