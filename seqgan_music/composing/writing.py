"""Write melodies in the formats musicians use, all or nothing, without overwriting earlier tunes.

Files are first written to a hidden staging folder inside the output folder and only then renamed
into place, so an error (a full disk, an interrupt) never leaves half a set of tunes behind. Each
tune's files are renamed as one set: a kill halfway through leaves a journal that the next write to
that folder uses to complete the tune (see `atomic.move_set_into_place`). A name
already taken in the output folder gets the next free suffix (`-2`, `-3`, ...) unless overwriting
is asked for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from seqgan_music.atomic import move_set_into_place, prepare_output_folder, set_staging_folder
from seqgan_music.corpora.melody import Melody
from seqgan_music.errors import SeqganError
from seqgan_music.export.abc import write_abc
from seqgan_music.export.chords import Chord
from seqgan_music.export.midi import write_midi
from seqgan_music.export.musicxml import write_musicxml
from seqgan_music.export.wav import write_wav

FORMATS = {"mid": ".mid", "abc": ".abc", "wav": ".wav", "musicxml": ".musicxml"}
SIDECAR = ".json"


@dataclass
class Piece:
    """One melody to write: its file stem, accompaniment, provenance lines and sidecar data."""

    stem: str
    melody: Melody
    chords: Sequence[Chord] = ()
    notes: Sequence[str] = ()  # provenance lines, written into MIDI text events and ABC N: fields
    sidecar: dict | None = None  # written as <stem>.json when given
    program: int = 0
    files: list[Path] = field(default_factory=list)  # filled in by write_pieces


def parse_formats(text: str) -> tuple[str, ...]:
    """'mid,abc,wav' -> ('mid', 'abc', 'wav'); a one-line error naming the formats there are."""
    chosen = tuple(dict.fromkeys(part.strip().lower().lstrip(".") for part in text.split(",") if part.strip()))
    aliases = {"midi": "mid", "xml": "musicxml", "mxl": "musicxml"}
    chosen = tuple(dict.fromkeys(aliases.get(f, f) for f in chosen))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise SeqganError(f"unknown format {', '.join(unknown) or repr(text)}: choose from {', '.join(FORMATS)} "
                          "(comma-separated, e.g. mid,abc,wav)")
    return chosen


def sidecar_text(sidecar: dict) -> str:
    """A sidecar's JSON as written to <stem>.json (a tune filled in the terminal app names its source
    by the sha256 of these bytes)."""
    return json.dumps(sidecar, indent=1, ensure_ascii=False) + "\n"


def write_pieces(pieces: Sequence[Piece], out: Path, formats: Sequence[str], synth: str = "additive",
                 overwrite: bool = False) -> list[Piece]:
    """Write every piece in every format (and its sidecar) to `out`; all files appear or none do,
    and after a kill each piece's files are there complete or not at all."""
    prepare_output_folder(out)
    try:
        with set_staging_folder(out) as staging:
            staged = [_stage(piece, staging, formats, synth) for piece in pieces]
            taken: set[str] = set()
            for piece, files in zip(pieces, staged):
                stem = _free_stem(out, piece.stem, [f.suffix for f in files], overwrite, taken)
                taken.add(stem)
                piece.files = [out / f"{stem}{file.suffix}" for file in files]
                move_set_into_place(staging, list(zip(files, piece.files)))
    except OSError as error:
        raise SeqganError(f"cannot write to {out}: {error.strerror or error}; choose another --out") from None
    return list(pieces)


def _stage(piece: Piece, staging: Path, formats: Sequence[str], synth: str) -> list[Path]:
    base = staging / piece.stem
    files: list[Path] = []
    for name in formats:
        path = base.with_name(piece.stem + FORMATS[name])
        if name == "mid":
            write_midi(piece.melody, path, program=piece.program, chords=piece.chords, texts=piece.notes)
        elif name == "abc":
            write_abc(piece.melody, path, chords=piece.chords, notes=piece.notes)
        elif name == "wav":
            write_wav(piece.melody, path, chords=piece.chords, synth=synth)
        else:
            write_musicxml(piece.melody, path, chords=piece.chords, notes=piece.notes)
        files.append(path)
    if piece.sidecar is not None:
        path = base.with_name(piece.stem + SIDECAR)
        path.write_text(sidecar_text(piece.sidecar), encoding="utf-8")
        files.append(path)
    return files


def _free_stem(out: Path, stem: str, suffixes: list[str], overwrite: bool, taken: set[str]) -> str:
    """`stem`, or `stem-2`, `stem-3`, ... when one of its files exists already (or was just written)."""
    candidate, number = stem, 1
    while candidate in taken or (not overwrite and any((out / f"{candidate}{s}").exists() for s in suffixes)):
        number += 1
        candidate = f"{stem}-{number}"
    return candidate
