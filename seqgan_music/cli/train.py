"""`seqgan-music train`, `generate` and `runs`: train on a corpus, sample from a run, list runs."""

from __future__ import annotations

import atexit
import signal
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from seqgan_music.cli.common import HomeOption, console, error_console, home_path, user_errors
from seqgan_music.config import METHODS, PRESETS, Config, apply_overrides, default_preset_name, load_config_file, preset
from seqgan_music.errors import SeqganError

if TYPE_CHECKING:
    from seqgan_music.training.trainer import Trainer

SetOption = Annotated[list[str] | None, typer.Option("--set", help="Override one setting, e.g. --set adversarial.rounds=50 (repeatable).")]


def _requested_config(base: Config, config_file: Path | None, assignments: list[str] | None, method: str | None,
                      device: str | None, seed: int | None) -> Config:
    """`base` overlaid by the config file, then --set, then the dedicated options."""
    config = base if config_file is None else load_config_file(config_file, base)
    extra = list(assignments or [])
    extra += [f"run.method={method}"] if method else []
    extra += [f"run.device={device}"] if device else []
    extra += [f"run.seed={seed}"] if seed is not None else []
    return apply_overrides(config, extra)


@user_errors
def train(
    corpus: Annotated[str | None, typer.Argument(help="Corpus name (see `seqgan-music corpus list`); not needed with --resume.")] = None,
    preset_name: Annotated[str | None, typer.Option("--preset", help=f"Settings preset: {', '.join(PRESETS)} (default: folk for music, cpu-oracle for the oracle, grammar for the toy grammar, quick otherwise).")] = None,
    method: Annotated[str | None, typer.Option("--method", help=f"Training method: {', '.join(METHODS)}.")] = None,
    config_file: Annotated[Path | None, typer.Option("--config", help="TOML file of settings laid over the preset.")] = None,
    assignments: SetOption = None,
    device: Annotated[str | None, typer.Option("--device", help="auto (CUDA when available), cpu, cuda or mps.")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Run name (default: `CORPUS-METHOD-TIME`).")] = None,
    resume: Annotated[str | None, typer.Option("--resume", help="Continue this run from its last checkpoint.")] = None,
    force: Annotated[bool, typer.Option("--force", help="With --resume: resume a run marked running on another machine (whose lock this one may not see) when nothing trains it there; a run a process here trains is always refused.")] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for weights, sampling and shuffling.")] = None,
    init: Annotated[str | None, typer.Option("--init", help="Start from this finished run's generator (same corpus and generator settings) and skip the MLE phase: methods compared from one MLE start.")] = None,
    nproc: Annotated[int | None, typer.Option("--nproc", min=1, help="Train data-parallel in this many processes on this machine (one per GPU with CUDA, else CPU processes): starts torchrun itself. Batch sizes are per process. A run resumes with as many processes as trained it.")] = None,
    nnodes: Annotated[int | None, typer.Option("--nnodes", min=1, help="With --nproc: machines in the job (torchrun's --nnodes); give each its --node-rank and the same --rdzv-endpoint.")] = None,
    node_rank: Annotated[int | None, typer.Option("--node-rank", min=0, help="With --nproc and --nnodes: this machine's number, 0 to nnodes - 1 (machine 0 writes the run).")] = None,
    rdzv_endpoint: Annotated[str | None, typer.Option("--rdzv-endpoint", help="With --nproc and --nnodes: HOST:PORT of machine 0, where the processes meet.")] = None,
    home: HomeOption = None,
) -> None:
    """Train a generator on a corpus: MLE pre-training, then SeqGAN's adversarial training.

    Ctrl-C (or SIGTERM) stops after the current epoch or round and saves a checkpoint; `--resume RUN`
    goes on. While a process trains a run it holds the run's lock, and a second --resume is refused
    with the process's id; a run left marked running by a killed process is taken over. `--init RUN`
    starts from RUN's finished generator (and its MLE optimizer) and skips the MLE phase.

    `--nproc N` trains in N processes (torchrun; also `torchrun --nproc-per-node N -m seqgan_music
    train ...`): each takes its share of every batch, the gradients are averaged, and only the first
    process writes the run. Several machines: the same command on each, with --nnodes, --node-rank
    and --rdzv-endpoint.

    Example: seqgan-music train folk --preset quick --run demo

    Example: seqgan-music train oracle --method seqgan --init oracle-mle

    Example: seqgan-music train oracle --method seqgan --nproc 2
    """
    from seqgan_music.training import distributed

    root = home_path(home)
    changed = any(v is not None for v in (preset_name, method, config_file, device, seed)) or bool(assignments)
    if force and resume is None:
        raise SeqganError("--force goes with --resume RUN")
    rendezvous = {"--nnodes": nnodes, "--node-rank": node_rank, "--rdzv-endpoint": rdzv_endpoint}
    if nproc is None and any(value is not None for value in rendezvous.values()):
        raise SeqganError("--nnodes, --node-rank and --rdzv-endpoint go with --nproc N")
    if nproc is not None:
        if distributed.launched():
            raise SeqganError("--nproc starts torchrun itself: under torchrun, leave it out")
        worker = [*([corpus] if corpus is not None else []), *_given({
            "--preset": preset_name, "--method": method, "--config": config_file and config_file.resolve(),
            "--device": device, "--run": run, "--resume": resume, "--seed": seed, "--init": init, "--home": root}),
            *(f"--set={assignment}" for assignment in assignments or []), *(["--force"] if force else [])]
        raise typer.Exit(launch_processes(nproc, rendezvous, worker))
    if distributed.environment_rank() != 0:  # under torchrun the first process alone reports
        console.quiet = error_console.quiet = True
    try:
        _train(root, corpus, preset_name, method, config_file, assignments, device, run, resume, force, seed, init,
               changed)
    finally:
        distributed.leave()


def _given(options: dict[str, object]) -> list[str]:
    """`--option value` for each option that has a value."""
    return [part for option, value in options.items() if value is not None for part in (option, str(value))]


def launch_processes(nproc: int, rendezvous: dict[str, object], worker: list[str]) -> int:
    """Run `torchrun --nproc-per-node N [rendezvous] -m seqgan_music train WORKER` in this process
    (torch.distributed.run, as the torchrun command does); returns the exit status. The workers say
    what went wrong themselves (the first one's lines); torchrun's own report is left out."""
    import logging

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args
    from torch.distributed.run import run as torchrun

    several = rendezvous["--nnodes"] not in (None, 1)
    if several and (rendezvous["--node-rank"] is None or rendezvous["--rdzv-endpoint"] is None):
        raise SeqganError("--nnodes above 1 needs --node-rank (this machine's number) and --rdzv-endpoint "
                          "HOST:PORT (machine 0's), the same endpoint on every machine")
    for name in list(logging.root.manager.loggerDict):  # torchrun's report repeats what the workers say
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    meeting = _given(rendezvous) if several else ["--standalone"]
    try:
        # `--`: the worker's options are not torchrun's (it would read --run as its --run-path)
        torchrun(parse_args([f"--nproc-per-node={nproc}", *meeting, "--module", "--", "seqgan_music", "train", *worker]))
    except ChildFailedError as failure:
        rank, first = failure.get_first_failure()  # the one that went first: what took the job down
        status = first.exitcode if first.exitcode > 0 else 128 - first.exitcode  # -9: killed by SIGKILL
        if status not in (1, 130, 143):  # 1: a refusal the process has printed; 130/143: it stopped and said so
            error_console.print(f"[bold red]error:[/] training process {rank} ended with status {status}",
                                highlight=False)
        return status
    except SignalException as stop:  # Ctrl-C or SIGTERM reached torchrun, which passed it on and waited
        return 128 + int(stop.sigval)
    return 0


def _train(root: Path, corpus: str | None, preset_name: str | None, method: str | None, config_file: Path | None,
           assignments: list[str] | None, device: str | None, run: str | None, resume: str | None, force: bool,
           seed: int | None, init: str | None, changed: bool) -> None:
    """`train` in this process (one of several under torchrun)."""
    from seqgan_music.cli.live import training_view
    from seqgan_music.corpora.corpus import load_corpus
    from seqgan_music.training import distributed
    from seqgan_music.training.launch import resume_run, start_run
    from seqgan_music.training.runs import read_run_config, remove_run, run_dir

    trainer = None
    with StopSignals() as signals:
        try:
            if resume is not None:
                if corpus is not None:
                    raise SeqganError("give either a corpus (new run) or --resume RUN, not both")
                if init is not None:
                    raise SeqganError("--init starts a new run: a resumed run goes on from where it started")
                requested = None
                if changed:  # settings given with --resume must not change the run: they are laid over its own config
                    saved = read_run_config(run_dir(root, resume))
                    base = saved if preset_name is None else preset(preset_name)
                    requested = _requested_config(base, config_file, assignments, method, device, seed)
                view = training_view()
                trainer = resume_run(root, resume, requested, view, force)
            else:
                if corpus is None:
                    raise SeqganError("name a corpus to train on (see `seqgan-music corpus list`), or --resume RUN")
                kind = load_corpus(root, corpus).manifest.get("source", {}).get("kind")
                config = _requested_config(preset(preset_name or default_preset_name(kind)), config_file, assignments,
                                           method, device, seed)
                view = training_view()
                trainer = start_run(root, corpus, config, run, view, init)  # removes the run folder if interrupted
            signals.trainer = trainer  # from here on, a signal stops after the current unit and saves
        except KeyboardInterrupt:
            if trainer is not None and resume is None:
                remove_run(trainer.folder)
            left = f"run {resume!r} is as its last checkpoint left it" if resume else "no run was created"
            error_console.print(f"[yellow]{signals.name}[/]: stopped before training began; {left}", highlight=False)
            raise typer.Exit(signals.exit_code) from None
        drive_training(trainer, view, f"seqgan-music train --resume {trainer.folder.name}{distributed.resume_options()}",
                       signals)


class StopSignals:
    """Ctrl-C (SIGINT) and SIGTERM, handled alike while a command trains. Once `trainer` is set,
    the first signal asks it to stop after the current unit and save; a second one (or the first,
    before there is a trainer) stops at once with KeyboardInterrupt. The exit status tells which
    signal came first: 130 for SIGINT, 143 for SIGTERM (128 + its number, as a shell reports it)."""

    def __init__(self) -> None:
        self.trainer: Trainer | None = None
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        for number in (signal.SIGINT, signal.SIGTERM):
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]
        if self.received is not None:
            # The command is on its way out: one more Ctrl-C during the interpreter's shutdown would
            # print a traceback from its exit handlers, so shutdown ignores them (registered last: runs first).
            atexit.register(_ignore_stop_signals)

    def _handle(self, number: int, frame: object) -> None:
        first = self.received is None
        self.received = self.received or number
        if self.trainer is None or not first:
            raise KeyboardInterrupt
        self.trainer.request_stop()
        console.print(f"[yellow]{self.name}: stopping after the current epoch or round, then saving...[/]",
                      highlight=False)

    @property
    def name(self) -> str:
        return "terminated (SIGTERM)" if self.received == signal.SIGTERM else "interrupted"

    @property
    def exit_code(self) -> int:
        return 128 + (self.received or signal.SIGINT)


