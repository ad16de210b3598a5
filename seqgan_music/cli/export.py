"""`seqgan-music export`, `play` and `pack`: convert tunes, listen to them, package a model."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from seqgan_music.cli.common import HomeOption, console, home_path, user_errors
from seqgan_music.cli.compose import FormatOption, OverwriteOption, SynthOption, check_synth


@user_errors
def export(
    source: Annotated[str, typer.Argument(help="A composed tune's .json sidecar, a .mid file, a .txt token listing, a folder of tunes, or a run name (its newest samples).")],
    formats: FormatOption = "mid,abc,wav,musicxml",
    out: Annotated[Path, typer.Option("--out", help="Output folder (created if missing).")] = Path("tunes"),
    chords: Annotated[bool, typer.Option("--chords", help="Add a chord track (a sidecar keeps its own setting).")] = False,
    program: Annotated[int | None, typer.Option("--program", min=0, max=127, help="General MIDI program of the melody (default: the sidecar's, else 0).")] = None,
    meter: Annotated[str | None, typer.Option("--meter", help="Meter to lay token listings out in (default: what the bar lines or the corpus imply).")] = None,
    synth: SynthOption = "additive",
    overwrite: OverwriteOption = False,
    home: HomeOption = None,
) -> None:
    """Write existing tunes or samples in other formats: MIDI, ABC, WAV, MusicXML.

    Example: seqgan-music export tunes/01-s42-the-windy-harbour.json --format abc,musicxml --out sheets
    """
    from seqgan_music.composing.conversion import pieces_from_source, run_samples
    from seqgan_music.composing.writing import parse_formats, write_pieces

    root = home_path(home)
    chosen = parse_formats(formats)
    check_synth(synth)
    pieces = write_pieces(pieces_from_source(root, source, chords, program, meter), out.resolve(), chosen,
                          synth, overwrite)
    listing = run_samples(root, source)
    origin = f" from run {source}'s newest samples ({listing.parent.name}/{listing.name})" if listing else ""
    console.print(f"[green]wrote[/] {sum(len(p.files) for p in pieces)} files for {len(pieces)} tune(s){origin} "
                  f"to {out}", highlight=False)


@user_errors
def play(
    file: Annotated[Path, typer.Argument(help="A .wav or .mid file (MIDI is rendered with the additive synth first).")],
) -> None:
    """Play a tune with the machine's audio player (aplay, paplay, afplay or ffplay); else say how to listen.

    Example: seqgan-music play tunes/01-s42-the-windy-harbour.mid
    """
    from seqgan_music.composing.playback import play_file

    player = play_file(file)
    console.print(f"played {file.name} with {player}", highlight=False)


@user_errors
def pack(
    run: Annotated[str, typer.Argument(help="A music run (see `seqgan-music runs`).")],
    out: Annotated[Path, typer.Option("--out", help="Model folder to write (replaced as a whole if it exists).")],
    reproduce: Annotated[list[str] | None, typer.Option("--reproduce", help="A command that reproduces the model, stored with it (repeatable, in order).")] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", help="The temperature compose samples this model at when --temperature is not given (default 1.0).")] = None,
    copy_temperature: Annotated[float | None, typer.Option("--copy-temperature", help="A model with attention over bars: the copy temperature compose uses when --copy-temperature is not given (default 1.0).")] = None,
    home: HomeOption = None,
) -> None:
    """Package a run's generator as a small model folder that `compose --run FOLDER` uses anywhere,
    with its vocabulary, encoding, the corpus's meters, the run's cached evaluations, how to
    reproduce it and, with --temperature and --copy-temperature, the temperatures it composes at by default.

    Example: seqgan-music pack folk-default --out models/folk-default --copy-temperature 0.5
    """
    from seqgan_music.composing.model import pack_run
    from seqgan_music.errors import SeqganError
    from seqgan_music.run_evaluation.runs import cached_evaluations
    from seqgan_music.training.runs import run_dir

    root = home_path(home)
    chosen = {"temperature": temperature, "copy_temperature": copy_temperature}
    for name, value in chosen.items():
        if value is not None and not (math.isfinite(value) and value > 0):
            raise SeqganError(f"--{name.replace('_', '-')} must be a number above 0, got {value:g}")
    extra = {"evaluations": cached_evaluations(run_dir(root, run)), "reproduce": list(reproduce or [])}
    if any(value is not None for value in chosen.values()):
        extra["compose"] = {name: value for name, value in chosen.items() if value is not None}
    folder = pack_run(root, run, out, extra)
    size = sum(f.stat().st_size for f in folder.iterdir())
    console.print(f"[green]packed[/] run {run} into {folder} ({size / 1e6:.2f} MB); compose with: "
                  f"seqgan-music compose --run {folder}", highlight=False)
