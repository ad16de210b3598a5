"""Primers: the opening a user gives for the model to continue, typed as notes or read from a MIDI file."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from seqgan_music.corpora.encodings import token_pitch
from seqgan_music.corpora.melody import Melody, Note, bar_lines
from seqgan_music.errors import SeqganError, SkippedInput

_NOTE_PATTERN = re.compile(r"^(?:([A-Ga-g])([#b]?)(-?\d)|(R|REST|r|rest|z))(?::(1|2|4|8|16)(\.?))?$")
DEFAULT_LENGTH = 0.5  # beats: an eighth note, the most common note of folk tunes


DEFAULT_PRIMER_BARS = 4  # an opening to continue, not a whole tune to hand back


@dataclass(frozen=True)
class Primer:
    """The primer's melody (its own key, and for a file its meter and bar lines) and how the user gave it."""

    melody: Melody  # typed notes have no bar lines: they carry no meter until the tune has one
    kind: str  # "file" or "notes"
    given: str  # the file's resolved path, or the notes as typed

    @property
    def has_meter(self) -> bool:
        """Whether the primer brings its own meter (a MIDI file does; typed notes do not)."""
        return self.kind == "file"

    @property
    def description(self) -> str:
        """For provenance: 'file: NAME' or 'notes: D4 F#4 ...'."""
        return f"file: {Path(self.given).name}" if self.kind == "file" else f"notes: {self.given}"

    @property
    def options(self) -> list[str]:
        """The command-line options that give this primer again, from any folder."""
        return ["--primer", self.given] if self.kind == "file" else ["--primer-notes", self.given]

    def opening(self, meter: str, bars: int) -> tuple[Melody, int]:
        """The primer's first `bars` bars and how many bars it has in all.

        A file keeps its own bar lines; typed notes are laid out in `meter`. Bars are counted from
        the first bar line at or after the first note, so a pickup before it is kept as well.
        """
        melody = self.melody if self.has_meter else replace(
            self.melody, bars=bar_lines([(0.0, meter)], end=self.melody.end), meter=meter)
        first = melody.notes[0].start - 1e-9
        downbeats = [b for b in melody.bars if first <= b < melody.end - 1e-9]
        if len(downbeats) <= bars:
            return melody, len(downbeats)
        cut = downbeats[bars]
        notes = [Note(n.pitch, n.start, min(n.end, cut)) for n in melody.notes if n.start < cut - 1e-9]
        return replace(melody, notes=notes, bars=[b for b in melody.bars if b < cut - 1e-9],
                       tempo_changes=[c for c in melody.tempo_changes if c[0] < cut]), len(downbeats)


def parse_primer_notes(text: str) -> Primer:
    """'D4 F#4 A4:4 R:8 B4:8.' -> notes one after another from the first downbeat, without bar lines
    (the tune's meter lays them out).

    A note is a name with an optional # or b and an octave (middle C is C4), then optionally a
    length: :1 whole, :2 half, :4 quarter, :8 eighth (the default), :16 sixteenth, with a trailing
    '.' for dotted. R (or z) with a length is a rest.
    """
    notes: list[Note] = []
    position = 0.0
    words = text.split()
    if not words:
        raise SeqganError("--primer-notes is empty: give notes like \"D4 F#4 A4:4\"")
    for word in words:
        match = _NOTE_PATTERN.match(word)
        if not match:
            raise SeqganError(f"primer note {word!r} is not a note: write notes like D4, F#4:4 (a quarter), "
                              "Bb3:8. (a dotted eighth), or R:4 for a rest")
        length = 4.0 / int(match.group(5)) if match.group(5) else DEFAULT_LENGTH
        length *= 1.5 if match.group(6) else 1.0
        if not match.group(4):
            pitch = _pitch(match.group(1), match.group(2), match.group(3), word)
            notes.append(Note(pitch, position, position + length))
        position += length
    if not notes:
        raise SeqganError("--primer-notes holds only rests: give at least one note")
    return Primer(Melody(notes), "notes", " ".join(words))


def read_primer_file(path: Path) -> Primer:
    """The melody of a MIDI file, with the key, meter and bar lines the file stores."""
    return Primer(read_melody_file(path, "primer file"), "file", str(path.expanduser().resolve()))


def read_melody_file(path: Path, role: str = "MIDI file") -> Melody:
    """The melody of a MIDI file; a one-line error naming the file's `role` when it has none."""
    from seqgan_music.corpora.midi import read_midi_melody  # mido only when a file is read: the CLI starts faster

    if not path.is_file():
        raise SeqganError(f"{role} {path} does not exist: give a .mid file")
    try:
        return read_midi_melody(path, path.name)
    except SkippedInput as error:
        raise SeqganError(f"{role} {path} cannot be used: {error}") from None


def _pitch(letter: str, accidental: str, octave: str, word: str) -> int:
    pitch = token_pitch(f"{letter.upper()}{octave}")
    pitch = None if pitch is None else pitch + {"#": 1, "b": -1, "": 0}[accidental]
    if pitch is None or not 0 <= pitch <= 127:
        raise SeqganError(f"primer note {word!r} is outside MIDI's range (C-1 to G9)")
    return pitch
