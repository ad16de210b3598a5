"""`seqgan-music experiment oracle|text|nottingham|grammar|tunes|infill`: the SeqGAN paper's tables,
Texygen's COCO benchmark, the ReGAN paper's estimator comparison, MLE against SeqGAN on whole tunes
and MaskGAN's in-filling against MLE in-filling, in one command each."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markdown import Markdown

from seqgan_music.cli.common import HomeOption, RichReporter, console, home_path, user_errors
from seqgan_music.cli.evaluate import DeviceOption
from seqgan_music.cli.groups import CommandGroup
from seqgan_music.errors import SeqganError

if TYPE_CHECKING:
    from seqgan_music.experiments.definitions import Experiment

experiment_app = typer.Typer(
    help=("Reproduce the SeqGAN paper's tables, Texygen's COCO benchmark and the ReGAN paper's estimator comparison, or compare MLE "
          "with SeqGAN on whole tunes, or MaskGAN's in-filling with MLE in-filling: train every method, evaluate, and write report.md and report.json to `<home>/checkpoints/<experiment>/`.\n\n"
          "Example: seqgan-music experiment nottingham --encoding paper --midi ../shared/data/nottingham/MIDI"),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    cls=CommandGroup,
)
TagOption = Annotated[str | None, typer.Option("--tag", help="Suffix for the experiment and its run names, to keep several versions apart.")]
SetOption = Annotated[list[str] | None, typer.Option("--set", help="Override one setting of every run, e.g. --set adversarial.rounds=10 (repeatable; give a --tag too).")]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of every run and of the evaluation samples.")]
SHARED_START = (" Every method other than mle starts from the MLE row's finished generator (added, and trained "
                "first, when missing); one with a generator of another shape (leakgan, relgan, vae, arae, "
                "maskgan) trains its own MLE phase.")
SWEEP_DEFAULT = "0.6,0.8,1.0,1.2,1.5"  # definitions.SWEEP_TEMPERATURES, as typed
SweepOption = Annotated[str, typer.Option("--sweep", help=(
    "Comma-separated sampling temperatures at which every run is evaluated again, for the quality-diversity "
    "curves of all methods (drawn in the report, the points in sweep.json and sweep.csv); each temperature other than "
    "1.0 costs one more evaluation of every run (1.0 reuses the table's); none turns the sweep off."))]


@experiment_app.command("oracle")
@user_errors
def oracle(
    preset_name: Annotated[str, typer.Option("--preset", help="cpu-oracle (about half an hour on 2 cores) or paper-oracle (the paper's schedule; about 15 hours on 2 cores).")] = "cpu-oracle",
    corpus: Annotated[str, typer.Option("--corpus", help="The oracle corpus to use.")] = "oracle",
    params: Annotated[Path | None, typer.Option("--params", help="Build the corpus first from these oracle parameters (.npz) when it does not exist yet.")] = None,
    samples: Annotated[int, typer.Option("--samples", help="Samples from each run for NLL_oracle and NLL_test (the paper's 10,000).")] = 10_000,
    methods: Annotated[str | None, typer.Option("--methods", help="Comma-separated rows of the table: random (the untrained generator) or any training method (see `train --help`); default: the paper's rows, random,mle,ss,pg-bleu,seqgan." + SHARED_START)] = None,
    sweep: SweepOption = SWEEP_DEFAULT,
    tag: TagOption = None,
    seed: SeedOption = 0,
    assignments: SetOption = None,
    device: DeviceOption = "auto",
    home: HomeOption = None,
) -> None:
    """Table 1 of the SeqGAN paper: NLL_oracle and NLL_test of Random, MLE, SS, PG-BLEU and SeqGAN
    on the oracle (or the methods --methods names), next to each method's published figure, and
    every method swept over the --sweep temperatures: NLL_oracle (quality) against NLL_test
    (diversity), with the oracle's own entropy drawn as the floor no honest generator goes below.

    Runs `oracle-cpu-random`, `-mle`, `-ss`, `-pg-bleu` and `-seqgan` (for --preset cpu-oracle) are
    ordinary runs: a stopped experiment goes on from their checkpoints when the same command is
    given again, and a run another --methods list shares is trained once. MLE is trained once:
    every other method starts from the MLE row's generator (`train --init`), its MLE phase skipped.

    Example: seqgan-music experiment oracle --params ../shared/oracle/seqgan_oracle.npz

    Example: seqgan-music experiment oracle --methods mle,seqgan,rankgan --tag family

    Example: seqgan-music experiment oracle --sweep 0.5,0.75,1.0,1.25 (or --sweep none)
    """
    from seqgan_music.corpora.oracle import build_oracle_corpus
    from seqgan_music.experiments.definitions import ORACLE_METHODS, oracle_experiment

    root = home_path(home)
    experiment = oracle_experiment(preset_name, corpus, tag, seed, assignments or (), samples,
                                   methods.split(",") if methods is not None else ORACLE_METHODS, _sweep(sweep))
    if not _corpus_exists(root, corpus):
        if params is None:
            raise SeqganError(f"no corpus named {corpus!r}: pass --params FILE (the paper's oracle, e.g. "
                              "../shared/oracle/seqgan_oracle.npz) to build it, or build it with `seqgan-music corpus build oracle`")
        build_oracle_corpus(corpus, params=params, reporter=RichReporter()).save(root)
    command = _command("oracle", ("--preset", preset_name), ("--corpus", corpus), ("--samples", samples),
                       ("--methods", methods), ("--sweep", sweep), ("--tag", tag), ("--seed", seed),
                       *[("--set", a) for a in assignments or ()])
    _run_experiment(root, experiment, command, device)


@experiment_app.command("text")
@user_errors
def text(
    data: Annotated[Path | None, typer.Option("--data", help="Build the corpus first, when it does not exist yet, from this folder holding train.txt and test.txt (Texygen's COCO split, e.g. ../shared/data/text/image_coco).")] = None,
    corpus: Annotated[str, typer.Option("--corpus", help="The text corpus to use (built from --data when missing).")] = "coco",
    samples: Annotated[int, typer.Option("--samples", help="Captions sampled from each run for BLEU and self-BLEU.")] = 1000,
    methods: Annotated[str | None, typer.Option("--methods", help="Comma-separated rows of the table: random (the untrained generator) or any training method (see `train --help`); default: each of Texygen's rows (mle, seqgan, maligan, rankgan, leakgan) that the method table holds." + SHARED_START)] = None,
    sweep: SweepOption = SWEEP_DEFAULT,
    tag: TagOption = None,
    seed: SeedOption = 0,
    assignments: SetOption = None,
    device: DeviceOption = "auto",
    home: HomeOption = None,
) -> None:
    """Texygen's COCO benchmark: each method trained on the image captions (the `coco` preset) and
    scored by BLEU-2, 3, 4 and 5 of its sampled captions against the test captions, self-BLEU-4 and
    NLL_test, next to Texygen's published BLEU, with p-values of SeqGAN against each row, and every
    method swept over the --sweep temperatures: BLEU-4 (quality) against self-BLEU-4 (diversity).

    The corpus (test.txt's captions are the test split; train.txt's are split 90/10 into train and
    valid) is built from --data when it does not exist. Runs `text-coco-mle`, `-seqgan`, ... are
    ordinary runs: a stopped experiment goes on from their checkpoints when the same command is given again.
    MLE is trained once: every other method starts from the MLE row's generator, its MLE phase skipped.

    Example: seqgan-music experiment text --data ../shared/data/text/image_coco

    Example: seqgan-music experiment text --methods mle,seqgan --tag short --set adversarial.rounds=10

    Example: seqgan-music experiment text --sweep none (the table alone)
    """
    from seqgan_music.experiments.definitions import text_experiment

    root = home_path(home)
    experiment = text_experiment(corpus, tag, seed, assignments or (), samples,
                                 methods.split(",") if methods is not None else None, _sweep(sweep))
    _ensure_text_corpus(root, corpus, data)
    command = _command("text", ("--corpus", corpus), ("--samples", samples), ("--methods", methods),
                       ("--sweep", sweep), ("--tag", tag), ("--seed", seed), *[("--set", a) for a in assignments or ()])
    _run_experiment(root, experiment, command, device)


def _ensure_text_corpus(root: Path, name: str, data: Path | None) -> None:
    """Use the corpus when it is a text corpus with test lines; build it from `data` when missing."""
    from seqgan_music.corpora.corpus import load_corpus
    from seqgan_music.corpora.text import build_benchmark_corpus

    if _corpus_exists(root, name):
        corpus = load_corpus(root, name)
        if corpus.manifest.get("source", {}).get("kind") != "text" or len(corpus.splits["test"]) == 0:
            raise SeqganError(f"corpus {name!r} is not a text corpus with test lines: pick another --corpus, "
                              "or build one with --data DIR")
        return
    if data is None:
        raise SeqganError(f"no corpus named {name!r}: pass --data DIR (the folder with train.txt and test.txt, "
                          "e.g. ../shared/data/text/image_coco) to build it")
    built = build_benchmark_corpus(name, data)
    built.save(root)
    windows = built.manifest["counts"]["windows"]
    console.print(f"built corpus [bold]{name}[/] (captions train/valid/test {windows['train']}/{windows['valid']}/"
                  f"{windows['test']}, vocabulary {len(built.vocabulary)}, length {built.length})", highlight=False)


@experiment_app.command("nottingham")
@user_errors
def nottingham(
    encoding: Annotated[str, typer.Option("--encoding", help="paper (the SeqGAN paper's 0.4 s sampling) or grid16.")] = "paper",
    preset_name: Annotated[str, typer.Option("--preset", help="Training preset of both runs.")] = "folk",
    midi: Annotated[Path | None, typer.Option("--midi", help="Build the corpus first from this folder of Nottingham MIDI files when it does not exist yet.")] = None,
    corpus: Annotated[str | None, typer.Option("--corpus", help="The corpus to use (default: nottingham-ENCODING).")] = None,
    tag: TagOption = None,
    seed: SeedOption = 0,
    assignments: SetOption = None,
    device: DeviceOption = "auto",
    home: HomeOption = None,
) -> None:
    """The SeqGAN paper's music table: MLE against SeqGAN on Nottingham, BLEU-4 and MSE on held-out
    tunes with p-values, next to the paper's figures, the real data's own scores and the music
    statistics.

    Example: seqgan-music experiment nottingham --encoding paper --midi ../shared/data/nottingham/MIDI
    """
    from seqgan_music.experiments.definitions import nottingham_experiment

    root = home_path(home)
    experiment = nottingham_experiment(encoding, preset_name, corpus, tag, seed, assignments or ())
    _ensure_music_corpus(root, experiment.corpus, encoding, midi)
    command = _command("nottingham", ("--encoding", encoding), ("--preset", preset_name), ("--corpus", corpus),
                       ("--tag", tag), ("--seed", seed), *[("--set", a) for a in assignments or ()])
    _run_experiment(root, experiment, command, device)


@experiment_app.command("grammar")
@user_errors
def grammar(
    length: Annotated[int, typer.Option("--length", help="Sequence length: 3 or 15 (the ReGAN paper's settings).")] = 15,
    corpus: Annotated[str | None, typer.Option("--corpus", help="The grammar corpus to use (default: grammarLENGTH, built when missing).")] = None,
    samples: Annotated[int, typer.Option("--samples", help="Samples from each run for goodness and NLL_test (default 10,000).")] = 10_000,
    tag: TagOption = None,
    seed: SeedOption = 0,
    assignments: SetOption = None,
    device: DeviceOption = "auto",
    home: HomeOption = None,
) -> None:
    """The ReGAN paper's comparison of gradient estimators on the toy grammar: REINFORCE (without
    and with a moving baseline), REBAR, RELAX and SeqGAN from the same partly trained start
    (the `grammar` preset), by goodness (the share of valid three-token windows) and by the log
    variance of each gradient estimate, drawn against the adversarial round.

    Writes report.md, report.json and curves.csv; about 15 minutes per length on 2 cores.

    Example: seqgan-music experiment grammar --length 15
    """
    from seqgan_music.corpora.corpus import load_corpus
    from seqgan_music.corpora.grammar import build_grammar_corpus
    from seqgan_music.experiments.definitions import grammar_experiment

    root = home_path(home)
    experiment = grammar_experiment(length, corpus, tag, seed, assignments or (), samples)
    if _corpus_exists(root, experiment.corpus):
        source = load_corpus(root, experiment.corpus).manifest.get("source", {})
        if source.get("kind") != "grammar" or source.get("length") != length:
            raise SeqganError(f"corpus {experiment.corpus!r} is not the toy grammar of length {length}: "
                              f"pick another --corpus, or leave it out to use grammar{length}")
    else:
        build_grammar_corpus(experiment.corpus, length).save(root)
        console.print(f"built corpus [bold]{experiment.corpus}[/] (the toy grammar, length {length})", highlight=False)
    command = _command("grammar", ("--length", length), ("--corpus", corpus), ("--samples", samples), ("--tag", tag), ("--seed", seed),
                       *[("--set", a) for a in assignments or ()])
    _run_experiment(root, experiment, command, device)


@experiment_app.command("tunes")
@user_errors
def tunes(
    corpus: Annotated[str, typer.Option("--corpus", help="A music corpus with whole tunes (grid16), e.g. Nottingham's.")] = "nottingham",
    preset_name: Annotated[str, typer.Option("--preset", help="Whole-tune preset of both runs: folk-tunes or tunes-quick.")] = "folk-tunes",
    samples: Annotated[int, typer.Option("--samples", help="Whole tunes sampled from each run for the metrics.")] = 200,
    tag: TagOption = None,
    seed: SeedOption = 0,
    assignments: SetOption = None,
    device: DeviceOption = "auto",
    home: HomeOption = None,
) -> None:
    """MLE against SeqGAN with rewards per bar on whole tunes: the same preset, lookback generator
    and seed (SeqGAN's MLE phase is the MLE run: the report checks it), compared by C2ST accuracy,
    bar-repeat (played and notated), phrase-repeat, ends-on-tonic, NLL_test and self-BLEU-4 of
    sampled whole tunes against the held-out tunes, with p-values, each run's training time by
    phase and the adversarial phase round by round (D's accuracy, reward, NLL_test).

    Both runs use one torch thread (--set run.threads=N changes it): about 19 minutes of CPU with
    the folk-tunes preset on Nottingham, longer on a busy machine.

    Example: seqgan-music corpus build midi ../shared/data/nottingham/MIDI --name nottingham, then
    seqgan-music experiment tunes
    """
    from seqgan_music.experiments.definitions import tunes_experiment
    from seqgan_music.experiments.report import REPORT_MD
    from seqgan_music.experiments.tunes import evaluate_tune_experiment
    from seqgan_music.experiments.tunes_report import write_tune_report
    from seqgan_music.training.device import pick_device

    root = home_path(home)
    experiment = tunes_experiment(preset_name, corpus, tag, seed, assignments or (), samples)
    _check_tune_corpus(root, corpus)
    command = _command("tunes", ("--corpus", corpus), ("--preset", preset_name), ("--samples", samples),
                       ("--tag", tag), ("--seed", seed),
                       *[("--set", a) for a in assignments or ()])
    chosen = pick_device(device)
    _train_runs(root, experiment, command)
    with console.status(f"evaluating {len(experiment.runs)} runs on whole tunes..."):
        results = evaluate_tune_experiment(root, experiment, chosen)
    folder = write_tune_report(results, root, command)
    console.print(Markdown((folder / REPORT_MD).read_text(encoding="utf-8")))
    console.print(f"[green]wrote[/] {folder / REPORT_MD} and report.json", highlight=False)


@experiment_app.command("infill")
@user_errors
def infill(
    quick: Annotated[bool, typer.Option("--quick", help="The quick schedule (3 MLE epochs and 20 adversarial rounds, a small music model, 300 captions), meant for about half an hour for both corpora on a 2-core CPU. Default: the full schedule (10 MLE epochs and 50 rounds on music with hidden 128, 20 epochs and 100 rounds on text, 1,000 captions).")] = False,
    corpora: Annotated[str, typer.Option("--corpora", help="Which corpora: music (held-out Nottingham tunes), text (held-out COCO captions) or both, comma-separated.")] = "music,text",
    midi: Annotated[Path | None, typer.Option("--midi", help="Build the music corpus first from this folder of Nottingham MIDI files when it does not exist yet.")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Build the text corpus first from this folder holding train.txt and test.txt when it does not exist yet (e.g. ../shared/data/text/image_coco).")] = None,
    music_corpus: Annotated[str, typer.Option("--music-corpus", help="The music corpus (grid16, with whole tunes).")] = "nottingham",
    text_corpus: Annotated[str, typer.Option("--text-corpus", help="The text corpus.")] = "coco",
    items: Annotated[int | None, typer.Option("--items", help="Held-out tunes or captions to fill, per corpus (0: every one; default: every tune, 300 captions with --quick, else 1,000).")] = None,
    candidates: Annotated[int, typer.Option("--candidates", help="Candidates the left-context row draws per gap, the one under which the kept tokens after the gap are likeliest kept.")] = 8,
    tag: TagOption = None,
    seed: SeedOption = 0,
    assignments: SetOption = None,
    device: DeviceOption = "auto",
    home: HomeOption = None,
) -> None:
    """MaskGAN against MLE in-filling (and a plain MLE run filling from the left, the best of
    --candidates by the likelihood of what follows the gap): bars 5-8 (and as many bars at random)
    of held-out Nottingham tunes, and a span of half the words of held-out COCO captions, masked
    and written again by every row. Scored by BLEU of the filled span against the real one, the
    share filled exactly, and for tunes the form metrics of the filled tunes against the real
    tunes'; p-values of MaskGAN against each row. Writes report.md, report.json and report.csv.

    The rows are ordinary runs (`<experiment>-music-mle-infill`, `-maskgan`, `-mle`, and the same
    for text): a stopped experiment goes on from their checkpoints when the command is given again.

    Example: seqgan-music experiment infill --quick --midi ../shared/data/nottingham/MIDI --data ../shared/data/text/image_coco
    """
    import time

    from seqgan_music.experiments.infill import infill_experiment
    from seqgan_music.experiments.infill_report import REPORT_MD, write_infill_report
    from seqgan_music.experiments.infill_run import evaluate_infill
    from seqgan_music.training.device import pick_device

    started = time.perf_counter()
    root = home_path(home)
    experiment = infill_experiment("quick" if quick else "full", corpora.split(","), music_corpus, text_corpus, tag,
                                   seed, assignments or (), items, candidates)
    for part in experiment.parts:
        if part.task == "music" and _corpus_exists(root, music_corpus):
            _check_whole_tunes(root, music_corpus)
        elif part.task == "music":
            _ensure_music_corpus(root, music_corpus, "grid16", midi)
        else:
            _ensure_text_corpus(root, text_corpus, data)
    command = _command("infill --quick" if quick else "infill", ("--corpora", corpora),
                       ("--music-corpus", music_corpus), ("--text-corpus", text_corpus), ("--items", items),
                       ("--candidates", candidates), ("--tag", tag), ("--seed", seed),
                       *[("--set", a) for a in assignments or ()])
    chosen = pick_device(device)
    for part in experiment.parts:
        _train_runs(root, part.experiment, command)
    results = []
    for part in experiment.parts:
        with console.status(f"filling held-out {part.task} with {len(part.experiment.runs)} rows..."):
            results.append(evaluate_infill(root, part, chosen))
    folder = write_infill_report(root, experiment, results, command, time.perf_counter() - started)
    console.print(Markdown((folder / REPORT_MD).read_text(encoding="utf-8")))
    console.print(f"[green]wrote[/] {folder / REPORT_MD}, report.json and report.csv", highlight=False)


def _check_whole_tunes(root: Path, name: str) -> None:
    """The music corpus must keep whole tunes (grid16): the in-filling masks bars of held-out tunes."""
    from seqgan_music.corpora.corpus import load_corpus

    if not load_corpus(root, name).has_whole_tunes:
        raise SeqganError(f"corpus {name!r} keeps no whole tunes: the in-filling experiment masks bars of held-out "
                          "tunes, so give a music corpus in the grid16 encoding (--music-corpus), or build one with --midi")


def _check_tune_corpus(root: Path, name: str) -> None:
    """The corpus must exist and keep whole tunes; say in one line how to build Nottingham's."""
    from seqgan_music.corpora.corpus import load_corpus

    if not _corpus_exists(root, name):
        raise SeqganError(f"no corpus named {name!r}: build it with `seqgan-music corpus build midi "
                          f"../shared/data/nottingham/MIDI --name {name}` (or give --corpus)")
    if not load_corpus(root, name).has_whole_tunes:
        raise SeqganError(f"corpus {name!r} keeps no whole tunes: the tunes experiment needs a music corpus "
                          "in the grid16 encoding (Nottingham's is built with `seqgan-music corpus build midi "
                          "../shared/data/nottingham/MIDI --name nottingham`)")


def _run_experiment(root: Path, experiment: Experiment, command: str, device: str) -> None:
    """Train what is left, evaluate, write the report and show it."""
    from seqgan_music.experiments.report import REPORT_MD, write_report
    from seqgan_music.experiments.runner import evaluate_experiment
    from seqgan_music.training.device import pick_device

    chosen = pick_device(device)
    _train_runs(root, experiment, command)
    with console.status(f"evaluating {len(experiment.runs)} runs...") as status:
        results = evaluate_experiment(root, experiment, chosen, progress=lambda label, temperature: status.update(
            f"sweeping: {label} at temperature {temperature:g}..."))
    folder = write_report(results, root, command)
    console.print(Markdown((folder / REPORT_MD).read_text(encoding="utf-8")))
    written = "report.json, sweep.json and sweep.csv" if results.sweep else "report.json"
    console.print(f"[green]wrote[/] {folder / REPORT_MD} and {written}", highlight=False)


def _train_runs(root: Path, experiment: Experiment, command: str) -> None:
    """Train every run still to train, in order; finished ones are reused."""
    from seqgan_music.cli.live import training_view
    from seqgan_music.cli.train import drive_training
    from seqgan_music.experiments.runner import trainer_for

    for entry in experiment.runs:
        view = training_view()
        trainer = trainer_for(root, experiment, entry, view)
        if trainer is None:
            console.print(f"{entry.label}: run [bold]{entry.run}[/] finished earlier, reused", highlight=False)
            continue
        console.print(f"[bold]{entry.label}[/] ({entry.run})", highlight=False)
        drive_training(trainer, view, f"{command} (the experiment goes on where it stopped)")


def _sweep(text: str) -> list[float]:
    """The --sweep temperatures; none (or nothing) turns the sweep off."""
    from seqgan_music.run_evaluation.sweep import parse_temperatures

    return [] if text.strip().lower() in ("", "none") else parse_temperatures(text, "--sweep")


def _corpus_exists(root: Path, name: str) -> bool:
    from seqgan_music.corpora.corpus import MANIFEST
    from seqgan_music.paths import corpus_dir

    return (corpus_dir(root, name) / MANIFEST).is_file()


def _ensure_music_corpus(root: Path, name: str, encoding: str, midi: Path | None) -> None:
    """Use the corpus when it exists with this encoding; build it from `midi` when it does not."""
    from seqgan_music.corpora.corpus import load_corpus
    from seqgan_music.corpora.encodings import music_encoding
    from seqgan_music.corpora.building import IngestOptions, ingest_midi_corpus
    from seqgan_music.corpora.split import SplitPlan

    if _corpus_exists(root, name):
        built = load_corpus(root, name).manifest.get("encoding", {}).get("name")
        if built != encoding:
            raise SeqganError(f"corpus {name!r} uses the {built} encoding, not {encoding}: pick another --corpus")
        return
    if midi is None:
        raise SeqganError(f"no corpus named {name!r}: pass --midi DIR (the Nottingham MIDI folder, e.g. "
                          "../shared/data/nottingham/MIDI) to build it")
    ingest_midi_corpus(name, midi, music_encoding(encoding), SplitPlan(), RichReporter(), IngestOptions(root))


def _command(name: str, *options: tuple[str, object]) -> str:
    """The command that reproduces this experiment (options at their given values)."""
    parts = [f"seqgan-music experiment {name}"]
    parts += [f"{flag} {value}" for flag, value in options if value is not None]
    return " ".join(parts)
