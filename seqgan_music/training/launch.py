"""Start a new run or resume one, checking that the corpus and the config still match.

Under torchrun (training/distributed.py) every process comes through here: each reads the corpus
and builds a trainer, while rank 0 alone creates or checks the run folder and holds its lock, and
hands the others its verdict (a refusal is the same one line everywhere)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from seqgan_music.config import Config, config_to_dict, config_to_toml
from seqgan_music.corpora.corpus import load_corpus
from seqgan_music.errors import SeqganError
from seqgan_music.phases import MLE
from seqgan_music.training import distributed
from seqgan_music.training.budget import check_budget
from seqgan_music.training.checkpoint import load_checkpoint
from seqgan_music.training.device import configure_threads, pick_device, resolve_precision, seed_everything
from seqgan_music.training.events import TrainingEvent, TrainingObserver
from seqgan_music.training.methods import method_class
from seqgan_music.training.run_lock import RunLock
from seqgan_music.training.runs import (
    STATE_FILE,
    check_takeover,
    create_run_folder,
    default_run_name,
    read_run_config,
    read_run_info,
    remove_run,
    run_dir,
    truncate_metrics,
)
from seqgan_music.training.sequences import check_held_out, sample_length
from seqgan_music.training.trainer import Position, Trainer

# The config sections that shape the generator: a run started from another run's generator must match them.
_GENERATOR_SECTIONS = ("generator", "data")


def start_run(home: Path, corpus_name: str, config: Config, name: str | None = None,
              observer: TrainingObserver | None = None, init: str | None = None) -> Trainer:
    """Create `<home>/checkpoints/<name>/` and a trainer ready to run from the start; with `init`,
    from the finished run `init`'s generator, its MLE phase skipped (see `check_init`)."""
    corpus = load_corpus(home, corpus_name)
    # Before anything is written or a thread started: what cannot run is refused with no run folder.
    _check_distributed(config)
    check_budget(config, len(corpus.vocabulary), sample_length(corpus, config.data.unit))
    start = check_init(home, corpus_name, config, init) if init is not None else None
    note = check_held_out(corpus, config.data.unit, config.mle.keep_best and config.mle.epochs > 0 and start is None)
    device = _prepare(config)
    info = {"corpus": corpus_name, "corpus_hash": corpus.manifest["content_hash"], "method": config.run.method,
            "preset": config.preset, "seed": config.run.seed, "device": str(device),
            "precision": resolve_precision(config.rollout.precision, device),
            "world_size": distributed.world_size(), "backend": distributed.backend_for(device)}
    if start is not None:
        info["init"] = start.record
    lock = None

    def create() -> Path:  # rank 0's: the run folder and its lock (held while the trainer runs)
        nonlocal lock
        folder = create_run_folder(home, name or default_run_name(corpus_name, config.run.method), info,
                                   config_to_toml(config))
        lock = RunLock(folder)
        try:
            lock.acquire()
        except BaseException:
            remove_run(folder)
            raise
        return folder

    folder = distributed.from_writer(create)
    try:
        trainer = Trainer(corpus, config, folder, device, observer)
        if start is not None:
            start.apply(trainer)
    except BaseException:  # Ctrl-C, an error building the models: no run behind
        if lock is not None:
            lock.release()
            remove_run(folder)
        raise
    trainer.lock = lock
    if note:
        trainer.observer.on_event(TrainingEvent("note", message=note))
    return trainer


