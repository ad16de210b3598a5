"""What a run's settings ask of this machine, checked before a run folder is made: threads against
the cores, and memory, estimated from the model sizes, the corpus's vocabulary and sequence length
and the batch sizes, against the machine's memory. Without the check, too many threads segfault
and too large a model ends in an allocation traceback after the run folder has taken the name.

The estimate is rough (float32 weights with their gradients and Adam's moments, the activations of
one batch, the sample buffers of the largest phase): its job is to refuse what cannot fit, not to
predict the peak to the megabyte.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from seqgan_music.config import Config
from seqgan_music.errors import SeqganError
from seqgan_music.models.relational_memory import relational_parameters
from seqgan_music.phases import ADVERSARIAL, PRETRAIN_D
from seqgan_music.training.methods import method_class

_FLOAT, _LONG = 4, 8  # bytes of a float32 weight or activation, and of an int64 token id
_POSITIONS = 32  # lookback's two position embeddings, roughly (models/lookback.py)
# Weights, their gradients, Adam's two moments in each of the two generator optimizers (MLE and
# adversarial), the rollout network's copy and keep_best's copy: about 8 copies of the generator.
_GENERATOR_COPIES = 8
_DISCRIMINATOR_COPIES = 4  # weights, gradients, Adam's two moments
_ROLLOUT_SHARE = {"token": 1, "bar": 8}  # every token's prefix, or about one in 8 (a bar of 3/4 or more)


@dataclass
class MemoryEstimate:
    """Bytes a run needs, by what needs them."""

    generator_weights: int  # the generator's parameters alone (no gradients, no optimizer)
    parts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.parts.values())


def machine_cores() -> int:
    return os.cpu_count() or 1


def machine_memory() -> int | None:
    """Physical memory in bytes, or None where the system does not say (the check is then skipped)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # Windows has no sysconf; some systems lack the names
        return None


def core_width(config: Config) -> int:
    """The width of the generator core's output, and of each of h and c per layer: the LSTM's hidden,
    or the relational memory's slots * heads * head_size."""
    g = config.generator
    return g.hidden if g.core == "lstm" else g.memory_slots * g.memory_heads * g.memory_head_size


def core_step_activations(config: Config) -> int:
    """Floats the core keeps per token for the backward pass: the LSTM's gates, h and c per layer; the
    relational memory's query-key-value rows, attention weights, MLP, norms and gates, roughly."""
    g = config.generator
    if g.core == "lstm":
        return g.layers * 6 * g.hidden
    slot, slots = g.memory_heads * g.memory_head_size, g.memory_slots
    return (slots + 1) * 8 * slot + slots * 12 * slot + g.memory_heads * slots * (slots + 1)


def generator_parameters(config: Config, vocab_size: int) -> int:
    """The generator's parameter count (models/generator.py), lookback and attention roughly."""
    g = config.generator
    width = g.embedding
    if g.lookback:  # the token, the bars back, a part back and the header, each embedded, and two positions
        width = (len(g.lookback_bars) + 2 + (4 if g.header_inputs else 0)) * g.embedding + _POSITIONS
    hidden = core_width(config)
    if g.core == "lstm":
        core = sum(4 * g.hidden * ((width if layer == 0 else g.hidden) + g.hidden + 2) for layer in range(g.layers))
    else:
        core = relational_parameters(width, g.memory_heads, g.memory_head_size)
    attention = 3 * hidden * hidden + hidden * vocab_size if g.attention else 0
    return (vocab_size + 2) * g.embedding + core + (hidden + 1) * vocab_size + attention


def discriminator_filters(config: Config, length: int) -> list[tuple[int, int]]:
    """(width, count) of the filter banks the run builds (training/build.py): widths that fit, counts scaled."""
    d = config.discriminator
    return [(w, max(1, round(c * d.filter_scale))) for w, c in zip(d.filter_widths, d.filter_counts) if w <= length]


