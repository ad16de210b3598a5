"""`seqgan-music compose --fill 5-8 --from TUNE`: bars of a tune written again, the rest kept."""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.table import Table

from seqgan_music.cli.common import console
from seqgan_music.errors import SeqganError


def fill_command(span: str | None, from_tune: str | None, refused: dict[str, object], run: str | None, n: int,
                 seed: int | None, temperature: float | None, top_k: int, max_hold: float | None,
                 candidates: int | None, chords: bool, program: int, formats: str, out: Path, synth: str,
                 overwrite: bool, device: str, home: Path) -> None:
    """Write `n` versions of the tune `from_tune` with the bars `span` new; `refused`: the compose
    options given that filling does not take (a one-line error names the first)."""
    import secrets

    from seqgan_music.composing.fill import DEFAULT_CANDIDATES, FillSettings, fill_piece, fill_tunes, parse_span
    from seqgan_music.composing.model import load_model
    from seqgan_music.composing.source_tune import read_source_tune
    from seqgan_music.composing.writing import parse_formats, write_pieces
    from seqgan_music.training.device import pick_device

    if span is None:
        raise SeqganError("--from names the tune to fill: give the bars to write again with --fill, e.g. --fill 5-8")
    if from_tune is None:
        raise SeqganError("--fill needs the tune to fill: give --from TUNE (a composed tune's .json, a .mid or an "
                          ".abc file)")
    given = [option for option, value in refused.items() if value not in (None, False)]
    if given:
        raise SeqganError(f"{given[0]} does not apply to --fill: the tune's meter, key, length and form are kept "
                          "from --from, and only the bars asked for are written again")
    chosen_formats = parse_formats(formats)
    first, last = parse_span(span)
    settings = FillSettings(n, secrets.randbelow(1_000_000) if seed is None else seed, temperature, top_k or None,
                            max_hold, DEFAULT_CANDIDATES if candidates is None else candidates, chords, program)
    source = read_source_tune(from_tune)
    model = load_model(home, run, pick_device(device))
    tunes = fill_tunes(model, source, first, last, settings)
    pieces = write_pieces([fill_piece(index, tune) for index, tune in enumerate(tunes, start=1)], out.resolve(),
                          chosen_formats, synth, overwrite)
    table = Table(title=f"{len(tunes)} versions of {source.name} with bars {first}-{last} new, model {model.name} "
                        f"(seeds {settings.seed}-{settings.seed + len(tunes) - 1})",
                  title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False)
    for column in ("file", "key", "meter", "bars", "right context"):
        table.add_column(column, no_wrap=column == "file", justify="right" if column in ("bars", "right context") else "left")
    for tune, piece in zip(tunes, pieces):
        fill = tune.provenance["fill"]
        score = f"{fill['scores'][fill['chosen']]:.1f}" if fill["scores"] else "-"
        table.add_row(piece.files[0].stem, tune.provenance["key"]["written"], tune.melody.meter,
                      str(len(tune.melody.bars)), score)
    console.print(table)
    console.print(f"how: {tunes[0].provenance['fill']['how']}; key, meter and every other bar kept from {source.name}"
                  + (" (right context: log-probability of the bars after the gap)" if tunes[0].provenance["fill"]["scores"]
                     else ""), highlight=False, soft_wrap=True)
    suffixes = ", ".join(sorted({f.suffix for p in pieces for f in p.files}))
    console.print(f"[green]wrote[/] {sum(len(p.files) for p in pieces)} files ({suffixes}) to {out}", highlight=False)
