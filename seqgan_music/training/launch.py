"""Start a new run or resume one, checking that the corpus and the config still match."""

from __future__ import annotations

from pathlib import Path

import torch

from seqgan_music.config import Config, config_to_toml
from seqgan_music.corpora.corpus import load_corpus
from seqgan_music.errors import SeqganError
from seqgan_music.project_files import damage_as_error
from seqgan_music.training.budget import check_budget
from seqgan_music.training.checkpoint import checkpoint_remedy
from seqgan_music.training.device import configure_threads, pick_device, resolve_precision, seed_everything
from seqgan_music.training.events import TrainingEvent, TrainingObserver
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
from seqgan_music.training.trainer import Trainer


def start_run(home: Path, corpus_name: str, config: Config, name: str | None = None,
              observer: TrainingObserver | None = None) -> Trainer:
    """Create `<home>/checkpoints/<name>/` and a trainer ready to run from the start."""
    corpus = load_corpus(home, corpus_name)
    # Before anything is written or a thread started: what cannot run is refused with no run folder.
    check_budget(config, len(corpus.vocabulary), sample_length(corpus, config.data.unit))
    note = check_held_out(corpus, config.data.unit, config.mle.keep_best and config.mle.epochs > 0)
    device = _prepare(config)
    name = name or default_run_name(corpus_name, config.run.method)
    info = {"corpus": corpus_name, "corpus_hash": corpus.manifest["content_hash"], "method": config.run.method,
            "preset": config.preset, "seed": config.run.seed, "device": str(device),
            "precision": resolve_precision(config.rollout.precision, device)}
    folder = create_run_folder(home, name, info, config_to_toml(config))
    lock = RunLock(folder)  # held while the trainer runs: a resume elsewhere is refused
    try:
        lock.acquire()
        trainer = Trainer(corpus, config, folder, device, observer)
    except BaseException:  # Ctrl-C, a full disk (the lock's note), an error building the models: no run behind
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
    read_run_info(folder)  # a missing run is named as such before a lock file is made in its place
    lock = RunLock(folder).acquire()
    try:
        trainer = _restored_trainer(home, folder, requested, observer, force)
    except BaseException:
        lock.release()
        raise
    trainer.lock = lock
    return trainer


def _restored_trainer(home: Path, folder: Path, requested: Config | None, observer: TrainingObserver | None,
                      force: bool) -> Trainer:
    """resume_run's checks and restore, once this process holds the run's lock."""
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
    device = _prepare(saved)
    trainer = Trainer(corpus, saved, folder, device, observer)
    trainer.resumed = True
    if notice:
        trainer.observer.on_event(TrainingEvent("note", message=notice))
    if (folder / STATE_FILE).is_file():
        with damage_as_error(folder / STATE_FILE, checkpoint_remedy(folder / STATE_FILE)):
            trainer.restore()  # a checkpoint of the right format holding the wrong things fails here
    else:  # stopped before its first checkpoint: start again from the beginning
        truncate_metrics(folder, 0)
    return trainer


def _prepare(config: Config) -> torch.device:
    configure_threads(config.run.threads)
    seed_everything(config.run.seed)
    return pick_device(config.run.device)


def _first_difference(saved: Config, requested: Config) -> str:
    for old, new in zip(config_to_toml(saved).splitlines(), config_to_toml(requested).splitlines()):
        if old != new:
            return f"{old.strip()} in the run, {new.strip()} given"
    return "different settings"
