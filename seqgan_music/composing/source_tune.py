"""A tune the user hands over to be worked on (`compose --fill ... --from TUNE`, `--interpolate A B`):
a composed tune's JSON sidecar, a MIDI file or a tune of an ABC file, read as notated.

Each kind is read by the reader the project already has for it: sidecars as `export` reads them
(their tokens, moved by the transposition they record; a whole tune's structure tokens give its
repeat signs), MIDI as `--primer` reads it (`primer.read_melody_file`), ABC as the folk corpus
reads it (`corpora.folk.read_abc_tune`, music21). A key the file does not store is estimated from
the notes, so every source tune has one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

from seqgan_music.composing.keys import parse_key
from seqgan_music.composing.writing import SIDECAR
from seqgan_music.corpora.encodings import MusicEncoding, encoding_from_params
from seqgan_music.corpora.keys import estimate_key
from seqgan_music.corpora.melody import Melody, Note, parse_meter
from seqgan_music.corpora.midi import MIDI_SUFFIXES
from seqgan_music.corpora.tunes import HEADER_FIELDS, STRUCTURE_TOKENS, parse_tune_symbols
from seqgan_music.errors import SeqganError, SkippedInput

ABC_SUFFIXES = (".abc",)
_MAX_BYTES = 20_000_000  # no tune file is larger; refuse before reading one that is


@dataclass(frozen=True)
class SourceTune:
    """A tune read from a file, as notated: `melody` holds one pass of it (bar lines as written,
    `bars[0] > 0` when it opens with a pickup), its key (stored, else estimated), meter, tempo,
    title and, where the file writes repeat signs (ABC, a whole tune's sidecar), `repeat_marks`."""

    melody: Melody
    path: Path  # resolved
    kind: str  # "sidecar", "midi" or "abc"
    sha256: str  # of the file's bytes
    number: str | None = None  # the ABC tune's X: field

    @property
    def option(self) -> str:
        """What `--from` takes to read this tune again, from any folder."""
        return f"{self.path}#{self.number}" if self.number is not None else str(self.path)

    @property
    def name(self) -> str:
        """The file's name, with the ABC tune's number: 'reels.abc#3'."""
        return f"{self.path.name}#{self.number}" if self.number is not None else self.path.name


def read_source_tune(given: str | Path, role: str = "--from") -> SourceTune:
    """The tune `given` names: a .json sidecar of a composed tune, a .mid/.midi file, or an .abc file
    (its first tune, or tune N with `file.abc#N`, N its X: field). One-line errors naming `role` for
    a missing, unknown or damaged file."""
    path, number = _path_and_number(str(given))
    if not path.is_file():
        raise SeqganError(f"{role} {given}: no such file; give a composed tune's .json, a .mid or an .abc file")
    suffix = path.suffix.lower()
    if suffix not in (SIDECAR, *MIDI_SUFFIXES, *ABC_SUFFIXES):
        raise SeqganError(f"{role} {path.name}: give a composed tune's .json sidecar, a .mid or an .abc file")
    if number is not None and suffix not in ABC_SUFFIXES:
        raise SeqganError(f"{role} {given}: #N picks a tune of an ABC file; {path.name} is not one")
    try:
        data = path.read_bytes() if path.stat().st_size <= _MAX_BYTES else None
    except OSError as error:
        raise SeqganError(f"{role} {path.name} cannot be read: {error.strerror or error}") from None
    if data is None:
        raise SeqganError(f"{role} {path.name} is too large to be a tune")
    if suffix == SIDECAR:
        melody, kind = _sidecar_melody(data, path.name, role), "sidecar"
    elif suffix in MIDI_SUFFIXES:
        from seqgan_music.composing.primer import read_melody_file

        melody, kind = read_melody_file(path, f"{role} file"), "midi"
    else:
        melody, kind = _abc_melody(data, path.name, number, role), "abc"
        number = melody.source.rpartition("#")[2]  # the first tune's, when none was asked
    if not melody.notes or not melody.bars:
        raise SeqganError(f"{role} {path.name} holds no {'notes' if not melody.notes else 'bar lines'}")
    if melody.key is None:
        melody = replace(melody, key=estimate_key(melody.notes))
    resolved = path.expanduser().resolve()
    return SourceTune(melody, resolved, kind, hashlib.sha256(data).hexdigest(), number)


def _path_and_number(given: str) -> tuple[Path, str | None]:
    """'tunes.abc#3' -> (tunes.abc, '3') when no file is named so with its '#'."""
    path = Path(given).expanduser()
    stem, sign, number = given.rpartition("#")
    if sign and not path.exists() and number.strip():
        return Path(stem).expanduser(), number.strip()
    return path, None


def _abc_melody(data: bytes, name: str, number: str | None, role: str) -> Melody:
    from seqgan_music.corpora.folk import read_abc_tune  # music21 only when an ABC file is read

    try:
        return read_abc_tune(data, name, number)
    except SkippedInput as error:
        raise SeqganError(f"{role} {name} cannot be used: {error}") from None


def _sidecar_melody(data: bytes, name: str, role: str) -> Melody:
    """The tune a sidecar records: its exact notes where it holds them (`melody`, as a filled tune's
    does), else its tokens decoded and moved by the recorded transposition (a whole tune as notated)."""
    try:
        record = json.loads(data.decode("utf-8"))
        meter = str(record["meter"]["written"])
        parse_meter(meter)
        key = parse_key(str(record["key"]["written"]))
        if "melody" in record:
            melody = _recorded_melody(record["melody"], meter)
        else:
            encoding = encoding_from_params(record["encoding"])
            if not isinstance(encoding, MusicEncoding):
                raise ValueError("it does not hold music")
            tokens = str(record["tokens"]).split()
            shift = int(record["key"]["transposed_semitones"])
            whole = any(t in STRUCTURE_TOKENS or t.partition("=")[0] in HEADER_FIELDS for t in tokens)
            melody = (parse_tune_symbols(tokens, meter).melody(played=False) if whole
                      else encoding.decode(tokens, {"meter": meter})).transposed(shift)
        return replace(melody, key=replace(key, source="stored"), meter=meter,
                       title=str(record.get("title", "")), tempo=float(record.get("tempo", 120.0)),
                       tempo_changes=[], source=name, rhythm=str(record.get("tune", {}).get("type", {}).get("written", "")))
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError, SeqganError) as error:
        detail = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        raise SeqganError(f"{role} {name} is not a composed tune's sidecar ({detail})") from None


def _recorded_melody(record: dict, meter: str) -> Melody:
    """A sidecar's exact notes: {"notes": [[pitch, start, end], ...], "bars": [...], "repeat_marks": ...}."""
    notes = [Note(int(p), float(s), float(e)) for p, s, e in record["notes"]]
    if any(not 0 <= n.pitch <= 127 or not 0 <= n.start < n.end for n in notes):
        raise ValueError("a note is outside MIDI's range or ends before it starts")
    marks = record.get("repeat_marks")
    return Melody(notes, [float(b) for b in record["bars"]], meter,
                  repeat_marks=None if marks is None else [(bool(a), bool(b), int(c)) for a, b, c in marks])


def melody_record(melody: Melody) -> dict:
    """A melody's notes, bar lines and repeat signs as a sidecar holds them exactly (what
    `read_source_tune` reads back from a sidecar's `melody` field), for tunes that tokens cannot
    write exactly (a filled tune keeps its source's bars, triplets and all)."""
    return {"notes": [[n.pitch, n.start, n.end] for n in melody.notes], "bars": list(melody.bars),
            "repeat_marks": None if melody.repeat_marks is None else [list(m) for m in melody.repeat_marks]}