def estimate_memory(config: Config, vocab_size: int, length: int) -> MemoryEstimate:
    """What the run needs at its peak, roughly: weights and optimizer state, plus the largest of
    one batch's activations, the rollout's rows, the evaluation samples and the negatives."""
    g, d, a = config.generator, config.discriminator, config.adversarial
    generator = generator_parameters(config, vocab_size)
    filters = discriminator_filters(config, length)
    features = sum(count for _, count in filters)
    discriminator = (vocab_size * d.embedding + sum(c * (w * d.embedding + 1) for w, c in filters)
                     + 2 * features * (features + 1) + features + 1)
    method = method_class(config.run.method)
    adversarial = ADVERSARIAL in method.phases and a.rounds > 0
    step = core_step_activations(config) + g.embedding + 3 * vocab_size  # per token: the core's; logits and their grads
    batch = max(config.mle.batch_size, method.generator_batch_rows(config) if adversarial else 0)
    d_batch = max(config.pretrain_d.batch_size if PRETRAIN_D in method.phases else 0, a.batch_size if adversarial else 0)
    d_step = length * d.embedding + 2 * sum(c * (length - w + 1) for w, c in filters)
    negatives = max(config.pretrain_d.negatives if PRETRAIN_D in method.phases and config.pretrain_d.rounds > 0 else 0,
                    a.negatives if adversarial else 0)
    rollout = 0
    if adversarial and (method.uses_rollout or a.variance_estimates >= 2) and a.reward == "rollout":  # partial: none
        every = config.rollout.every
        prefixes = max(1, (length - 1) // _ROLLOUT_SHARE.get(every, int(every) if every.isdigit() else 1))
        rows = prefixes * a.rollouts * a.batch_size
        state = 2 * g.layers * core_width(config)  # h and c of a row (the relational core has one layer)
        rollout = (rows * (state * _FLOAT + length * (_LONG + _FLOAT) + 5 * _LONG)
                   + length * a.batch_size * (state + vocab_size) * _FLOAT)
    working = {
        "one training batch's activations": batch * length * step * _FLOAT + d_batch * d_step * 2 * _FLOAT,
        "the rollout's rows": rollout,
        "the evaluation samples": config.run.eval_samples * length * _LONG * 2,
        "the discriminator's negatives": negatives * length * _LONG * 4,
    }
    largest = max(working, key=lambda part: working[part])
    parts = {
        "the generator's weights, gradients and optimizer state": generator * _FLOAT * _GENERATOR_COPIES,
        "the discriminator's weights, gradients and optimizer state": discriminator * _FLOAT * _DISCRIMINATOR_COPIES,
        largest: working[largest],
    }
    return MemoryEstimate(generator * _FLOAT, parts)


# The settings an estimate grows with, by the part it puts them in; the one furthest above its
# default is named in the refusal (of the core's own settings, those of the core the run has).
_MEMORY_SIZES = ("generator.memory_slots", "generator.memory_heads", "generator.memory_head_size")
_CORE_SETTINGS = {"lstm": ("generator.hidden", "generator.layers"), "relational": _MEMORY_SIZES}
_DRIVERS = {
    "the generator's weights, gradients and optimizer state": ("generator.hidden", "generator.embedding",
                                                               "generator.layers", *_MEMORY_SIZES),
    "the discriminator's weights, gradients and optimizer state": ("discriminator.embedding",),
    "one training batch's activations": ("mle.batch_size", "adversarial.batch_size", "pretrain_d.batch_size",
                                         "generator.hidden", "generator.embedding", "generator.layers",
                                         "discriminator.embedding", *_MEMORY_SIZES),
    "the rollout's rows": ("adversarial.rollouts", "adversarial.batch_size", "generator.hidden", *_MEMORY_SIZES),
    "the evaluation samples": ("run.eval_samples",),
    "the discriminator's negatives": ("adversarial.negatives", "pretrain_d.negatives"),
}


def check_budget(config: Config, vocab_size: int, length: int) -> None:
    """Refuse, in one line, settings this machine cannot run: more threads than cores, or a run whose
    estimated memory exceeds the machine's (naming the setting to lower and how far)."""
    cores = machine_cores()
    if config.run.threads > cores:
        raise SeqganError(f"run.threads={config.run.threads} is more than this machine's {cores} cores: "
                          f"use at most run.threads={cores} (0: torch's default, one per core)")
    memory = machine_memory()
    if memory is None:
        return
    estimate = estimate_memory(config, vocab_size, length)
    if estimate.total <= memory:
        return
    part = max(estimate.parts, key=lambda name: estimate.parts[name])
    unused = {name for core, names in _CORE_SETTINGS.items() if core != config.generator.core for name in names}
    drivers = [name for name in _DRIVERS[part] if name not in unused]
    setting = max(drivers, key=lambda name: _value(config, name) / _value(Config(), name))
    value = _value(config, setting)
    if estimate.generator_weights > memory and part.startswith("the generator"):
        need = f"needs about {_gigabytes(estimate.generator_weights)} for its weights alone"
    else:
        need = f"makes the run need about {_gigabytes(estimate.total)} ({part}: {_gigabytes(estimate.parts[part])})"
    fits = _largest_that_fits(config, setting, vocab_size, length, memory)
    advice = f"use at most {setting}={fits}" if fits else "use smaller sizes"
    raise SeqganError(f"{setting}={value} {need}; this machine has {_gigabytes(memory)} of memory: {advice}")


def _value(config: Config, setting: str) -> int:
    section, name = setting.split(".")
    return getattr(getattr(config, section), name)


def _with_value(config: Config, setting: str, value: int) -> Config:
    section, name = setting.split(".")
    return dataclasses.replace(config, **{section: dataclasses.replace(getattr(config, section), **{name: value})})


def _largest_that_fits(config: Config, setting: str, vocab_size: int, length: int, memory: int) -> int | None:
    """The largest value of `setting` (others as they are) whose estimate fits, or None when 1 does not."""
    low, high = 0, _value(config, setting)  # low fits (or is 0), high does not
    while high - low > 1:
        middle = (low + high) // 2
        if estimate_memory(_with_value(config, setting, middle), vocab_size, length).total <= memory:
            low = middle
        else:
            high = middle
    return low or None


def _gigabytes(size: int) -> str:
    return f"{size / 1e9:,.0f} GB" if size >= 10e9 else f"{size / 1e9:.1f} GB"
