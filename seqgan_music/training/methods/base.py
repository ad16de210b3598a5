"""The one interface every training method stands behind.

A method says what it builds (its generator and discriminator, and anything of its own such as a
rollout policy or a control variate), which phases it runs, what one unit of each phase does, what
it adds to the checkpoint, and which config sections only it reads. The trainer owns what every
method shares (the models, the data, the optimizers, the random streams, evaluation, checkpoints
and the log) and never asks which method it runs.

`AdversarialMethod` is the skeleton of Algorithm 1's adversarial round (g-steps generator updates,
d-steps discriminator refreshes, an evaluation now and then), so most methods only say how the
generator takes one step.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor, nn

from seqgan_music.config import Config
from seqgan_music.corpora.corpus import Corpus
from seqgan_music.errors import SeqganError
from seqgan_music.models.generator import Generator
from seqgan_music.phases import ADVERSARIAL, MLE, PRETRAIN_D, Phase
from seqgan_music.training.build import build_discriminator, build_generator
from seqgan_music.training.estimators import gradient_estimates, log_gradient_variance
from seqgan_music.training.mle import mle_epoch, per_token_nll
from seqgan_music.training.model_sizes import ModelSizes, discriminator_parameters, generator_parameters
from seqgan_music.training.optimization import descend
from seqgan_music.training.partial_rewards import PARTIAL

if TYPE_CHECKING:
    from seqgan_music.training.trainer import Trainer

_VARIANCE_SEED_OFFSET = 2_000_003

UnitRunner = Callable[[int], dict]


class Method:
    """A training method: its phases and what a unit of each does. Subclasses set the class
    attributes and add runners for the phases the base does not know."""

    name: ClassVar[str]  # what `run.method` names
    label: ClassVar[str]  # as people read it: "SeqGAN"
    summary: ClassVar[str]  # one line for --help and the terminal app
    phases: ClassVar[tuple[Phase, ...]]
    sections: ClassVar[tuple[str, ...]] = ()  # config sections that only this method reads
    uses_rollout: ClassVar[bool] = False  # rewards tokens by Monte Carlo rollout (what the memory estimate needs)
    # Can reward token t by D of the prefix x_1..t (adversarial.reward=partial); other methods refuse it.
    partial_rewards: ClassVar[bool] = False
    # Settings of the method's own sections that size its models: what a memory refusal may name (training/budget.py).
    size_settings: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def build_generator(cls, corpus: Corpus, config: Config) -> Generator:
        """The generator this method trains (also what loads a finished run's weights)."""
        return build_generator(corpus, config)

    @classmethod
    def build_discriminator(cls, corpus: Corpus, config: Config, length: int) -> nn.Module:
        return build_discriminator(corpus, config, length)

    @classmethod
    def model_sizes(cls, config: Config, vocab_size: int, length: int) -> ModelSizes:
        """Parameter counts of what `build_generator` and `build_discriminator` (and the method itself)
        build, from the settings alone: what the memory estimate (training/budget.py) counts."""
        return ModelSizes(generator_parameters(config, vocab_size),
                          discriminator_parameters(config, vocab_size, length))

    @classmethod
    def distributed_refusal(cls, config: Config) -> str:
        """Why this method cannot train on several processes (training/distributed.py), or "" when it
        can: every update goes through `descend`, and what it keeps besides the models is the same on every rank."""
        return ""

    @classmethod
    def generator_batch_rows(cls, config: Config) -> int:
        """How many sequences one adversarial generator step back-propagates through (what the
        memory estimate, training/budget.py, sizes its activations by)."""
        return config.adversarial.batch_size

    def __init__(self, trainer: Trainer) -> None:
        # A weak reference: the trainer owns the method, and a trainer dropped unrun must free its
        # run's lock at once (run_lock.RunLock.__del__), not whenever a cycle collection comes.
        self.trainer: Trainer = weakref.proxy(trainer)
        self.config = trainer.config
        if self.config.adversarial.reward == PARTIAL and not self.partial_rewards:
            raise SeqganError(f"method {self.name} cannot use adversarial.reward=partial (D's reward for each "
                              "prefix instead of for its rollouts; seqgan can): set adversarial.reward=rollout")
        self.runners: dict[str, UnitRunner] = self.unit_runners()

    def unit_runners(self) -> dict[str, UnitRunner]:
        """Phase name -> what one unit of it does (returns the metrics to log)."""
        return {MLE.name: self.mle_epoch, PRETRAIN_D.name: self.pretrain_d_round}

    def run_unit(self, phase: Phase, unit: int) -> dict:
        return self.runners[phase.name](unit)

    def state_dict(self) -> dict:
        """What this method adds to the checkpoint, under keys of its own."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what `state_dict` added (the whole checkpoint is passed)."""

    # ---------------------------------------------------------------- phases every method may run
    def mle_epoch(self, unit: int) -> dict:
        """One epoch of maximum likelihood; with `mle.keep_best`, the best validation epoch wins."""
        trainer, settings = self.trainer, self.config.mle
        loss = mle_epoch(trainer.generator, trainer.optimizers["mle"], trainer.train_data, settings.batch_size,
                         settings.grad_clip, trainer.shuffle, trainer.data.train_lengths)
        return self.finish_mle_epoch(unit, {"g_loss": loss})

    def finish_mle_epoch(self, unit: int, metrics: dict, evaluated: Callable[[], dict] | None = None) -> dict:
        """The end of an MLE-phase epoch, whatever loss it trained: with `mle.keep_best` the best
        validation epoch wins; every `eval_every` epochs and after the last, the run's evaluation
        (and what `evaluated()` adds to it) joins the epoch's `metrics`."""
        settings = self.config.mle
        if settings.keep_best and len(self.trainer.valid_data):
            metrics.update(self._keep_best_epoch(unit, last=unit == settings.epochs))
        if unit % settings.eval_every == 0 or unit == settings.epochs:
            metrics.update(self.trainer.evaluate(MLE, unit))
            if evaluated is not None:
                metrics.update(evaluated())
        return metrics

    def _keep_best_epoch(self, epoch: int, last: bool) -> dict:
        """Remember the generator of the epoch with the lowest validation NLL; after the last
        epoch, go back to it (so MLE never ends overfitted)."""
        trainer = self.trainer
        nll_valid = per_token_nll(trainer.generator, trainer.valid_data)
        best = trainer.best_mle
        if best is None or nll_valid < best["nll_valid"]:
            trainer.best_mle = {"nll_valid": nll_valid, "epoch": epoch,
                                "generator": {k: v.detach().clone() for k, v in trainer.generator.state_dict().items()}}
        metrics = {"nll_valid": nll_valid}
        if last:
            trainer.generator.load_state_dict(trainer.best_mle["generator"])
            metrics["best_epoch"] = trainer.best_mle["epoch"]
        return metrics

    def pretrain_d_round(self, unit: int) -> dict:
        settings = self.config.pretrain_d
        return self.train_discriminator(settings.negatives, settings.epochs, settings.batch_size)

    def train_discriminator(self, negatives: int, epochs: int, batch_size: int) -> dict:
        """Fresh negatives from the generator against as many real sequences (what D learns from):
        prefixes of them when D rewards prefixes."""
        return self.trainer.train_discriminator(negatives, epochs, batch_size,
                                                prefixes=self.config.adversarial.reward == PARTIAL)


class AdversarialMethod(Method):
    """MLE pre-training, D pre-training, then adversarial rounds (Algorithm 1): a subclass says how
    the generator takes one step (`surrogate`, or `generator_step` itself)."""

    phases = (MLE, PRETRAIN_D, ADVERSARIAL)
    trains_discriminator: ClassVar[bool] = True  # refreshes D in each adversarial round (PG-BLEU has none)

    def unit_runners(self) -> dict[str, UnitRunner]:
        return {**super().unit_runners(), ADVERSARIAL.name: self.adversarial_round}

    def adversarial_round(self, unit: int) -> dict:
        settings = self.config.adversarial
        metrics: dict = {}
        for _ in range(settings.g_steps):
            metrics = self.generator_step()
        for _ in range(settings.d_steps if self.trains_discriminator else 0):
            metrics.update(self.train_discriminator(settings.negatives, settings.d_epochs, settings.batch_size))
        if (unit % settings.eval_every == 0 or unit == settings.rounds) and self.trainer.writer:  # rank 0 evaluates
            metrics.update(self.gradient_variance(unit))
            metrics.update(self.trainer.evaluate(ADVERSARIAL, unit))
        return metrics

    def surrogate(self, noise: torch.Generator, training: bool) -> tuple[Tensor, dict]:
        """The method's loss on a fresh batch drawn with `noise` (its gradient is the update), and
        what to log. `training` is False when only the gradient's variance is measured: nothing
        the method keeps (a moving baseline) may change then."""
        raise NotImplementedError(f"{type(self).__name__} defines no surrogate loss")

    # The surrogate's scale relative to one sequence's estimate (the rollout loss sums over its batch).
    def surrogate_sequences(self) -> int:
        return 1

    def generator_step(self) -> dict:
        """One generator update: descend the surrogate."""
        loss, metrics = self.surrogate(self.trainer.sampling, training=True)
        descend(loss, list(self.trainer.generator.parameters()), self.trainer.optimizers["adversarial"],
                self.config.adversarial.grad_clip)
        return metrics

    def gradient_variance(self, unit: int) -> dict:
        """ln of the variance over `variance_estimates` fresh batches of the gradient estimate, per
        sequence, for the generator's output layer (the mean over its weights) and for one weight
        (the first): the ReGAN paper's comparison of estimators. Its own noise, so training is unchanged."""
        count = self.config.adversarial.variance_estimates
        if count < 2:
            return {}
        noise = torch.Generator(device=self.trainer.device).manual_seed(
            self.config.run.seed + _VARIANCE_SEED_OFFSET + unit)
        scale = self.surrogate_sequences()
        weight = self.trainer.generator.output.weight
        estimates = gradient_estimates(lambda: self.surrogate(noise, training=False)[0] / scale, weight, count)  # (K, V, H)
        return {"log_variance_output": log_gradient_variance(estimates),
                "log_variance_weight": log_gradient_variance(estimates[:, 0, :1])}