def _ignore_stop_signals() -> None:
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)


def drive_training(trainer: Trainer, view: AbstractContextManager, resume_hint: str,
                   signals: StopSignals | None = None) -> float:
    """Run a trainer under `view` with the stop protocol of StopSignals; returns the seconds it took.

    The first Ctrl-C or SIGTERM stops after the current unit and saves; a second stops at once,
    keeping the last checkpoint (a new run stopped before its first checkpoint is removed: there is
    nothing in it to resume). Either way the command exits with status 130 (143 after SIGTERM)
    after saying what it left and printing `resume_hint`.
    """
    if signals is None:
        with StopSignals() as own:
            return drive_training(trainer, view, resume_hint, own)
    from seqgan_music.training.runs import STATE_FILE, mark_aborted, remove_run

    signals.trainer = trainer
    started = time.perf_counter()
    try:
        where = f"{trainer.device}" + (f" in {trainer.world} processes" if trainer.world > 1 else "")
        console.print(f"run [bold]{trainer.folder.name}[/] on {where} ({trainer.config.preset} preset, "
                      f"method {trainer.config.run.method}); Ctrl-C saves and stops", highlight=False)
        with view:
            status = trainer.run()
    except KeyboardInterrupt:  # the second signal: stop at once, keep the last checkpoint
        saved = (trainer.folder / STATE_FILE).is_file()
        if not saved and not trainer.resumed:
            remove_run(trainer.folder)
            console.print(f"stopped before the first checkpoint: run {trainer.folder.name} removed (nothing was saved)",
                          highlight=False)
        elif not saved:
            mark_aborted(trainer.folder)
            console.print(f"stopped without saving; the run has no checkpoint yet, so {resume_hint} starts it over",
                          highlight=False)
        else:
            mark_aborted(trainer.folder)
            console.print(f"stopped without saving; the last checkpoint is kept: {resume_hint}", highlight=False)
        raise typer.Exit(signals.exit_code) from None
    took = time.perf_counter() - started
    if status == "interrupted":
        console.print(f"saved; continue with: {resume_hint}", highlight=False)
        raise typer.Exit(signals.exit_code)
    console.print(f"[green]finished[/] run [bold]{trainer.folder.name}[/] in {took:.0f} s: {trainer.folder}", highlight=False)
    return took


