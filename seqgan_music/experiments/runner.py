"""Carry out an experiment: train each run that is not finished (resuming interrupted ones), then
evaluate them all, compare the focus run with every other on each per-window metric and, when the
experiment has a sweep, sample every run at each of its temperatures (`seqgan-music sweep`'s
cached evaluations: the sweep at the evaluation's own temperature reuses the evaluation).

Runs are ordinary runs (`seqgan-music runs` lists them), so an experiment stopped halfway goes
on from its checkpoints when the same command is given again, and its finished runs are reused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from seqgan_music.errors import SeqganError
from seqgan_music.experiments.definitions import Experiment, ExperimentRun
from seqgan_music.run_evaluation.comparison import PairComparison, compare_pair
from seqgan_music.run_evaluation.runs import RunEvaluation, evaluate_run
from seqgan_music.run_evaluation.sweep import SweepPoint, temperature_sweep
from seqgan_music.training.events import TrainingObserver
from seqgan_music.training.launch import OtherGeneratorError, check_init, resume_run, start_run
from seqgan_music.training.methods import settings_read
from seqgan_music.training.runs import read_run_config, read_run_info, run_dir
from seqgan_music.training.trainer import Trainer


@dataclass
class ExperimentResults:
    """Each run's evaluation, by label, the focus run's comparisons with the others, and the
    sweep's points (every run at every temperature; none when the experiment has no sweep)."""

    experiment: Experiment
    evaluations: dict[str, RunEvaluation]
    comparisons: dict[str, list[PairComparison]]  # other label -> focus against it
    run_info: dict[str, dict]
    sweep: list[SweepPoint] = field(default_factory=list)
    sweep_seconds: float = 0.0  # wall time of the sweep (cached points cost nothing)


def trainer_for(home: Path, experiment: Experiment, entry: ExperimentRun,
                observer: TrainingObserver | None = None) -> Trainer | None:
    """A trainer for a run still to train (new or interrupted), None for a finished one.

    A run of that name with other settings is refused rather than reused or overwritten.
    """
    folder = run_dir(home, entry.run)
    if not folder.exists():
        return start_run(home, experiment.corpus, entry.config, entry.run, observer,
                         shared_start(home, experiment, entry))
    saved = read_run_config(folder)
    if read_run_info(folder).get("corpus") != experiment.corpus:
        raise SeqganError(f"run {entry.run!r} exists but was trained on another corpus than {experiment.corpus!r}: "
                          "give the experiment a --tag to train new runs, or remove that run's folder")
    if settings_read(saved) != settings_read(entry.config):
        raise SeqganError(f"run {entry.run!r} exists with other settings than this experiment asks for: "
                          "give the experiment a --tag to train new runs, or remove that run's folder")
    if read_run_info(folder).get("status") == "finished":
        return None
    return resume_run(home, entry.run, None, observer)


def shared_start(home: Path, experiment: Experiment, entry: ExperimentRun) -> str | None:
    """The run `entry` starts from: its `init` (the MLE row, trained before it), unless its method
    builds a generator of another shape (leakgan's Manager and Worker, relgan's relational core over
    an LSTM start), which then trains its own MLE phase; every other refusal (the start unfinished,
    other generator settings) stops the experiment in one line."""
    if entry.init is None:
        return None
    try:
        check_init(home, experiment.corpus, entry.config, entry.init)
    except OtherGeneratorError:
        return None
    return entry.init


def evaluate_experiment(home: Path, experiment: Experiment, device: torch.device = torch.device("cpu"),
                        permutations: int = 10_000,
                        progress: Callable[[str, float], None] | None = None) -> ExperimentResults:
    """Evaluate every run (cached in the run folders), compare the focus run with the others and
    sweep every run when the experiment has a sweep; `progress(label, temperature)` announces each
    sweep point as it starts."""
    evaluations, info = {}, {}
    for entry in experiment.runs:
        folder = run_dir(home, entry.run)
        info[entry.label] = read_run_info(folder)
        if info[entry.label].get("status") != "finished":
            raise SeqganError(f"run {entry.run!r} has not finished: run the experiment command again to train it")
        evaluations[entry.label] = evaluate_run(home, entry.run, experiment.evaluation, device)
    focus = evaluations[experiment.focus]
    comparisons = {label: compare_pair(evaluation, focus, permutations)
                   for label, evaluation in evaluations.items() if label != experiment.focus}
    results = ExperimentResults(experiment, evaluations, comparisons, info)
    if experiment.sweep is not None:
        started = time.perf_counter()
        results.sweep = sweep_experiment(home, experiment, device, progress)
        results.sweep_seconds = round(time.perf_counter() - started, 3)
    return results


def sweep_experiment(home: Path, experiment: Experiment, device: torch.device = torch.device("cpu"),
                     progress: Callable[[str, float], None] | None = None) -> list[SweepPoint]:
    """Every run at every temperature of the experiment's sweep, with the experiment's evaluation
    settings (samples, seed, references and metric groups, so its own temperature is a cache hit)."""
    plan = experiment.sweep
    if plan is None:
        raise SeqganError(f"experiment {experiment.name!r} has no sweep")
    labels = {entry.run: entry.label for entry in experiment.runs}
    announce = (lambda run, temperature: progress(labels[run], temperature)) if progress is not None else None
    return temperature_sweep(home, list(labels), plan.temperatures, plan.quality, plan.diversity,
                             experiment.evaluation, device, announce)
