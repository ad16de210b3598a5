"""Parameter counts of the models a run builds, from its settings alone: what the memory estimate
(training/budget.py) counts before anything is built, and each method's `model_sizes` reads.
Formulas rather than built models: the estimate is bisected over a setting's values, and a formula
costs microseconds where building a model at the sizes being refused would take the memory itself.
tests/test_budget.py holds every formula equal to the numel of the models training builds.

Every generator is counted with the embedding row of its own that the start token has in a corpus
without one; an oracle corpus (start token 0, a normal token) has one row fewer: an upper bound there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from seqgan_music.config import Config
from seqgan_music.corpora.tunes import HEADER_FIELDS
from seqgan_music.models import lookback as lookback_inputs
from seqgan_music.models.bar_attention import ATTENTION_DIM, BROKEN, MAX_DISTANCE
from seqgan_music.models.generator import POSITION_DIM
from seqgan_music.models.multi_representation import RELGAN_HIDDEN
from seqgan_music.models.relational_memory import relational_parameters

_RESIDUAL_WIDTH = 3  # RELAX's residual convolution's width (training/estimators.py's SequenceResidual default)


class ModelSizes(NamedTuple):
    """Parameter counts of what a method builds, by how training holds them."""

    generator: int  # the generator's parameters: weights, gradients and the generator optimizers' moments
    discriminator: int  # D's (the critic's, the ranker's): weights, gradients and D's optimizer's moments
    own: int = 0  # models of the method's own beside the two, with an optimizer of theirs (RELAX's control)
    frozen: int = 0  # weights the generator holds without gradients or optimizer (LeakGAN's copy of D)


def linear_parameters(inputs: int, outputs: int, bias: bool = True) -> int:
    return (inputs + bias) * outputs


def mlp_parameters(sizes: Sequence[int]) -> int:
    """Linear layers of these sizes, each with its bias (models/arae.py's _mlp)."""
    return sum(linear_parameters(inputs, outputs) for inputs, outputs in zip(sizes, sizes[1:]))


def lstm_parameters(inputs: int, hidden: int, layers: int = 1, directions: int = 1) -> int:
    """nn.LSTM's: per layer and direction, four gates over the input and the hidden state, two biases each."""
    return sum(directions * 4 * hidden * ((inputs if layer == 0 else hidden * directions) + hidden + 2)
               for layer in range(layers))


def core_width(config: Config) -> int:
    """The width of the generator core's output, and of each of h and c per layer: the LSTM's hidden,
    or the relational memory's slots * heads * head_size."""
    g = config.generator
    return g.hidden if g.core == "lstm" else g.memory_slots * g.memory_heads * g.memory_head_size


def generator_parameters(config: Config, vocab_size: int) -> int:
    """The standard generator's (training/build.py's build_generator): embedding, lookback's inputs,
    the LSTM or relational core, the output layer, attention over bars."""
    g = config.generator
    rows = vocab_size + 1 + g.lookback  # a start row; lookback's "none" row
    inputs, lookback = g.embedding, 0
    if g.lookback:  # the token, the bars back, a part back and the header, each embedded, and two positions
        looked = len(g.lookback_bars) + 2 + (len(HEADER_FIELDS) if g.header_inputs else 0)
        inputs = looked * g.embedding + 2 * POSITION_DIM
        lookback = (lookback_inputs.STEP_VALUES + lookback_inputs.BAR_VALUES) * POSITION_DIM
    if g.core == "lstm":
        core = lstm_parameters(inputs, g.hidden, g.layers)
    else:
        core = relational_parameters(inputs, g.memory_heads, g.memory_head_size)
    hidden = core_width(config)
    return rows * g.embedding + lookback + core + linear_parameters(hidden, vocab_size) + _bar_attention(config, hidden)


def _bar_attention(config: Config, hidden: int) -> int:
    """models/bar_attention.py's: query and key, the score of a new token, the distance, match and part biases."""
    if not config.generator.attention:
        return 0
    return (2 * linear_parameters(hidden, min(ATTENTION_DIM, hidden)) + linear_parameters(hidden, 1)
            + MAX_DISTANCE + 1 + BROKEN + 1 + 1)


def discriminator_filters(config: Config, length: int) -> list[tuple[int, int]]:
    """(width, count) of the filter banks the run builds (training/build.py): widths that fit, counts scaled."""
    d = config.discriminator
    return [(w, max(1, round(c * d.filter_scale))) for w, c in zip(d.filter_widths, d.filter_counts) if w <= length]


def _filter_bank(filters: list[tuple[int, int]], channels: int) -> int:
    """The convolutions over `channels` and the highway layer's transform and gate over their features."""
    features = sum(count for _, count in filters)
    return sum(count * (width * channels + 1) for width, count in filters) + 2 * linear_parameters(features, features)


def discriminator_parameters(config: Config, vocab_size: int, length: int) -> int:
    """The CNN discriminator's (models/discriminator.py): embedding, filter bank, highway, the logit."""
    filters = discriminator_filters(config, length)
    embedding = config.discriminator.embedding
    return (vocab_size * embedding + _filter_bank(filters, embedding)
            + linear_parameters(sum(count for _, count in filters), 1))


def multi_representation_parameters(config: Config, vocab_size: int, length: int) -> int:
    """RelGAN's D (models/multi_representation.py): S embeddings side by side, the filter bank over one
    representation's channels, the highway, a hidden layer and the logit."""
    own, filters = config.relgan, discriminator_filters(config, length)
    return (vocab_size * own.representations * own.representation_size
            + _filter_bank(filters, own.representation_size)
            + linear_parameters(sum(count for _, count in filters), RELGAN_HIDDEN)
            + linear_parameters(RELGAN_HIDDEN, 1))


def code_conditioned_parameters(config: Config, vocab_size: int, code_size: int) -> int:
    """The LSTM decoder with a blank row, its encoder LSTM and the code's map to the initial state
    (models/vae.py's CodeConditionedGenerator), what VAE and ARAE build on."""
    g = config.generator
    decoder = generator_parameters(config, vocab_size) + g.embedding  # one more row: the blank
    return (decoder + lstm_parameters(g.embedding, g.hidden, g.layers)
            + linear_parameters(code_size, g.layers * g.hidden))


def vae_parameters(config: Config, vocab_size: int) -> int:
    """SentenceVAE's: the code-conditioned LSTMs and the posterior's mean and log-variance head."""
    latent = config.vae.latent
    return (code_conditioned_parameters(config, vocab_size, latent)
            + linear_parameters(config.generator.hidden, 2 * latent))


def arae_generator_parameters(config: Config, vocab_size: int) -> int:
    """ARAEGenerator's: the autoencoder (code-conditioned LSTMs, the code head) and the code generator MLP."""
    own = config.arae
    return (code_conditioned_parameters(config, vocab_size, own.code_size)
            + linear_parameters(config.generator.hidden, own.code_size)
            + mlp_parameters([own.noise_size, own.mlp_hidden, own.mlp_hidden, own.code_size]))


def code_critic_parameters(config: Config) -> int:
    """ARAE's critic on codes: two hidden layers of `arae.mlp_hidden`."""
    return mlp_parameters([config.arae.code_size, config.arae.mlp_hidden, config.arae.mlp_hidden, 1])


def _masked_context(config: Config, rows: int) -> tuple[int, int]:
    """MaskGAN's encoder (an embedding of `rows` rows and a MASK row, the LSTM over them): its
    parameters and the width of its output."""
    g, directions = config.generator, 2 if config.maskgan.bidirectional else 1
    return ((rows + 1) * g.embedding + lstm_parameters(g.embedding, g.hidden, g.layers, directions),
            g.hidden * directions)


def maskgan_generator_parameters(config: Config, vocab_size: int) -> int:
    """MaskGANGenerator's: the encoder, the decoder (embedding with a start row, an LSTM over a token and
    its context), the attention, the output layer and the critic head."""
    g = config.generator
    rows = vocab_size + 1
    encoder, context = _masked_context(config, rows)
    return (encoder + rows * g.embedding + lstm_parameters(g.embedding + context, g.hidden, g.layers)
            + linear_parameters(context, g.hidden, bias=False) + linear_parameters(g.hidden + context, g.hidden)
            + linear_parameters(g.hidden, vocab_size) + mlp_parameters([g.hidden, config.maskgan.critic_hidden, 1]))


def maskgan_discriminator_parameters(config: Config, vocab_size: int) -> int:
    """MaskGANDiscriminator's: the encoder, an LSTM over a filled token and its context, a logit per token."""
    g = config.generator
    encoder, context = _masked_context(config, vocab_size)
    return encoder + lstm_parameters(g.embedding + context, g.hidden, g.layers) + linear_parameters(g.hidden, 1)


def leakgan_generator_parameters(config: Config, vocab_size: int, length: int) -> int:
    """LeakGANGenerator's: the Worker (embedding, LSTM, the V x k output), the Manager over D's
    features (LSTM, goal layer) and the goals' projection (its frozen copy of D is not a parameter)."""
    g, own = config.generator, config.leakgan
    features = sum(count for _, count in discriminator_filters(config, length))
    return ((vocab_size + 1) * g.embedding + lstm_parameters(g.embedding, own.worker_hidden)
            + linear_parameters(own.worker_hidden, vocab_size * own.goal_size)
            + lstm_parameters(features, own.manager_hidden) + linear_parameters(own.manager_hidden, features)
            + linear_parameters(features, own.goal_size, bias=False))


def control_variate_parameters(config: Config, vocab_size: int, learned_residual: bool) -> int:
    """REBAR's control (its temperature and scale) and, for RELAX, the residual CNN over the relaxed tokens."""
    hidden = config.relaxation.residual_hidden
    residual = vocab_size * hidden * _RESIDUAL_WIDTH + hidden + linear_parameters(hidden, 1) if learned_residual else 0
    return 2 + residual