@user_errors
def generate(
    run: Annotated[str, typer.Argument(help="Run name (see `seqgan-music runs`).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the outputs (created if missing).")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of sequences.")] = 8,
    temperature: Annotated[float, typer.Option("--temperature", min=0.01, help="Sampling temperature (lower: safer, less varied).")] = 1.0,
    top_k: Annotated[int, typer.Option("--top-k", min=0, help="Sample among the K most likely tokens only (0: all).")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Sampling seed: the same seed gives the same output.")] = 0,
    home: HomeOption = None,
) -> None:
    """Sample from a trained run: MIDI files for music corpora, a text file for the others.

    Example: seqgan-music generate demo --n 8 --temperature 0.9 --out tunes
    """
    from seqgan_music.training.generation import generate_from_run

    written = generate_from_run(home_path(home), run, out, n, temperature, top_k or None, seed)
    console.print(f"[green]wrote[/] {len(written)} file(s) to {out}", highlight=False)


@user_errors
def runs(home: HomeOption = None) -> None:
    """List training runs with their corpus, method, progress and last metrics.

    Example: seqgan-music runs
    """
    from seqgan_music.cli.render import damaged_rows
    from seqgan_music.formatting import format_duration, format_run_progress
    from seqgan_music.training.runs import METRICS_FILE, STALE, owner_process, survey_runs

    survey = survey_runs(home_path(home))
    if not survey.runs and not survey.damaged:
        console.print("no runs yet: start one with `seqgan-music train folk --preset quick`")
        return
    table = Table(title="Runs", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False)
    table.add_column("run", overflow="fold")
    for column in ("corpus", "method", "status", "progress", "time", "NLL test", "NLL orc"):
        table.add_column(column, no_wrap=True, justify="right" if column.startswith(("time", "NLL")) else "left")
    for info, last in survey.runs:
        values = last or {}
        table.add_row(info.get("name", "?"), info.get("corpus", "?"), _method_and_start(info),
                      survey.statuses.get(str(info.get("name")), info.get("status", "?")),
                      format_run_progress(info), format_duration(info.get("elapsed")), _number(values.get("nll_test")),
                      _number(values.get("nll_oracle")))
    if survey.runs:
        console.print(table)
    if survey.damaged:
        console.print(damaged_rows(survey.damaged))
    for info, _ in survey.runs:
        if survey.statuses.get(str(info.get("name"))) == STALE:
            console.print(f"run {info.get('name')}: marked running by {owner_process(info)}, which has ended; "
                          f"`seqgan-music train --resume {info.get('name')}` takes it over", highlight=False, markup=False)
    for name, lines in survey.damaged_lines.items():
        console.print(f"run {name}: {lines} damaged line(s) of {METRICS_FILE} left out", highlight=False, markup=False)


def _method_and_start(info: dict) -> str:
    """The run's method, and the run whose generator it started from (`train --init`) after a `<`."""
    init = info.get("init")
    start = f" < {init.get('run')}" if isinstance(init, dict) else ""
    return f"{info.get('method', '?')}{start}"


def _number(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "-"