def resume_run(home: Path, name: str, requested: Config | None = None,
               observer: TrainingObserver | None = None, force: bool = False) -> Trainer:
    """A trainer restored from the run's last checkpoint (from the start when it has none yet),
    holding the run's lock until it has run.

    Refuses when another process holds the lock (it trains the run now), when the corpus was
    rebuilt with other content, when `requested` (settings the user gave with --resume) differs
    from the run's saved config, or when the run is marked running on another machine (unless
    `force`: the user says nothing trains it there). A run marked running whose lock was free is
    taken over from a process that has ended, with a note to the observer.
    """
    folder = run_dir(home, name)
    saved = read_run_config(folder)  # a missing run is named as such before a lock file is made in its place
    _check_distributed(saved)
    device = _prepare(saved)  # under torchrun: joins the other processes, which read the same run folder
    lock = RunLock(folder)

    def checked() -> _Resume:  # rank 0's, under the run's lock
        lock.acquire()
        try:
            return _resume_checks(home, folder, requested, force)
        except BaseException:
            lock.release()
            raise

    try:
        plan = distributed.from_writer(checked)
        trainer = _restored_trainer(home, folder, plan, device, observer)
    except BaseException:
        lock.release()
        raise
    trainer.lock = lock if distributed.is_writer() else None
    return trainer


@dataclass(frozen=True)
class _Resume:
    """What rank 0's checks found: what the other processes need to build the same trainer."""

    corpus: str
    config: Config
    notice: str
    restart: bool  # stopped before its first checkpoint: start again from the beginning
    init: str | None  # the run it started from (--init), when it starts again


def _resume_checks(home: Path, folder: Path, requested: Config | None, force: bool) -> _Resume:
    """resume_run's checks, once this process holds the run's lock."""
    name = folder.name
    info = read_run_info(folder)  # read again under the lock: another process may have moved it on
    saved = read_run_config(folder)
    if requested is not None and config_to_toml(requested) != config_to_toml(saved):
        raise SeqganError(f"the settings given differ from run {name!r}'s config.toml "
                          f"({_first_difference(saved, requested)}): resume without changing settings, or start a new run")
    corpus = load_corpus(home, info["corpus"])
    if corpus.manifest["content_hash"] != info["corpus_hash"]:
        raise SeqganError(f"corpus {info['corpus']!r} has changed since run {name!r} started (content hash "
                          f"{corpus.manifest['content_hash'][:12]} vs {info['corpus_hash'][:12]}): "
                          "rebuild it with the same settings, or start a new run")
    if info.get("status") == "finished":
        raise SeqganError(f"run {name!r} has already finished: start a new run to train more")
    notice = check_takeover(folder, info, force)
    init = info.get("init")
    return _Resume(str(info["corpus"]), saved, notice, not (folder / STATE_FILE).is_file(),
                   str(init.get("run")) if isinstance(init, dict) else None)


def _restored_trainer(home: Path, folder: Path, plan: _Resume, device: torch.device,
                      observer: TrainingObserver | None) -> Trainer:
    """The trainer of a checked run, restored from its checkpoint (every process builds one)."""
    corpus = load_corpus(home, plan.corpus)
    # Checked before seeding, as start_run does (building a generator to compare draws random numbers).
    start = check_init(home, plan.corpus, plan.config, plan.init) if plan.restart and plan.init else None
    seed_everything(plan.config.run.seed)
    trainer = Trainer(corpus, plan.config, folder, device, observer)
    trainer.resumed = True
    if plan.notice:
        trainer.observer.on_event(TrainingEvent("note", message=plan.notice))
    if not plan.restart:
        trainer.restore()  # refuses another number of processes than saved it
    else:
        if trainer.writer:
            truncate_metrics(folder, 0)
        if start is not None:
            start.apply(trainer)
    return trainer


class OtherGeneratorError(SeqganError):
    """--init refused because the new run's method builds a generator of another shape than the start's."""


class InitStart:
    """A finished run's generator (and its MLE optimizer) as a new run's start, read and checked."""

    def __init__(self, run: str, method: str, state: dict) -> None:
        self.run, self.method, self.state = run, method, state
        self.record = {"run": run, "method": method, "skipped": [MLE.name]}  # run.json's "init"

    def apply(self, trainer: Trainer) -> None:
        """Load the weights into the new trainer's generator and place it past its MLE phase.

        The MLE optimizer's Adam moments come too: they are part of where MLE left the generator,
        and a phase that goes on with MLE-like steps on that optimizer (scheduled sampling's
        epochs) then continues as it would have in a run that did the MLE epochs itself. The
        random streams stay the new run's own (its seed), and so does everything else: the
        discriminator and the adversarial optimizer have not been trained in the start run."""
        trainer.generator.load_state_dict(self.state["generator"])
        mle_optimizer = (self.state.get("optimizers") or {}).get(MLE.name)
        if mle_optimizer:
            trainer.optimizers[MLE.name].load_state_dict(mle_optimizer)
        trainer.position = Position(1, 0)


