"""`seqgan-music corpus ...`: build corpora from every source, list, show and export them.

Heavy libraries (music21, torch) are imported inside the commands that need them, so that
`--help` and `corpus list` start instantly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from seqgan_music.cli.common import HomeOption, RichReporter, console, home_path, user_errors
from seqgan_music.cli.groups import CommandGroup
from seqgan_music.cli.render import (
    CorporaTable,
    corpus_summary,
    damaged_rows,
    examples_panel,
    pitch_class_panel,
    skipped_panel,
    tune_examples_panel,
    whole_tunes_panel,
)
from seqgan_music.corpora.corpus import Corpus, load_corpus, read_manifest, survey_corpora
from seqgan_music.corpora.encodings import music_encoding
from seqgan_music.corpora.split import SplitPlan, parse_fractions, read_split_file
from seqgan_music.errors import SeqganError
from seqgan_music.paths import check_name, corpora_dir

corpus_app = typer.Typer(
    help="Build, list, show and export corpora.\n\nExample: seqgan-music corpus build folk && seqgan-music corpus list",
    no_args_is_help=True, cls=CommandGroup,
)
build_app = typer.Typer(
    help=("Build a corpus from a source: midi, folk, text, oracle or grammar.\n\n"
          "Example: seqgan-music corpus build midi ../shared/data/nottingham/MIDI --name nottingham"),
    no_args_is_help=True, cls=CommandGroup,
)
corpus_app.add_typer(build_app, name="build")

NameOption = Annotated[str, typer.Option("--name", help="Corpus name (a folder under corpora/).")]
EncodingOption = Annotated[str, typer.Option("--encoding", help="grid16 (sixteenth grid with bar lines) or paper (SeqGAN's 0.4 s sampling).")]
LengthOption = Annotated[int | None, typer.Option("--length", min=2, help="Window length in tokens (default 64 for grid16, 32 for paper).")]
StrideOption = Annotated[int | None, typer.Option("--stride", min=1, help="Tokens between window starts (default: the length; grid16 windows start at bar lines).")]
TransposeOption = Annotated[bool | None, typer.Option("--transpose/--no-transpose", help="Transpose to C major / A minor by the stored key signature (default: on for grid16, off for paper).")]
SplitOption = Annotated[str, typer.Option("--split", help="Train/valid/test shares by tune.")]
SeedOption = Annotated[int, typer.Option("--seed", help="Split seed (the split is a hash of each tune's path and this seed).")]
SplitFileOption = Annotated[Path | None, typer.Option("--split-file", help="File of `train|valid|test PATH` lines that overrides the hash split.")]


def _plan(split: str, seed: int, split_file: Path | None = None) -> SplitPlan:
    assigned = read_split_file(split_file) if split_file is not None else {}
    return SplitPlan(parse_fractions(split), seed, assigned, str(split_file) if split_file else None)


def _save_and_report(corpus: Corpus, home: Path) -> None:
    _report_saved(home, corpus.name, lambda: corpus.save(home))


def _report_saved(home: Path, name: str, save: Callable[[], Path]) -> None:
    """Save a corpus (`save` returns its folder) and say what it holds, from its manifest."""
    replaced = (corpora_dir(home) / name).exists()
    folder = save()
    manifest = read_manifest(folder)
    counts = manifest["counts"]
    windows = counts.get("windows", {})
    what = f"{counts['tunes']} tunes" if "tunes" in counts else f"{sum(windows.values())} sequences"
    console.print(
        f"[green]built[/] corpus [bold]{name}[/] ({what}; windows train/valid/test "
        f"{windows.get('train', 0)}/{windows.get('valid', 0)}/{windows.get('test', 0)}; "
        f"vocabulary {counts['vocabulary']}) in {folder}" + (" (replaced the earlier build)" if replaced else ""),
        highlight=False,
    )
    panel = skipped_panel(manifest.get("skipped", []))
    if panel is not None:
        console.print(panel)


@build_app.command("midi")
@user_errors
def build_midi(
    folder: Annotated[Path, typer.Argument(help="Folder searched recursively for .mid/.midi files.")],
    name: NameOption,
    encoding: EncodingOption = "grid16",
    length: LengthOption = None,
    stride: StrideOption = None,
    transpose: TransposeOption = None,
    track: Annotated[int | None, typer.Option("--track", min=0, help="Take the melody from this track index only.")] = None,
    program: Annotated[int | None, typer.Option("--program", min=0, max=127, help="Take the melody from notes played with this General MIDI program only.")] = None,
    split: SplitOption = "80/10/10",
    seed: SeedOption = 0,
    split_file: SplitFileOption = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Parallel parsing processes (default: all cores).")] = None,
    engine: Annotated[str, typer.Option("--engine", help="processes (this machine) or ray (the Ray cluster `ray.init()` finds; needs `pip install ray`).")] = "processes",
    time_limit: Annotated[float, typer.Option("--time-limit", min=0.1, help="Seconds one file may take; a slower file is skipped.")] = 60.0,
    memory_cap: Annotated[int, typer.Option("--memory-cap", min=16, help="Megabytes one file may take; a file needing more is skipped.")] = 1024,
    home: HomeOption = None,
) -> None:
    """Build a corpus from a folder of MIDI files (the melody of each file).

    The melody is the monophonic track with the highest voice (Nottingham's track 0), else the
    highest note sounding at each moment; drums are ignored. Files are parsed in parallel, each
    under a time limit and a memory cap (a file over either is skipped with the reason); the
    results are kept in shards as they come, so an interrupted build run again goes on from them.

    Example: seqgan-music corpus build midi ../shared/data/nottingham/MIDI --name nottingham

    Example: seqgan-music corpus build midi ~/lakh --name lakh --workers 16 --time-limit 30
    """
    from seqgan_music.corpora.building import IngestOptions, ingest_midi_corpus
    from seqgan_music.corpora.parallel_ingest import IngestLimits, check_engine

    check_name(name)
    check_engine(engine)
    chosen = music_encoding(encoding, length, stride, transpose)
    plan = _plan(split, seed, split_file)
    ingest = IngestOptions(home_path(home), workers, engine, IngestLimits(time_limit, memory_cap << 20))
    _report_saved(home_path(home), name,
                  lambda: ingest_midi_corpus(name, folder, chosen, plan, RichReporter(), ingest, track, program))


@build_app.command("folk")
@user_errors
def build_folk(
    name: Annotated[str, typer.Option("--name", help="Corpus name.")] = "folk",
    collections: Annotated[str, typer.Option("--collections", help="Comma-separated music21 collections: oneills1850, ryansMammoth, essenFolksong.")] = "oneills1850,ryansMammoth",
    encoding: EncodingOption = "grid16",
    length: LengthOption = None,
    stride: StrideOption = None,
    transpose: TransposeOption = None,
    split: SplitOption = "80/10/10",
    seed: SeedOption = 0,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Parallel parsing processes (default: all cores).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when an identical build exists.")] = False,
    home: HomeOption = None,
) -> None:
    """Build the embedded folk corpus from the folk collections music21 ships (offline).

    Parsing takes a few minutes once; parsed tunes are cached under corpora/.cache/, and a build
    with the same settings as the existing one is reused.

    Example: seqgan-music corpus build folk --collections oneills1850,ryansMammoth,essenFolksong
    """
    from seqgan_music.corpora.building import build_folk_corpus, folk_source
    from seqgan_music.corpora.folk import folk_files

    check_name(name)
    root = home_path(home)
    chosen = music_encoding(encoding, length, stride, transpose)
    plan = _plan(split, seed)
    names = [c.strip() for c in collections.split(",") if c.strip()]
    folk_files(names)  # refuses an unknown collection before anything else
    if not force and _same_build(root, name, folk_source(names), chosen.params(), plan.describe()):
        console.print(f"corpus [bold]{name}[/] is up to date (same collections and settings); use --force to rebuild")
        return
    _save_and_report(build_folk_corpus(name, names, chosen, plan, RichReporter(), root, workers), root)


@build_app.command("text")
@user_errors
def build_text(
    file: Annotated[Path, typer.Argument(help="UTF-8 text file, one sequence per line.")],
    name: NameOption,
    level: Annotated[str, typer.Option("--level", help="word (split on spaces), punct (words with punctuation split off, as Texygen's tokeniser) or char.")] = "word",
    max_vocab: Annotated[int | None, typer.Option("--max-vocab", help="Keep the N most frequent tokens; the rest become `<unk>`.")] = None,
    length: Annotated[int | None, typer.Option("--length", help="Sequence length including the end token (default: covers 99% of lines).")] = None,
    test: Annotated[Path | None, typer.Option("--test", help="A held-out file whose lines are the test split; FILE's lines are then split between train and valid by their --split shares.")] = None,
    split: SplitOption = "80/10/10",
    seed: SeedOption = 0,
    home: HomeOption = None,
) -> None:
    """Build a corpus from a text file: one sequence per line, word- or character-level.

    With --test, a benchmark's own split is kept: the test file's lines are exactly the test split
    (the vocabulary and the default length cover both files).

    Example: seqgan-music corpus build text ../shared/data/text/chinese_quatrains/shi.txt --name poems

    Example: seqgan-music corpus build text ../shared/data/text/image_coco/train.txt --test ../shared/data/text/image_coco/test.txt --level punct --name coco
    """
    from seqgan_music.corpora.text import build_text_corpus

    check_name(name)
    corpus = build_text_corpus(name, file, level, max_vocab, length, _plan(split, seed), test)
    _save_and_report(corpus, home_path(home))


@build_app.command("oracle")
@user_errors
def build_oracle(
    name: NameOption,
    params: Annotated[Path | None, typer.Option("--params", help="The paper's oracle parameters (.npz), e.g. ../shared/oracle/seqgan_oracle.npz.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Instead of --params: a random oracle with N(0,1) weights from this seed.")] = None,
    train: Annotated[int, typer.Option("--train", min=1, help="Training samples.")] = 10_000,
    held_out: Annotated[int, typer.Option("--held-out", min=2, help="Held-out samples (half valid, half test).")] = 10_000,
    home: HomeOption = None,
) -> None:
    """Build the SeqGAN synthetic corpus: samples of an oracle LSTM (vocabulary 5,000, length 20).

    The oracle is kept with the corpus so NLL_oracle can be computed later.

    Example: seqgan-music corpus build oracle --name oracle --params ../shared/oracle/seqgan_oracle.npz
    """
    from seqgan_music.corpora.oracle import build_oracle_corpus

    check_name(name)
    corpus = build_oracle_corpus(name, params, seed, train, held_out, reporter=RichReporter())
    _save_and_report(corpus, home_path(home))


@build_app.command("grammar")
@user_errors
def build_grammar(
    name: NameOption,
    length: Annotated[int, typer.Option("--length", help="Sequence length: 3 or 15.")],
    count: Annotated[int, typer.Option("--count", min=10, help="Number of sequences.")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the sequences and the split.")] = 0,
    home: HomeOption = None,
) -> None:
    """Build the ReGAN paper's toy grammar: 'x' alternating with + - * /.

    Example: seqgan-music corpus build grammar --name grammar15 --length 15
    """
    from seqgan_music.corpora.grammar import build_grammar_corpus

    check_name(name)
    corpus = build_grammar_corpus(name, length, count, seed, SplitPlan(seed=seed))
    _save_and_report(corpus, home_path(home))


@corpus_app.command("list")
@user_errors
def list_command(home: HomeOption = None) -> None:
    """List the built corpora with their counts.

    Example: seqgan-music corpus list
    """
    root = home_path(home)
    manifests, damaged = survey_corpora(root)
    if not manifests and not damaged:
        console.print(f"no corpora in {corpora_dir(root)} yet: build one with `seqgan-music corpus build folk`")
        return
    if manifests:
        console.print(CorporaTable(manifests))
    if damaged:
        console.print(damaged_rows(damaged))


@corpus_app.command("show")
@user_errors
def show_command(
    name: Annotated[str, typer.Argument(help="Corpus name.")],
    examples: Annotated[int, typer.Option("--examples", min=0, help="Number of decoded windows.")] = 4,
    tunes: Annotated[int, typer.Option("--tunes", min=0, help="Number of whole tunes shown part by part with their repeat signs (music corpora).")] = 2,
    home: HomeOption = None,
) -> None:
    """Show a corpus: counts, vocabulary, pitch-class histogram, its whole tunes (lengths, types,
    modes, forms) and decoded examples of windows and of whole tunes.

    Example: seqgan-music corpus show folk --examples 6 --tunes 3
    """
    from seqgan_music.corpora.stats import pitch_class_histogram, token_frequencies

    corpus = load_corpus(home_path(home), name)
    console.print(corpus_summary(corpus))
    frequent = ", ".join(f"{t} {c}" for t, c in token_frequencies(corpus, top=12))
    console.print(f"[bold]vocabulary[/] {len(corpus.vocabulary)} tokens; most frequent: {frequent}", highlight=False)
    if corpus.is_music:
        console.print(pitch_class_panel(pitch_class_histogram(corpus)))
    panel = skipped_panel(corpus.manifest.get("skipped", []))
    if panel is not None:
        console.print(panel)
    if corpus.is_music:
        console.print(whole_tunes_panel(corpus))
    if examples:
        console.print(examples_panel(corpus, examples))
    if tunes and corpus.has_whole_tunes:
        console.print(tune_examples_panel(corpus, tunes))


@corpus_app.command("export")
@user_errors
def export_command(
    name: Annotated[str, typer.Argument(help="Corpus name.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write into (created if missing).")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of windows to export.")] = 8,
    split: Annotated[str, typer.Option("--split", help="train, valid or test.")] = "train",
    home: HomeOption = None,
) -> None:
    """Write windows of a corpus back to files: MIDI for music, a text file for the rest.

    Example: seqgan-music corpus export folk --out exported --n 4
    """
    from seqgan_music.export.corpus_windows import export_windows

    corpus = load_corpus(home_path(home), name)
    written = export_windows(corpus, out, n, split)
    console.print(f"[green]wrote[/] {len(written)} file(s) to {out}: {', '.join(p.name for p in written[:4])}{' ...' if len(written) > 4 else ''}", highlight=False)


def _same_build(home: Path, name: str, source: dict, encoding: dict, split: dict) -> bool:
    """Whether `<home>/corpora/<name>` was built from the same source with the same settings."""
    try:
        existing = load_corpus(home, name).manifest
    except SeqganError:
        return False
    return (existing.get("source") == source and existing.get("encoding") == encoding
            and existing.get("split") == split)
