"""Algorithm 1 of the SeqGAN paper, and its baselines, as a sequence of short units (an MLE or
scheduled-sampling epoch, a discriminator pre-training round, an adversarial round), with a
checkpoint possible after any unit. A method is its list of phases (config.PHASES); PG-BLEU is the
adversarial phase with BLEU in the discriminator's place; REINFORCE, REBAR and RELAX change only
the generator step (`_generator_step`).

Every random draw comes from explicit torch generators (sampling, shuffling) or torch's global
generator (dropout), and all three are saved, so a resumed run continues exactly as an
uninterrupted one would on the CPU.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from seqgan_music.config import PHASES, AdversarialConfig, Config, config_to_toml, phase_units
from seqgan_music.corpora.corpus import Corpus
from seqgan_music.corpora.encodings import BAR
from seqgan_music.corpora.grammar import sequence_goodness
from seqgan_music.errors import SeqganError
from seqgan_music.training.build import build_discriminator, build_generator
from seqgan_music.training.checkpoint import load_checkpoint, save_checkpoint
from seqgan_music.training.device import resolve_precision
from seqgan_music.training.discriminator_training import real_windows, train_discriminator
from seqgan_music.training.estimators import MovingBaseline, gradient_estimates, log_gradient_variance
from seqgan_music.training.events import SilentObserver, TrainingEvent, TrainingObserver
from seqgan_music.training.mle import mle_epoch, per_token_nll
from seqgan_music.training.pg_bleu import BleuScorer
from seqgan_music.training.optimization import descend
from seqgan_music.training.policy_gradient import policy_gradient_step, policy_gradient_surrogate
from seqgan_music.training.reinforce import reinforce_surrogate
from seqgan_music.training.relaxed import RelaxedEstimator, relaxed_surrogate
from seqgan_music.training.rollout import RolloutPolicy, Scorer
from seqgan_music.training.run_lock import RunLock
from seqgan_music.training.runs import (
    FINAL_SAMPLES,
    SAMPLES_DIR,
    STATE_FILE,
    append_metrics,
    now,
    read_metrics,
    read_run_info,
    this_process,
    truncate_metrics,
    write_run_info,
)
from seqgan_music.training.samples import write_samples
from seqgan_music.training.scheduled_sampling import scheduled_omega, scheduled_sampling_epoch
from seqgan_music.training.sequences import training_sequences

_EVAL_SEED_OFFSET = 1_000_003
_VARIANCE_SEED_OFFSET = 2_000_003


@dataclass
class Position:
    """Where the run stands: the phase index and the units done in it."""

    phase: int = 0
    unit: int = 0


class Trainer:
    """Builds the models for a corpus and config, runs the phases, saves and resumes."""

    def __init__(self, corpus: Corpus, config: Config, folder: Path, device: torch.device,
                 observer: TrainingObserver | None = None) -> None:
        self.corpus, self.config, self.folder, self.device = corpus, config, folder, device
        self.observer = observer or SilentObserver()
        self.phases = PHASES[config.run.method]
        self.position = Position()
        self.elapsed_before = 0.0
        self.started = time.perf_counter()
        self.stop_requested = False
        self.resumed = False  # set by resume_run: the run folder was there before this session
        self.lock: RunLock | None = None  # the run's lock, taken by start_run or resume_run; run() releases it
        seed = config.run.seed
        torch.manual_seed(seed)
        self.data = training_sequences(corpus, config.data.unit, device)  # windows, or whole tunes padded
        self.length = self.data.length
        self.bar_token = corpus.vocabulary.id(BAR) if BAR in corpus.vocabulary else None
        if config.rollout.every == "bar" and self.bar_token is None:
            raise SeqganError(f"rollout.every=bar needs bar lines, and corpus {corpus.name!r} has none: "
                              "use rollout.every=token or a number")
        self.generator = build_generator(corpus, config).to(device)
        self.discriminator = build_discriminator(corpus, config, self.length).to(device)
        self.policy = RolloutPolicy(self.generator, config.adversarial.beta)
        # What rewards the rollouts' completions: BLEU against real windows (PG-BLEU), else D.
        self.scorer: Scorer = self.discriminator
        if config.run.method == "pg-bleu":
            settings = config.pg_bleu
            self.scorer = BleuScorer(self.data.train.cpu().numpy(), corpus.vocabulary, settings.order,  # windows or tunes
                                     settings.reference_share, config.run.seed)
        # REINFORCE's moving-average baseline (adversarial.baseline); SeqGAN's is the batch mean.
        self.moving_baseline = MovingBaseline() if config.adversarial.baseline else None
        self.relaxed = (RelaxedEstimator(config.run.method, len(corpus.vocabulary), config.relaxation, device)
                        if config.run.method in ("rebar", "relax") else None)
        self.optimizers = {
            "mle": torch.optim.Adam(self.generator.parameters(), lr=config.mle.learning_rate),
            "adversarial": torch.optim.Adam(self.generator.parameters(), lr=config.adversarial.learning_rate),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=config.pretrain_d.learning_rate),
        }
        self.sampling = torch.Generator(device=device).manual_seed(seed)
        self.shuffle = torch.Generator().manual_seed(seed + 1)
        self.train_data, self.test_data, self.valid_data = self.data.train, self.data.test, self.data.valid  # (N, T)
        self.best_mle: dict | None = None  # keep_best: {"nll_valid", "epoch", "generator"} of the best epoch so far
        self.oracle = _oracle_of(corpus, device)
        self.precision = resolve_precision(config.rollout.precision, device)

    # ----------------------------------------------------------------- running
    def run(self) -> str:
        """Run the remaining units; returns "finished" or "interrupted" (after saving). The run's
        lock is released on the way out, however it ends; a failed write (a full disk) marks the run
        interrupted, resumable from its last checkpoint, before the error goes on."""
        try:
            return self._run()
        except OSError:  # a full disk or an unwritable folder: the last checkpoint (atomic) stays good
            with contextlib.suppress(OSError):
                self._set_status("interrupted")
            raise
        finally:
            if self.lock is not None:
                self.lock.release()

    def _run(self) -> str:
        self._set_status("running")
        while self.position.phase < len(self.phases):
            phase = self.phases[self.position.phase]
            total = self._units(phase)
            self._emit("phase", phase, self.position.unit, total)  # also where a resumed run picks a phase up
            while self.position.unit < total:
                metrics = self._run_unit(phase, self.position.unit + 1)
                self.position.unit += 1
                self._log(phase, self.position.unit, total, metrics)
                if self.stop_requested:
                    self.save()
                    self._set_status("interrupted")
                    return "interrupted"
                if self.position.unit % self.config.run.checkpoint_every == 0:
                    self.save()
            self.position = Position(self.position.phase + 1, 0)
            self.save()
        self._finish()
        return "finished"

    def request_stop(self) -> None:
        """Ask the run to stop after the current unit and save (what Ctrl-C does)."""
        self.stop_requested = True

    def _units(self, phase: str) -> int:
        return phase_units(self.config, phase)

    def _run_unit(self, phase: str, unit: int) -> dict:
        if phase == "mle":
            settings = self.config.mle
            loss = mle_epoch(self.generator, self.optimizers["mle"], self.train_data, settings.batch_size,
                             settings.grad_clip, self.shuffle, self.data.train_lengths)
            metrics: dict = {"g_loss": loss}
            if settings.keep_best and len(self.valid_data):
                metrics.update(self._keep_best_epoch(unit, last=unit == settings.epochs))
            if unit % settings.eval_every == 0 or unit == settings.epochs:
                metrics.update(self._evaluate(phase, unit))
            return metrics
        if phase == "ss":
            settings_ss, settings_mle = self.config.scheduled_sampling, self.config.mle
            metrics = scheduled_sampling_epoch(self.generator, self.optimizers["mle"], self.train_data,
                                               settings_mle.batch_size, settings_mle.grad_clip,
                                               scheduled_omega(unit, settings_ss.decay), self.shuffle, self.sampling)
            if unit % settings_mle.eval_every == 0 or unit == settings_ss.epochs:
                metrics.update(self._evaluate(phase, unit))
            return metrics
        if phase == "pretrain_d":
            settings_d = self.config.pretrain_d
            return self._train_discriminator(settings_d.negatives, settings_d.epochs, settings_d.batch_size)
        settings_a = self.config.adversarial
        metrics = {}
        for _ in range(settings_a.g_steps):
            metrics = self._generator_step(settings_a)
        for _ in range(settings_a.d_steps if self.scorer is self.discriminator else 0):
            metrics.update(self._train_discriminator(settings_a.negatives, settings_a.d_epochs, settings_a.batch_size))
        if unit % settings_a.eval_every == 0 or unit == settings_a.rounds:
            metrics.update(self._gradient_variance(unit))
            metrics.update(self._evaluate(phase, unit))
        return metrics

    def _generator_step(self, settings: AdversarialConfig) -> dict:
        """One generator update of the run's method: rollout policy gradient (SeqGAN, PG-BLEU),
        sequence-level REINFORCE, or the REBAR / RELAX estimate (which also steps its control)."""
        optimizer = self.optimizers["adversarial"]
        if self._uses_rollout:
            return policy_gradient_step(self.generator, optimizer, self.policy, self.scorer, self.length, settings,
                                        self.config.rollout.chunk_size, self.precision, self.sampling,
                                        self.config.rollout.every, self.bar_token)
        loss, metrics = self._surrogate(settings, self.sampling, training=True)
        parameters = list(self.generator.parameters())
        if self.relaxed is None:
            descend(loss, parameters, optimizer, settings.grad_clip)
            return metrics
        optimizer.zero_grad(set_to_none=True)
        metrics.update(self.relaxed.step(loss, parameters))
        torch.nn.utils.clip_grad_norm_(parameters, settings.grad_clip)
        optimizer.step()
        return metrics

    @property
    def _uses_rollout(self) -> bool:
        """SeqGAN and PG-BLEU reward tokens by Monte Carlo rollout; REINFORCE, REBAR and RELAX do not."""
        return self.relaxed is None and self.config.run.method != "reinforce"

    def _surrogate(self, settings: AdversarialConfig, noise: torch.Generator, training: bool) -> tuple[torch.Tensor, dict]:
        """The method's loss on a fresh batch drawn with `noise`; its gradient is the update."""
        if self.config.run.method == "reinforce":
            return reinforce_surrogate(self.generator, self.discriminator, self.length, settings,
                                       self.moving_baseline, training, noise)
        if self.relaxed is not None:
            return relaxed_surrogate(self.generator, self.discriminator, self.relaxed, self.length, settings, noise)
        return policy_gradient_surrogate(self.generator, self.policy, self.scorer, self.length, settings,
                                         self.config.rollout.chunk_size, self.precision, noise,
                                         self.config.rollout.every, self.bar_token)

    def _gradient_variance(self, unit: int) -> dict:
        """ln of the variance over `variance_estimates` fresh batches of the gradient estimate, per
        sequence, for the generator's output layer (the mean over its weights) and for one weight
        (the first): the ReGAN paper's comparison of estimators. Its own noise, so training is unchanged."""
        count = self.config.adversarial.variance_estimates
        if count < 2:
            return {}
        settings = self.config.adversarial
        noise = torch.Generator(device=self.device).manual_seed(self.config.run.seed + _VARIANCE_SEED_OFFSET + unit)
        per_sequence = settings.batch_size if self._uses_rollout else 1  # the rollout loss sums over the batch
        weight = self.generator.output.weight
        estimates = gradient_estimates(lambda: self._surrogate(settings, noise, training=False)[0] / per_sequence,
                                       weight, count)  # (K, V, H)
        return {"log_variance_output": log_gradient_variance(estimates),
                "log_variance_weight": log_gradient_variance(estimates[:, 0, :1])}

    def _keep_best_epoch(self, epoch: int, last: bool) -> dict:
        """Remember the generator of the epoch with the lowest validation NLL; after the last
        epoch, go back to it (so MLE never ends overfitted)."""
        nll_valid = per_token_nll(self.generator, self.valid_data)
        if self.best_mle is None or nll_valid < self.best_mle["nll_valid"]:
            self.best_mle = {"nll_valid": nll_valid, "epoch": epoch,
                             "generator": {k: v.detach().clone() for k, v in self.generator.state_dict().items()}}
        metrics = {"nll_valid": nll_valid}
        if last:
            self.generator.load_state_dict(self.best_mle["generator"])
            metrics["best_epoch"] = self.best_mle["epoch"]
        return metrics

    def _train_discriminator(self, negatives: int, epochs: int, batch_size: int) -> dict:
        self.generator.eval()
        fakes = self.generator.sample(negatives, self.length, generator=self.sampling)  # (N, T)
        reals = real_windows(self.train_data, negatives, self.shuffle)  # (N, T)
        return train_discriminator(self.discriminator, self.optimizers["discriminator"], reals, fakes,
                                   epochs, batch_size, self.shuffle)

    def _evaluate(self, phase: str, unit: int) -> dict:
        """NLL_test (where there is held-out data), NLL_oracle for oracle corpora, the goodness score
        (the share of valid three-token windows) for toy-grammar corpora, from a generator of its own so that
        evaluating never changes the training's random stream."""
        # No held-out data (see check_held_out): NLL_test is left out, never logged as 0.
        metrics = {"nll_test": per_token_nll(self.generator, self.test_data)} if len(self.test_data) else {}
        evaluation = torch.Generator(device=self.device).manual_seed(
            self.config.run.seed + _EVAL_SEED_OFFSET * (1 + self.position.phase) + unit)
        samples = self.generator.sample(self.config.run.eval_samples, self.length, generator=evaluation)
        if self.oracle is not None:
            metrics["nll_oracle"] = float(self.oracle.nll(samples).mean())
        if self.corpus.manifest.get("source", {}).get("kind") == "grammar":
            rows = samples.cpu().numpy()
            metrics["goodness"] = sum(sequence_goodness(self.corpus.symbols(row)) for row in rows) / max(len(rows), 1)
        write_samples(self.corpus, samples[:8].cpu().numpy(), self.folder / SAMPLES_DIR / f"{phase}-{unit:04d}",
                      tunes=self.config.data.unit == "tune")
        return metrics

    # ----------------------------------------------------------------- reporting
    def _log(self, phase: str, unit: int, total: int, metrics: dict) -> None:
        record = {"phase": phase, "step": unit, **{k: round(v, 6) for k, v in metrics.items()},
                  "elapsed": round(self.elapsed(), 2)}
        append_metrics(self.folder, record)
        self._emit("unit", phase, unit, total, record)

    def _emit(self, kind: str, phase: str, unit: int, total: int, metrics: dict | None = None,
              message: str = "") -> None:
        self.observer.on_event(TrainingEvent(kind, phase, unit, total, metrics or {}, self.elapsed(), message))

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def _set_status(self, status: str) -> None:
        info = read_run_info(self.folder)
        done = self.position.phase >= len(self.phases)  # past the last phase: show it complete
        phase = self.phases[-1] if done else self.phases[self.position.phase]
        info.update(status=status, updated=now(), elapsed=round(self.elapsed(), 1),
                    progress={"phase": phase, "phase_index": min(self.position.phase, len(self.phases) - 1),
                              "unit": self._units(phase) if done else self.position.unit,
                              "units": self._units(phase), "phases": list(self.phases)})
        info.pop("owner", None)
        if status == "running":  # who trains it, so that a resume elsewhere can tell whether it still does
            info["owner"] = this_process()
        write_run_info(self.folder, info)

    def _finish(self) -> None:
        self.generator.eval()
        final = torch.Generator(device=self.device).manual_seed(self.config.run.seed)
        samples = self.generator.sample(self.config.run.samples, self.length,
                                        temperature=self.config.sampling.temperature,
                                        top_k=self.config.sampling.top_k or None, generator=final)
        written = write_samples(self.corpus, samples.cpu().numpy(), self.folder / SAMPLES_DIR / FINAL_SAMPLES,
                                tunes=self.config.data.unit == "tune")
        self._set_status("finished")
        self._emit("finished", "", 0, 0, message=f"wrote {len(written)} sample file(s) to {self.folder / SAMPLES_DIR}")

    # ----------------------------------------------------------------- state
    def save(self) -> None:
        state = {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "rollout": self.policy.state_dict(),
            "optimizers": {name: o.state_dict() for name, o in self.optimizers.items()},
            "rng": {"torch": torch.get_rng_state(), "sampling": self.sampling.get_state(),
                    "shuffle": self.shuffle.get_state(),
                    "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else []},
            "position": {"phase": self.position.phase, "unit": self.position.unit},
            "best_mle": self.best_mle or {},
            "moving_baseline": self.moving_baseline.value if self.moving_baseline else None,
            "relaxation": self.relaxed.state_dict() if self.relaxed else {},
            "metrics_lines": len(read_metrics(self.folder)),
            "elapsed": self.elapsed(),
            "corpus_hash": self.corpus.manifest["content_hash"],
            "config": config_to_toml(self.config),
        }
        save_checkpoint(self.folder / STATE_FILE, state)
        self._set_status("running" if self.position.phase < len(self.phases) else "finished")
        self._emit("checkpoint", "", self.position.unit, 0, message=f"saved {self.folder / STATE_FILE}")

    def restore(self) -> None:
        """Continue from the run's checkpoint (the caller has checked corpus and config)."""
        state = load_checkpoint(self.folder / STATE_FILE)
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.policy.load_state_dict(state["rollout"])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        torch.set_rng_state(state["rng"]["torch"])
        self.sampling.set_state(state["rng"]["sampling"])
        self.shuffle.set_state(state["rng"]["shuffle"])
        if self.device.type == "cuda" and state["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.best_mle = state.get("best_mle") or None
        if self.moving_baseline is not None:
            self.moving_baseline.value = state.get("moving_baseline")
        if self.relaxed is not None:
            self.relaxed.load_state_dict(state["relaxation"])
        self.position = Position(int(state["position"]["phase"]), int(state["position"]["unit"]))
        self.elapsed_before = float(state["elapsed"])
        self.started = time.perf_counter()
        truncate_metrics(self.folder, int(state["metrics_lines"]))


def _oracle_of(corpus: Corpus, device: torch.device):
    if corpus.manifest.get("source", {}).get("kind") != "oracle":
        return None
    from seqgan_music.corpora.oracle import corpus_oracle

    return corpus_oracle(corpus).to(device)

