"""`seqgan-music compose --interpolate A B --steps 5`: the tunes on the path from A to B in a VAE's or
ARAE's code space."""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.table import Table

from seqgan_music.cli.common import console
from seqgan_music.errors import SeqganError

DEFAULT_POINTS = 5


def interpolate_command(pair: tuple[str, str], refused: dict[str, object], run: str | None, points: int | None,
                        seed: int | None, temperature: float | None, top_k: int, max_hold: float | None,
                        tempo: float | None, chords: bool, program: int, formats: str, out: Path, synth: str,
                        overwrite: bool, device: str, home: Path) -> None:
    """Write the `points` tunes from `pair[0]` to `pair[1]`; `refused`: the compose options given that
    interpolation does not take (a one-line error names the first)."""
    from seqgan_music.composing.compose import requested_settings
    from seqgan_music.composing.interpolation import check_points, interpolate_tunes, interpolation_piece, latent_generator
    from seqgan_music.composing.model import load_model
    from seqgan_music.composing.source_tune import read_source_tune
    from seqgan_music.composing.writing import parse_formats, write_pieces
    from seqgan_music.training.device import pick_device

    given = [option for option, value in refused.items() if value not in (None, False)]
    if given:
        raise SeqganError(f"{given[0]} does not apply to --interpolate: the tunes' length, meter and key come from "
                          "A and B, and --steps counts the tunes on the path")
    if top_k and temperature is None:
        raise SeqganError("--top-k samples: give --temperature with it (--interpolate decodes greedily without one)")
    points = DEFAULT_POINTS if points is None else points
    check_points(points)
    chosen_formats = parse_formats(formats)
    settings = requested_settings(1, temperature=temperature, top_k=top_k, seed=seed, tempo=tempo, chords=chords,
                                  program=program, max_hold=max_hold)
    model = load_model(home, run, pick_device(device))
    latent_generator(model)
    a, b = read_source_tune(pair[0], "A"), read_source_tune(pair[1], "B")
    tunes = interpolate_tunes(model, a, b, points, settings)
    pieces = write_pieces([interpolation_piece(tune) for tune in tunes], out.resolve(), chosen_formats, synth, overwrite)
    path = tunes[0].provenance["interpolation"]
    table = Table(title=f"{points} tunes from {a.name} to {b.name} through model {model.name}'s codes "
                        f"({path['path']} path, {path['decoding']})",
                  title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False)
    for column in ("t", "key", "meter", "bars", "file"):
        table.add_column(column, no_wrap=column != "file", overflow="fold",
                         justify="right" if column in ("t", "bars") else "left")
    for tune, piece in zip(tunes, pieces):
        table.add_row(f"{tune.provenance['interpolation']['t']:.2f}", tune.provenance["key"]["written"],
                      tune.melody.meter, str(len(tune.melody.bars)), piece.files[0].stem)
    console.print(table)
    for end, tune in (("a", a), ("b", b)):
        read = path[end]
        if read["opening_only"]:
            console.print(f"{end.upper()}: {tune.name} is longer than the model's windows: its opening, "
                          f"{read['tokens_read']} of its {read['tokens']} tokens, was read", highlight=False,
                          soft_wrap=True)
    console.print("key and meter: the nearer tune's (A's up to the midpoint, B's after it), the mode read from the "
                  "notes", highlight=False, soft_wrap=True)
    if temperature is None:
        console.print("decoded greedily: the likeliest token at each step tends to hold notes long; --temperature 1 "
                      "samples every point with the same --seed", highlight=False, soft_wrap=True)
    suffixes = ", ".join(sorted({f.suffix for p in pieces for f in p.files}))
    console.print(f"[green]wrote[/] {sum(len(p.files) for p in pieces)} files ({suffixes}) to {out}", highlight=False)
