"""What `export` converts: a composed tune's sidecar, a MIDI file, a token listing, or a run's latest
samples, each turned into Pieces that writing.py puts out in any format."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from seqgan_music.composing.compose import ComposedTune, tune_piece
from seqgan_music.composing.writing import SIDECAR, Piece
from seqgan_music.corpora.encodings import BAR, HOLD, Grid16, MusicEncoding, PaperEncoding
from seqgan_music.corpora.midi import MIDI_SUFFIXES
from seqgan_music.errors import SeqganError
from seqgan_music.export.chords import harmonise
from seqgan_music.training.samples import common_meter, sampled_melody

_MAX_BYTES = 50_000_000  # larger "token listings" are not what the user meant


def pieces_from_source(home: Path, source: str, chords: bool = False, program: int | None = None,
                       meter: str | None = None) -> list[Piece]:
    """Pieces from a file (.json sidecar, .mid, .txt token listing), a folder (its sidecars, else its
    MIDI files) or a run name (its newest samples).

    A sidecar keeps its own chords and program unless `program` is given; the others take
    `chords`, `program` (default 0) and `meter` (default: the one the tokens or the corpus imply).
    """
    path = Path(source).expanduser()
    if path.is_dir():
        tunes = sorted(path.glob(f"*{SIDECAR}")) or sorted(p for p in path.iterdir() if p.suffix.lower() in MIDI_SUFFIXES)
        if not tunes:
            raise SeqganError(f"{path} holds no composed tunes (.json sidecars) or MIDI files to export")
        return [piece for tune in tunes for piece in pieces_from_source(home, str(tune), chords, program, meter)]
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == SIDECAR:
            return [_from_sidecar(path, program)]
        if suffix in MIDI_SUFFIXES:
            return [_from_midi(path, chords, program or 0)]
        if suffix == ".txt":
            return _from_listing(path, None, meter, chords, program or 0)
        raise SeqganError(f"cannot export {path.name}: give a composed tune's .json, a .mid file, a .txt token "
                          "listing or a run name")
    if not _names_a_run(source):
        raise SeqganError(f"{source} does not exist: give an existing file or a run name (see `seqgan-music runs`)")
    return _from_run(home, source, meter, chords, program or 0)


def _from_sidecar(path: Path, program: int | None) -> Piece:
    """A tune as its sidecar holds it (`source_tune.read_source_tune`): a whole tune as notated, a filled
    tune's exact notes."""
    from seqgan_music.composing.fill import fill_piece
    from seqgan_music.composing.source_tune import read_source_tune

    melody = read_source_tune(path, "export").melody
    data = json.loads(path.read_text(encoding="utf-8"))
    melody = replace(melody, title=melody.title or path.stem)
    try:
        tune = ComposedTune(int(data.get("seed", 0)), melody.title, melody, harmonise(melody) if data.get("chords") else [],
                            str(data.get("tokens", "")).split(),
                            {**data, "program": int(data.get("program", 0)) if program is None else program})
        piece = fill_piece(0, tune) if "fill" in data else tune_piece(0, tune)
    except (KeyError, TypeError, ValueError) as error:
        raise SeqganError(f"{path.name} is not a composed tune's sidecar ({type(error).__name__}: {error})") from None
    piece.stem = path.stem
    return piece


def _from_midi(path: Path, chords: bool, program: int) -> Piece:
    from seqgan_music.composing.primer import read_melody_file

    melody = read_melody_file(path)
    return Piece(path.stem, melody, harmonise(melody) if chords else [], [f"Converted from {path.name} by seqgan-music"],
                 None, program)


def _from_listing(path: Path, encoding: MusicEncoding | None, meter: str | None, chords: bool, program: int,
                  stem: str | None = None) -> list[Piece]:
    """One piece per line of token strings, as `generate` and training write them, in bars of `meter`."""
    if path.stat().st_size > _MAX_BYTES:
        raise SeqganError(f"{path.name} is too large to be a token listing")
    try:
        lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        raise SeqganError(f"{path.name} cannot be read as a token listing ({error})") from None
    if not lines:
        raise SeqganError(f"{path.name} holds no token lines")
    if encoding is None:
        encoding = Grid16() if any(t in (BAR, HOLD) for line in lines for t in line) else PaperEncoding()
    pieces = []
    for index, tokens in enumerate(lines, start=1):
        melody = sampled_melody(encoding, tokens, {"meter": meter} if meter else None)
        if not melody.notes:
            continue
        melody = replace(melody, title=f"{path.stem} {index}", source=path.name)
        pieces.append(Piece(f"{stem or path.stem}-{index:02d}", melody, harmonise(melody) if chords else [],
                            [f"Converted from {path.name}, line {index}, by seqgan-music"], None, program))
    if not pieces:
        raise SeqganError(f"{path.name} holds no notes: is it a music token listing?")
    return pieces


def run_samples(home: Path, source: str) -> Path | None:
    """The token listing that `source` stands for when it names a run: the run's newest samples
    (final.txt once it has finished, else its last evaluation's); None when `source` is a path."""
    return _newest_listing(home, source) if _names_a_run(source) else None


def _newest_listing(home: Path, run: str) -> Path:
    from seqgan_music.training.runs import newest_samples, run_dir

    listing = newest_samples(run_dir(home, run))
    if listing is None:
        raise SeqganError(f"run {run!r} has no samples yet: train it further, or `seqgan-music generate {run}`")
    return listing


def _names_a_run(source: str) -> bool:
    path = Path(source).expanduser()
    return not path.exists() and path.suffix.lower() not in {SIDECAR, ".txt", *MIDI_SUFFIXES} and "/" not in source


def _from_run(home: Path, run: str, meter: str | None, chords: bool, program: int) -> list[Piece]:
    from seqgan_music.corpora.corpus import load_corpus
    from seqgan_music.training.runs import read_run_info, run_dir

    info = read_run_info(run_dir(home, run))
    listing = _newest_listing(home, run)
    corpus = load_corpus(home, info["corpus"])
    if not isinstance(corpus.encoding, MusicEncoding):
        raise SeqganError(f"run {run!r} was trained on a non-music corpus: its samples are text already ({listing})")
    return _from_listing(listing, corpus.encoding, meter or common_meter(corpus), chords, program,
                         stem=f"{run}-{listing.stem}")
