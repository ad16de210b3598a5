"""`seqgan-music compose`: tunes from the shipped default model (or any music run), in every format."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from seqgan_music.cli.common import HomeOption, console, home_path, user_errors

FormatOption = Annotated[str, typer.Option("--format", help="Comma-separated formats: mid, abc, wav, musicxml.")]
SynthOption = Annotated[str, typer.Option("--synth", help="WAV synthesis: additive (always available) or soundfont (needs pyfluidsynth and libfluidsynth).")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace files of the same name instead of writing NAME-2, NAME-3, ...")]


@user_errors
def compose(
    run: Annotated[str | None, typer.Option("--run", help="A music run name, or a packed model folder (default: the shipped default model).")] = None,
    n: Annotated[int, typer.Option("--n", help="Number of tunes.")] = 8,
    bars: Annotated[int | None, typer.Option("--bars", help="Length in bars, the primer's included (default 16).")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Length in steps instead (sixteenths for grid16 models), the primer's included.")] = None,
    temperature: Annotated[float, typer.Option("--temperature", help="Sampling temperature: lower is safer and plainer, higher is bolder.")] = 1.0,
    top_k: Annotated[int, typer.Option("--top-k", help="Sample among the K most likely tokens only (0: all).")] = 0,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the first tune (tune i gets seed+i); default: a random one, printed.")] = None,
    primer: Annotated[Path | None, typer.Option("--primer", help="A MIDI file whose melody the tunes continue.")] = None,
    primer_notes: Annotated[str | None, typer.Option("--primer-notes", help='Notes the tunes continue, e.g. "D4 F#4 A4:4 R:8" (:4 quarter, :8 eighth (default), :16, :2, :1; "." dots; R rest).')] = None,
    key: Annotated[str | None, typer.Option("--key", help="Key, e.g. D, Em, F# minor, A dorian. With a primer that stores no key, the primer's key.")] = None,
    meter: Annotated[str | None, typer.Option("--meter", help="Meter, e.g. 6/8, 4/4, 3/4 (default: the primer's, else drawn from the training corpus's meters).")] = None,
    tempo: Annotated[float | None, typer.Option("--tempo", help="Quarter notes per minute (default 120).")] = None,
    chords: Annotated[bool, typer.Option("--chords", help="Add a chord track harmonising each bar in the key (a folk lead sheet).")] = False,
    program: Annotated[int, typer.Option("--program", help="General MIDI program of the melody (0 piano, 40 violin, 73 flute, 22 harmonica).")] = 0,
    formats: FormatOption = "mid",
    out: Annotated[Path, typer.Option("--out", help="Output folder (created if missing).")] = Path("tunes"),
    synth: SynthOption = "additive",
    overwrite: OverwriteOption = False,
    device: Annotated[str, typer.Option("--device", help="cpu (the default: reproducible), auto (CUDA when available), cuda or mps.")] = "cpu",
    home: HomeOption = None,
) -> None:
    """Compose folk tunes and write them with a JSON sidecar saying how each was made.

    The meter is enforced through the bar lines a grid16 model was trained with; the key is reached
    by transposing (the models are not key-conditioned), choosing among 16 candidates the one in
    the asked mode. Every file carries its provenance (model hash, seed, settings, the command that
    recomposes it) in the sidecar, in MIDI text events and in ABC N: lines.

    Example: seqgan-music compose --n 8 --key D --meter 6/8 --format mid,abc,wav --seed 42 --chords
    """
    from seqgan_music.composing.compose import compose_tunes, requested_settings, tune_piece
    from seqgan_music.composing.model import load_model
    from seqgan_music.composing.primer import parse_primer_notes, read_primer_file
    from seqgan_music.composing.writing import parse_formats, write_pieces
    from seqgan_music.errors import SeqganError
    from seqgan_music.training.device import pick_device

    chosen_formats = parse_formats(formats)
    check_synth(synth)
    if primer is not None and primer_notes is not None:
        raise SeqganError("give either --primer FILE or --primer-notes, not both")
    settings = requested_settings(n, bars, steps, temperature, top_k, seed, key, meter, tempo, chords, program)
    model = load_model(home_path(home), run, pick_device(device))
    if primer is not None:
        settings = replace(settings, primer=read_primer_file(primer))
    elif primer_notes is not None:
        common = max(model.meters, key=model.meters.get) if model.meters else "4/4"
        settings = replace(settings, primer=parse_primer_notes(primer_notes, meter or common))
    tunes = compose_tunes(model, settings)
    pieces = write_pieces([tune_piece(index, tune) for index, tune in enumerate(tunes, start=1)], out.resolve(),
                          chosen_formats, synth, overwrite)
    _print_tunes(tunes, pieces, out, model.name, settings.seed)


def check_synth(synth: str) -> None:
    from seqgan_music.errors import SeqganError

    if synth not in ("additive", "soundfont"):
        raise SeqganError(f"unknown --synth {synth!r}: choose additive or soundfont")


def _print_tunes(tunes: list, pieces: list, out: Path, model: str, seed: int) -> None:
    table = Table(title=f"{len(tunes)} tunes from model {model} (seeds {seed}-{seed + len(tunes) - 1})",
                  title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False)
    for column in ("file", "form", "key", "meter", "bars"):
        table.add_column(column, no_wrap=column == "file", justify="right" if column == "bars" else "left")
    for tune, piece in zip(tunes, pieces):
        melody = tune.melody
        table.add_row(piece.files[0].stem, tune.provenance["form"], melody.key.name if melody.key else "-",
                      melody.meter, str(len(melody.bars)))
    console.print(table)
    for aspect in ("key", "meter"):
        hows = {tune.provenance[aspect]["how"] for tune in tunes}
        console.print(f"{aspect}: {hows.pop() if len(hows) == 1 else 'decided per tune, as each sidecar says'}",
                      highlight=False)
    suffixes = ", ".join(sorted({f.suffix for p in pieces for f in p.files}))
    console.print(f"[green]wrote[/] {sum(len(p.files) for p in pieces)} files ({suffixes}) to {out}", highlight=False)