def check_init(home: Path, corpus_name: str, config: Config, init: str) -> InitStart:
    """The finished run `init` as the start of a new run of `config` on `corpus_name`, or a one-line
    refusal: a run that has not finished, another corpus (or the same name rebuilt), a generator
    setting that differs, a method with no MLE phase to skip, a generator of another shape (a
    method with a generator of its own, such as leakgan's Manager and Worker or relgan's relational
    core, on either side), a damaged checkpoint. Weights are read with the safe checkpoint reader."""
    folder = run_dir(home, init)
    info = read_run_info(folder)
    if info.get("status") != "finished":
        raise SeqganError(f"--init {init}: the run has not finished (status {info.get('status')}): "
                          f"finish it with `seqgan-music train --resume {init}`, or start from a finished run")
    corpus = load_corpus(home, corpus_name)
    if info["corpus"] != corpus_name or info["corpus_hash"] != corpus.manifest["content_hash"]:
        raise SeqganError(f"--init {init}: the run was trained on corpus {info['corpus']!r} "
                          f"({info['corpus_hash'][:12]}), not on {corpus_name!r} "
                          f"({corpus.manifest['content_hash'][:12]}): start from a run of the same corpus")
    method = method_class(config.run.method)
    difference = generator_difference(read_run_config(folder), config)
    if difference:
        raise SeqganError(f"--init {init}: generator settings differ ({difference}): "
                          "start from a run with the same generator settings")
    state = load_checkpoint(folder / STATE_FILE)
    theirs = {key: tuple(value.shape) for key, value in state["generator"].items() if hasattr(value, "shape")}
    ours = {key: tuple(value.shape) for key, value in method.build_generator(corpus, config).state_dict().items()}
    if theirs != ours:
        raise OtherGeneratorError(f"--init {init}: method {config.run.method} builds a generator of another shape "
                                  f"than run {init!r}'s ({info['method']}): it trains its own MLE phase; start it without --init")
    if method.phases[0] != MLE or len(method.phases) == 1:
        raise SeqganError(f"--init {init}: method {config.run.method} has no phase after MLE to train: "
                          "--init skips the MLE phase, so give a method with an adversarial or other phase")
    return InitStart(init, str(info["method"]), state)


def generator_difference(start: Config, config: Config) -> str:
    """The first generator-shaping setting (generator.*, data.*) that differs between two configs,
    as `section.field=start's value, this run's value`; "" when none does."""
    theirs, ours = config_to_dict(start), config_to_dict(config)
    for section in _GENERATOR_SECTIONS:
        for field, value in ours[section].items():
            if theirs[section].get(field) != value:
                return f"{section}.{field} is {theirs[section].get(field)!r} in the run, {value!r} here"
    return ""


def _prepare(config: Config) -> torch.device:
    """Threads, seeds and the device; under torchrun, the process group joined (its device per local rank)."""
    configure_threads(config.run.threads)
    seed_everything(config.run.seed)
    return distributed.join(pick_device(config.run.device))


def _check_distributed(config: Config) -> None:
    """Under torchrun, refuse in one line a method that cannot train on several processes."""
    refusal = method_class(config.run.method).distributed_refusal(config) if distributed.launched() else ""
    if refusal:
        raise SeqganError(f"method {config.run.method} cannot train on several processes: {refusal}; "
                          "train it in one process")


def _first_difference(saved: Config, requested: Config) -> str:
    for old, new in zip(config_to_toml(saved).splitlines(), config_to_toml(requested).splitlines()):
        if old != new:
            return f"{old.strip()} in the run, {new.strip()} given"
    return "different settings"
