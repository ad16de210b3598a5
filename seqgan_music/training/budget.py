"""What a run's settings ask of this machine, checked before a run folder is made: threads against
the cores, and memory, estimated from the sizes of the models the run's method builds (each method
counts its own: training/model_sizes.py), the corpus's vocabulary and sequence length and the batch
sizes, against the machine's memory. Without the check, too many threads segfault
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
from seqgan_music.phases import ADVERSARIAL, PRETRAIN_D
from seqgan_music.training.methods import method_class
from seqgan_music.training.model_sizes import core_width, discriminator_filters

_FLOAT, _LONG = 4, 8  # bytes of a float32 weight or activation, and of an int64 token id
# Weights, their gradients, Adam's two moments in each of the two generator optimizers (MLE and
# adversarial), the rollout network's copy and keep_best's copy: about 8 copies of the generator.
_GENERATOR_COPIES = 8
_DISCRIMINATOR_COPIES = 4  # weights, gradients, Adam's two moments
_OWN_COPIES = 4  # a method's own model (RELAX's control): the same
_FROZEN_COPIES = 2  # weights the generator holds untrained (LeakGAN's copy of D), and keep_best's copy of them
_GENERATOR_PART = "the generator's weights, gradients and optimizer state"
_DISCRIMINATOR_PART = "the discriminator's weights, gradients and optimizer state"
_OWN_PART = "the method's own models' weights, gradients and optimizer state"
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


def core_step_activations(config: Config) -> int:
    """Floats the core keeps per token for the backward pass: the LSTM's gates, h and c per layer; the
    relational memory's query-key-value rows, attention weights, MLP, norms and gates, roughly."""
    g = config.generator
    if g.core == "lstm":
        return g.layers * 6 * g.hidden
    slot, slots = g.memory_heads * g.memory_head_size, g.memory_slots
    return (slots + 1) * 8 * slot + slots * 12 * slot + g.memory_heads * slots * (slots + 1)


def estimate_memory(config: Config, vocab_size: int, length: int) -> MemoryEstimate:
    """What the run needs at its peak, roughly: the weights and optimizer state of every model the
    method builds, plus the largest of one batch's activations, the rollout's rows, the evaluation
    samples and the negatives."""
    generator_weights, weights, working = _needs(config, vocab_size, length)
    largest = max(working, key=lambda part: working[part])
    return MemoryEstimate(generator_weights, {**weights, largest: working[largest]})


def _needs(config: Config, vocab_size: int, length: int) -> tuple[int, dict[str, int], dict[str, int]]:
    """The generator's weights alone, what the models hold all run long, and each of the working
    sets (only the largest of which is held at once), in bytes."""
    g, d, a = config.generator, config.discriminator, config.adversarial
    method = method_class(config.run.method)
    sizes = method.model_sizes(config, vocab_size, length)
    filters = discriminator_filters(config, length)
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
        state = 2 * (g.layers if g.core == "lstm" else 1) * core_width(config)  # h and c of a row
        rollout = (rows * (state * _FLOAT + length * (_LONG + _FLOAT) + 5 * _LONG)
                   + length * a.batch_size * (state + vocab_size) * _FLOAT)
    weights = {
        _GENERATOR_PART: (sizes.generator * _GENERATOR_COPIES + sizes.frozen * _FROZEN_COPIES) * _FLOAT,
        _DISCRIMINATOR_PART: sizes.discriminator * _DISCRIMINATOR_COPIES * _FLOAT,
        _OWN_PART: sizes.own * _OWN_COPIES * _FLOAT,
    }
    working = {
        "one training batch's activations": batch * length * step * _FLOAT + d_batch * d_step * 2 * _FLOAT,
        "the rollout's rows": rollout,
        "the evaluation samples": config.run.eval_samples * length * _LONG * 2,
        "the discriminator's negatives": negatives * length * _LONG * 4,
    }
    return sizes.generator * _FLOAT, weights, working


# The settings an estimate grows with. A refusal names, of those that grow its largest part in this
# run (the method's own sizes too; not the settings of a core or model the run does not build), the
# one furthest above its default.
_SIZE_SETTINGS = ("generator.hidden", "generator.embedding", "generator.layers", "generator.memory_slots",
                  "generator.memory_heads", "generator.memory_head_size", "discriminator.embedding", "mle.batch_size",
                  "adversarial.batch_size", "pretrain_d.batch_size", "adversarial.rollouts", "run.eval_samples",
                  "adversarial.negatives", "pretrain_d.negatives")


def _drivers(config: Config, part: str, vocab_size: int, length: int) -> list[str]:
    """The size settings whose doubling grows `part` of this run's estimate."""
    def size(of: Config) -> int:
        _, weights, working = _needs(of, vocab_size, length)
        return {**weights, **working}[part]

    now = size(config)
    candidates = (*_SIZE_SETTINGS, *method_class(config.run.method).size_settings)
    return [name for name in candidates if size(_with_value(config, name, 2 * _value(config, name))) > now]


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
    drivers = _drivers(config, part, vocab_size, length)
    setting = max(drivers, key=lambda name: _value(config, name) / _value(Config(), name))
    value = _value(config, setting)
    if estimate.generator_weights > memory and part == _GENERATOR_PART:
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
