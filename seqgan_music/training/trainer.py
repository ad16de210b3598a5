"""Runs a training method (training/methods/) as a sequence of short units (an MLE or scheduled
sampling epoch, a discriminator pre-training round, an adversarial round), with a checkpoint
possible after any unit. The trainer owns what every method shares: the models, the data, the
optimizers, the random streams, evaluation, the log and the checkpoint. It never asks which method
it runs; the method says what its phases are and what a unit of each does.

Every random draw comes from explicit torch generators (sampling, shuffling) or torch's global
generator (dropout), and all three are saved, so a resumed run continues exactly as an
uninterrupted one would on the CPU.

Under torchrun every process runs a trainer (training/distributed.py): the same models, the same
shuffle, sampling and dropout streams of its own; rank 0 alone evaluates, logs, writes samples
and checkpoints (holding every rank's streams), and a stop asked for in any process stops all of
them after the same unit.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from seqgan_music.config import Config, config_to_toml
from seqgan_music.corpora.corpus import Corpus
from seqgan_music.corpora.grammar import sequence_goodness
from seqgan_music.phases import Phase
from seqgan_music.errors import SeqganError
from seqgan_music.project_files import damage_as_error
from seqgan_music.training import distributed
from seqgan_music.training.checkpoint import checkpoint_remedy, load_checkpoint, save_checkpoint
from seqgan_music.training.discriminator_training import random_prefixes, real_windows, train_discriminator
from seqgan_music.training.events import SilentObserver, TrainingEvent, TrainingObserver
from seqgan_music.training.methods import method_class
from seqgan_music.training.mle import per_token_nll
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
from seqgan_music.training.sequences import training_sequences

_EVAL_SEED_OFFSET = 1_000_003


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
        self.writer, self.world = distributed.is_writer(), distributed.world_size()  # rank 0 alone writes
        self.observer = (observer if self.writer else None) or SilentObserver()
        method = method_class(config.run.method)
        self.phases: tuple[Phase, ...] = method.phases
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
        self.train_data, self.test_data, self.valid_data = self.data.train, self.data.test, self.data.valid  # (N, T)
        self.generator = method.build_generator(corpus, config).to(device)
        self.discriminator = method.build_discriminator(corpus, config, self.length).to(device)
        self.method = method(self)  # what it builds of its own (a rollout policy, a control) comes after the models
        self.optimizers = {
            "mle": torch.optim.Adam(self.generator.parameters(), lr=config.mle.learning_rate),
            "adversarial": torch.optim.Adam(self.generator.parameters(), lr=config.adversarial.learning_rate),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=config.pretrain_d.learning_rate),
        }
        # The models are the same on every rank (built from the run's seed); what is drawn from here
        # on differs per rank, except the shuffle, which every rank shares (the same epoch order).
        self.sampling = torch.Generator(device=device).manual_seed(distributed.rank_seed(seed))
        self.shuffle = torch.Generator().manual_seed(seed + 1)
        if distributed.rank_seed(seed) != seed:
            torch.manual_seed(distributed.rank_seed(seed))  # dropout
        self.best_mle: dict | None = None  # keep_best: {"nll_valid", "epoch", "generator"} of the best epoch so far
        self.oracle = _oracle_of(corpus, device)

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
        except distributed.PeerFailure as failure:  # another rank has gone: the job stops, resumable
            with contextlib.suppress(OSError):
                self._set_status("interrupted")
            raise distributed.PeerFailure(f"{failure}; run {self.folder.name!r} is marked interrupted: resume it "
                                          f"with the same number of processes") from None
        finally:
            if self.lock is not None:
                self.lock.release()

    def _run(self) -> str:
        self._set_status("running")
        while self.position.phase < len(self.phases):
            phase = self.phases[self.position.phase]
            total = phase.units(self.config)
            self._emit("phase", phase.name, self.position.unit, total)  # also where a resumed run picks a phase up
            while self.position.unit < total:
                metrics = self.method.run_unit(phase, self.position.unit + 1)
                self.position.unit += 1
                self._log(phase.name, self.position.unit, total, metrics)
                if distributed.agree(self.stop_requested):
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

    def train_discriminator(self, negatives: int, epochs: int, batch_size: int, prefixes: bool = False) -> dict:
        """D against `negatives` fresh samples of the generator and as many real sequences; with
        `prefixes`, each cut at a random length (a discriminator of partial sequences)."""
        self.generator.eval()
        count = distributed.per_rank(negatives)  # with several processes, each its share
        fakes = self.generator.sample(count, self.length, generator=self.sampling)  # (N, T)
        reals = real_windows(self.train_data, count * self.world, self.shuffle)  # the same draw on every rank
        reals = reals[distributed.rank() * count:(distributed.rank() + 1) * count]  # (N, T): this rank's own
        if prefixes:
            reals, fakes = (random_prefixes(rows, self.generator.token_mask(rows), self.shuffle)
                            for rows in (reals, fakes))
        return train_discriminator(self.discriminator, self.optimizers["discriminator"], reals, fakes,
                                   epochs, batch_size, self.shuffle)

    def evaluate(self, phase: Phase, unit: int) -> dict:
        """NLL_test (where there is held-out data), NLL_oracle for oracle corpora, the goodness score
        (the share of valid three-token windows) for toy-grammar corpora, from a generator of its own so that
        evaluating never changes the training's random stream. Rank 0's alone (the others log nothing)."""
        if not self.writer:
            return {}
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
        write_samples(self.corpus, samples[:8].cpu().numpy(), self.folder / SAMPLES_DIR / f"{phase.name}-{unit:04d}",
                      tunes=self.config.data.unit == "tune")
        return metrics

    # ----------------------------------------------------------------- reporting
    def _log(self, phase: str, unit: int, total: int, metrics: dict) -> None:
        if not self.writer:
            return
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
        if not self.writer:
            return
        info = read_run_info(self.folder)
        done = self.position.phase >= len(self.phases)  # past the last phase: show it complete
        phase = self.phases[-1] if done else self.phases[self.position.phase]
        units = phase.units(self.config)
        info.update(status=status, updated=now(), elapsed=round(self.elapsed(), 1),
                    progress={"phase": phase.name, "phase_index": min(self.position.phase, len(self.phases) - 1),
                              "unit": units if done else self.position.unit, "units": units,
                              "phases": [p.name for p in self.phases]})
        info.pop("owner", None)
        if status == "running":  # who trains it, so that a resume elsewhere can tell whether it still does
            info["owner"] = this_process()
        write_run_info(self.folder, info)

    def _finish(self) -> None:
        if not self.writer:
            return
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
        """Write the checkpoint (rank 0; every rank must call it: it gathers their random streams)."""
        streams = distributed.gather_objects(self._random_streams())
        if not self.writer:
            return
        state = {
            **self.method.state_dict(),
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "optimizers": {name: o.state_dict() for name, o in self.optimizers.items()},
            "rng": streams[0],
            # With several processes, their number and every one's streams (one process: the keys of old)
            **({"world_size": self.world, "rng_ranks": streams} if self.world > 1 else {}),
            "position": {"phase": self.position.phase, "unit": self.position.unit},
            "best_mle": self.best_mle or {},
            "metrics_lines": len(read_metrics(self.folder)),
            "elapsed": self.elapsed(),
            "corpus_hash": self.corpus.manifest["content_hash"],
            "config": config_to_toml(self.config),
        }
        save_checkpoint(self.folder / STATE_FILE, state)
        self._set_status("running" if self.position.phase < len(self.phases) else "finished")
        self._emit("checkpoint", "", self.position.unit, 0, message=f"saved {self.folder / STATE_FILE}")

    def _random_streams(self) -> dict:
        return {"torch": torch.get_rng_state(), "sampling": self.sampling.get_state(), "shuffle": self.shuffle.get_state(),
                "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else []}

    def restore(self) -> None:
        """Continue from the run's checkpoint (the caller has checked corpus and config); rank 0 reads
        it and hands it to the others. Refused in one line with another number of processes than
        saved it: the ranks' random streams cannot be split or merged, so the resume would not be exact."""
        path = self.folder / STATE_FILE
        state = distributed.from_writer(lambda: load_checkpoint(path))
        with damage_as_error(path, checkpoint_remedy(path)):
            saved_world = int(state.get("world_size", 1))
        if saved_world != self.world:
            raise SeqganError(f"run {self.folder.name!r} was trained by {saved_world} process(es) in all and resumes "
                              f"exactly only with as many, not {self.world}: resume it with --nproc {saved_world} "
                              "(on several machines: --nproc times --nnodes)")
        with damage_as_error(path, checkpoint_remedy(path)):  # a checkpoint of the right format holding the wrong things
            self._load_state(state)

    def _load_state(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.method.load_state_dict(state)
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        streams = state["rng_ranks"][distributed.rank()] if self.world > 1 else state["rng"]
        torch.set_rng_state(streams["torch"])
        self.sampling.set_state(streams["sampling"])
        self.shuffle.set_state(streams["shuffle"])
        if self.device.type == "cuda" and streams["cuda"]:
            torch.cuda.set_rng_state_all(streams["cuda"])
        self.best_mle = state.get("best_mle") or None
        self.position = Position(int(state["position"]["phase"]), int(state["position"]["unit"]))
        self.elapsed_before = float(state["elapsed"])
        self.started = time.perf_counter()
        if self.writer:
            truncate_metrics(self.folder, int(state["metrics_lines"]))


def _oracle_of(corpus: Corpus, device: torch.device):
    if corpus.manifest.get("source", {}).get("kind") != "oracle":
        return None
    from seqgan_music.corpora.oracle import corpus_oracle

    return corpus_oracle(corpus).to(device)

