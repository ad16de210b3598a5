"""`seqgan-music compose`: tunes from the shipped default model (or any music run), in every format."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from seqgan_music.cli.common import HomeOption, console, error_console, home_path, user_errors
from seqgan_music.composing.primer import DEFAULT_PRIMER_BARS, Primer

if TYPE_CHECKING:
    from seqgan_music.composing.compose import ComposeSettings

FormatOption = Annotated[str, typer.Option("--format", help="Comma-separated formats: mid, abc, wav, musicxml.")]
SynthOption = Annotated[str, typer.Option("--synth", help="WAV synthesis: additive (always available) or soundfont (needs pyfluidsynth and libfluidsynth).")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace files of the same name instead of writing NAME-2, NAME-3, ...")]


@user_errors
def compose(
    run: Annotated[str | None, typer.Option("--run", help="A music run name, or a packed model folder (default: the shipped default model).")] = None,
    n: Annotated[int, typer.Option("--n", help="Number of tunes.")] = 8,
    form: Annotated[str | None, typer.Option("--form", help="Whole-tune models: the strains as played, AABB (the default), AB, AABA, AABBCC, any such letters, or free (one strain of --bars bars). Each strain closes on a cadence, the last on the tonic.")] = None,
    part_bars: Annotated[int | None, typer.Option("--part-bars", help="Whole-tune models: bars per strain (default 8).")] = None,
    tune_type: Annotated[str | None, typer.Option("--type", help="Whole-tune models: the tune type the model is conditioned on: jig, reel, hornpipe, polka, waltz, slip-jig, march, strathspey, air... (those its corpus has; default: drawn with the meter). Sets the meter when --meter is not given.")] = None,
    endings: Annotated[bool, typer.Option("--endings", help="Whole-tune models: repeated strains get first and second endings (|1 ... :|2 ...).")] = False,
    bars: Annotated[int | None, typer.Option("--bars", help="Length in bars, the primer's included (default 16); on a whole-tune model, the length of a --form free tune.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Length in steps instead (sixteenths for grid16 models), the primer's included; window models only. With --interpolate: the number of tunes on the path, A and B included (default 5).")] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", help="Sampling temperature: lower is safer and plainer, higher is bolder (default: the model's own; 1.0 for a run).")] = None,
    copy_temperature: Annotated[float | None, typer.Option("--copy-temperature", help="Models with attention over bars: the temperature of choosing between a new note and one copied from an earlier bar; lower repeats motifs more (default: the model's own, 0.5 for the default model, where its tunes repeat their bars as often as its training tunes; 1.0 for a run).")] = None,
    top_k: Annotated[int, typer.Option("--top-k", help="Sample among the K most likely tokens only (0: all).")] = 0,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the first tune (tune i gets seed+i); default: a random one, printed.")] = None,
    max_hold: Annotated[float | None, typer.Option("--max-hold", help="Longest one pitch may sound in a row, held or struck again, in quarter-note beats (default: one bar; 0: no limit); keeps a low temperature or top-k from freezing on one note.")] = None,
    primer: Annotated[Path | None, typer.Option("--primer", help="A MIDI file whose opening the tunes continue (its first --primer-bars bars).")] = None,
    primer_notes: Annotated[str | None, typer.Option("--primer-notes", help='Notes the tunes continue, e.g. "D4 F#4 A4:4 R:8" (:4 quarter, :8 eighth (default), :16, :2, :1; "." dots; R rest). They carry no meter: give --meter.')] = None,
    primer_bars: Annotated[int, typer.Option("--primer-bars", help="Bars of the primer kept (its first N; a pickup before them too), so a whole tune given as primer is only its opening.")] = DEFAULT_PRIMER_BARS,
    key: Annotated[str | None, typer.Option("--key", help="Key, e.g. D, Em, F# minor, A dorian, G mixolydian. A whole-tune model is conditioned on its mode. With a primer that stores no key, the primer's key.")] = None,
    meter: Annotated[str | None, typer.Option("--meter", help="Meter, e.g. 6/8, 4/4, 3/4 (default: the primer file's, else drawn from the training corpus's meters, or with --type). A meter the model never saw is refused.")] = None,
    tempo: Annotated[float | None, typer.Option("--tempo", help="Quarter notes per minute (default 120).")] = None,
    chords: Annotated[bool, typer.Option("--chords", help="Add a chord track harmonising each bar in the key (a folk lead sheet).")] = False,
    program: Annotated[int, typer.Option("--program", help="General MIDI program of the melody (0 piano, 40 violin, 73 flute, 22 harmonica).")] = 0,
    formats: FormatOption = "mid",
    out: Annotated[Path, typer.Option("--out", help="Output folder (created if missing).")] = Path("tunes"),
    synth: SynthOption = "additive",
    overwrite: OverwriteOption = False,
    device: Annotated[str, typer.Option("--device", help="cpu (the default: reproducible), auto (CUDA when available), cuda or mps.")] = "cpu",
    fill: Annotated[str | None, typer.Option("--fill", help="Write these bars of the --from tune again and keep every other bar, its meter and key: 5-8, or one bar: 5 (numbered as notated from 1; a pickup is bar 0 and stays). A MaskGAN model fills from both sides of the gap; any other model continues the tune up to it and keeps the fill under which the bars after it are likeliest (of --candidates).")] = None,
    from_tune: Annotated[str | None, typer.Option("--from", help="With --fill: the tune to fill, a composed tune's .json sidecar, a .mid file or an .abc file (its first tune, or tune N with tunes.abc#N).")] = None,
    candidates: Annotated[int | None, typer.Option("--candidates", help="With --fill on a left-context model: fills drawn, of which the one the bars after the gap are likeliest under is written (default 16).")] = None,
    interpolate: Annotated[tuple[str, str] | None, typer.Option("--interpolate", metavar="A B", help="Walk from tune A to tune B (each a composed tune's .json sidecar, a .mid or an .abc file) through a vae or arae model's codes (--run): --steps tunes, A's and B's reconstructions at the ends, decoded greedily (--temperature samples every point with --seed). Tunes longer than the model's windows: their opening.")] = None,
    home: HomeOption = None,
) -> None:
    """Compose folk tunes and write them with a JSON sidecar saying how each was made.

    A whole-tune model (the default) writes whole tunes: its header tokens condition it on the
    meter, mode and tune type; the form's strains, repeats and bar lines are laid out for it, and
    each strain closes on a cadence. ABC and MusicXML write the repeats as signs; MIDI and WAV play
    them out. A window model writes --bars bars, its meter enforced through the bar lines and its
    key reached by transposing the one of 16 candidates in the asked mode. Every file carries its
    provenance (model hash, seed, settings, the command that recomposes it) in the sidecar, in MIDI
    text events and in ABC N: lines.

    Example: seqgan-music compose --n 8 --type jig --key "A dorian" --form AABB --format mid,abc,wav --seed 42

    A lead sheet of a reel with first and second endings: seqgan-music compose --type reel --key D --endings --chords --format abc

    Continuing an opening: seqgan-music compose --primer-notes "D4 F#4 A4:4 B4 A4 F#4:4" --meter 4/4 --key D --bars 8

    Bars 5-8 of a tune written again, four ways: seqgan-music compose --fill 5-8 --from tunes/01-s42-the-windy-harbour.json --n 4 --format mid,abc

    Five tunes on the way from one tune to another through a VAE's codes: seqgan-music compose --interpolate first.mid second.abc --steps 5 --run folk-vae
    """
    from seqgan_music.composing.compose import compose_tunes, model_warning, requested_settings, tune_piece
    from seqgan_music.composing.model import load_model
    from seqgan_music.composing.primer import parse_primer_notes, read_primer_file
    from seqgan_music.composing.writing import parse_formats, write_pieces
    from seqgan_music.errors import SeqganError
    from seqgan_music.training.device import pick_device

    check_synth(synth)
    if interpolate is not None:
        from seqgan_music.cli.compose_interpolate import interpolate_command

        refused = {"--n": None if n == 8 else n, "--form": form, "--part-bars": part_bars, "--type": tune_type,
                   "--endings": endings, "--bars": bars, "--copy-temperature": copy_temperature, "--primer": primer,
                   "--primer-notes": primer_notes, "--primer-bars": None if primer_bars == DEFAULT_PRIMER_BARS else primer_bars,
                   "--key": key, "--meter": meter, "--fill": fill, "--from": from_tune, "--candidates": candidates}
        interpolate_command(interpolate, refused, run, steps, seed, temperature, top_k, max_hold, tempo, chords, program,
                            formats, out, synth, overwrite, device, home_path(home))
        return
    if fill is not None or from_tune is not None:
        from seqgan_music.cli.compose_fill import fill_command

        refused = {"--form": form, "--part-bars": part_bars, "--type": tune_type, "--endings": endings, "--bars": bars,
                   "--steps": steps, "--copy-temperature": copy_temperature, "--primer": primer,
                   "--primer-notes": primer_notes, "--primer-bars": None if primer_bars == DEFAULT_PRIMER_BARS else primer_bars,
                   "--key": key, "--meter": meter, "--tempo": tempo}
        fill_command(fill, from_tune, refused, run, n, seed, temperature, top_k, max_hold, candidates, chords, program,
                     formats, out, synth, overwrite, device, home_path(home))
        return
    if candidates is not None:
        raise SeqganError("--candidates sets how many fills --fill draws: give it with --fill and --from")
    chosen_formats = parse_formats(formats)
    if primer is not None and primer_notes is not None:
        raise SeqganError("give either --primer FILE or --primer-notes, not both")
    settings = requested_settings(n, bars, steps, temperature, top_k, seed, key, meter, tempo, chords, program,
                                  primer_bars, max_hold, form, part_bars, tune_type, endings, copy_temperature)
    model = load_model(home_path(home), run, pick_device(device))
    if primer is not None:
        settings = replace(settings, primer=read_primer_file(primer))
    elif primer_notes is not None:
        settings = replace(settings, primer=parse_primer_notes(primer_notes))
    warning = model_warning(model, settings)
    if warning:
        error_console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    tunes = compose_tunes(model, settings)
    pieces = write_pieces([tune_piece(index, tune) for index, tune in enumerate(tunes, start=1)], out.resolve(),
                          chosen_formats, synth, overwrite)
    _print_tunes(tunes, pieces, out, model.name, settings)


def check_synth(synth: str) -> None:
    from seqgan_music.errors import SeqganError

    if synth not in ("additive", "soundfont"):
        raise SeqganError(f"unknown --synth {synth!r}: choose additive or soundfont")


def _print_tunes(tunes: list, pieces: list, out: Path, model: str, settings: ComposeSettings) -> None:
    seed = settings.seed
    table = Table(title=f"{len(tunes)} tunes from model {model} (seeds {seed}-{seed + len(tunes) - 1})",
                  title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False)
    for column in ("file", "form", "key", "meter", "bars"):
        table.add_column(column, no_wrap=column == "file", justify="right" if column == "bars" else "left")
    for tune, piece in zip(tunes, pieces):
        melody = tune.melody
        whole = tune.provenance.get("tune")
        bars = f"{whole['notated_bars']} ({whole['played_bars']} played)" if whole else str(len(melody.bars))
        table.add_row(piece.files[0].stem, tune.provenance["form"], melody.key.name if melody.key else "-",
                      melody.meter, bars)
    console.print(table)
    decisions = {aspect: [(tune.provenance[aspect]["written"], tune.provenance[aspect]["how"]) for tune in tunes]
                 for aspect in ("key", "meter")}
    if all("tune" in tune.provenance for tune in tunes):
        decisions["type"] = [(t.provenance["tune"]["type"]["written"], t.provenance["tune"]["type"]["how"]) for t in tunes]
    if settings.primer is not None:
        decisions["primer"] = [(_primer_line(settings.primer, tune.provenance["primer_bars"]), "") for tune in tunes]
    for aspect, decided in decisions.items():
        for line in _per_tune(aspect, decided):
            console.print(line, highlight=False, soft_wrap=True)
    suffixes = ", ".join(sorted({f.suffix for p in pieces for f in p.files}))
    console.print(f"[green]wrote[/] {sum(len(p.files) for p in pieces)} files ({suffixes}) to {out}", highlight=False)


def _primer_line(primer: Primer, bars: dict) -> str:
    """'first 4 of 32 bars of /path/jigs202.mid', 'the typed notes, whole (1 bar)'."""
    given = primer.given if primer.kind == "file" else "the typed notes"
    if bars["kept"] < bars["total"]:
        return f"first {bars['kept']} of {bars['total']} bars of {given}"
    return f"{given}, whole ({bars['total']} bar{'s' if bars['total'] != 1 else ''})"


def _per_tune(aspect: str, decisions: list[tuple[str, str]]) -> list[str]:
    """Each tune's (value, how) said once: 'key: A minor (how)' when all tunes share it, 'meter: as the table
    shows (how)' when only the values differ, else one line per decision naming its tunes."""
    shown = [f"{value} ({how})" if how else value for value, how in decisions]
    hows = {how for _, how in decisions}
    if len(set(shown)) == 1:
        return [f"{aspect}: {shown[0]}"]
    if len(hows) == 1 and "" not in hows:
        return [f"{aspect}: as the table shows ({hows.pop()})"]
    tunes: dict[str, list[int]] = {}
    for number, decided in enumerate(shown, start=1):
        tunes.setdefault(decided, []).append(number)
    return [f"{aspect} of tune{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))}: {decided}"
            for decided, numbers in tunes.items()]
