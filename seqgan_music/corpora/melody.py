"""A monophonic melody in beats, with the meter, key and tempo needed to write it back.

Times are in quarter-note beats so that the sixteenth grid does not depend on tempo; the tempo
map converts to seconds for the paper's 0.4 s sampling and for MIDI export.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace

KEY_MODES = ("major", "minor", "dorian", "phrygian", "lydian", "mixolydian", "locrian")
_PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Semitones from the tonic of a mode down to the tonic of the major scale with the same signature.
_MODE_OFFSET = {"major": 0, "dorian": 2, "phrygian": 4, "lydian": 5, "mixolydian": 7,
                "minor": 9, "locrian": 11}


@dataclass(frozen=True)
class Note:
    """One note: MIDI pitch, start and end in quarter-note beats."""

    pitch: int
    start: float
    end: float


@dataclass(frozen=True)
class Key:
    """A key signature (`fifths` sharps, negative for flats) and a mode, and where it came from."""

    fifths: int
    mode: str = "major"
    source: str = "stored"  # "stored" in the file, or "estimated" from the notes

    @property
    def tonic_pitch_class(self) -> int:
        major_tonic = (self.fifths * 7) % 12
        return (major_tonic + _MODE_OFFSET.get(self.mode, 0)) % 12

    @property
    def name(self) -> str:
        return f"{_PITCH_CLASS_NAMES[self.tonic_pitch_class]} {self.mode}"

    def semitones_to_plain_signature(self) -> int:
        """The shift in -6..5 that turns this signature into no sharps or flats (C major, A minor)."""
        shift = -((self.fifths * 7) % 12)
        return shift + 12 if shift < -6 else shift

    @staticmethod
    def from_tonic(pitch_class: int, mode: str, source: str = "estimated") -> Key:
        major_tonic = (pitch_class - _MODE_OFFSET.get(mode, 0)) % 12
        fifths = (major_tonic * 7) % 12
        return Key(fifths - 12 if fifths > 6 else fifths, mode, source)

    def to_dict(self) -> dict:
        return {"fifths": self.fifths, "mode": self.mode, "source": self.source, "name": self.name}

    @staticmethod
    def from_dict(data: dict) -> Key:
        return Key(int(data["fifths"]), str(data["mode"]), str(data["source"]))


@dataclass
class Melody:
    """A monophonic line with its context. `bars` holds the beat of every bar line."""

    notes: list[Note]
    bars: list[float] = field(default_factory=list)
    meter: str = "4/4"
    key: Key | None = None
    tempo: float = 120.0  # quarter notes per minute at the start
    tempo_changes: list[tuple[float, float]] = field(default_factory=list)  # (beat, bpm) after 0
    title: str = ""
    source: str = ""
    rhythm: str = ""  # the tune type the source names (an ABC `R:` field), if any
    # Per bar line, as written in a score: (start repeat |:, end repeat :|, ending 0/1/2); None
    # when the source plays its repeats out (MIDI) or has no bar-level notation.
    repeat_marks: list[tuple[bool, bool, int]] | None = None

    @property
    def end(self) -> float:
        return self.notes[-1].end if self.notes else 0.0

    def seconds_at(self, beat: float) -> float:
        """Seconds from the start at a beat, following the tempo map."""
        seconds, position, bpm = 0.0, 0.0, self.tempo
        for change_beat, change_bpm in self.tempo_changes:
            if change_beat >= beat:
                break
            seconds += (change_beat - position) * 60.0 / bpm
            position, bpm = change_beat, change_bpm
        return seconds + (beat - position) * 60.0 / bpm

    def transposed(self, semitones: int) -> Melody:
        """The same melody shifted by `semitones`, with its key signature shifted to match."""
        notes = [Note(n.pitch + semitones, n.start, n.end) for n in self.notes]
        key = self.key
        if key is not None:
            key = Key.from_tonic((key.tonic_pitch_class + semitones) % 12, key.mode, key.source)
        return replace(self, notes=notes, key=key)

    def metadata(self) -> dict:
        """What export needs to write the tune back: meter, key, tempo, title, source."""
        return {
            "title": self.title,
            "source": self.source,
            "meter": self.meter,
            "key": self.key.to_dict() if self.key else None,
            "tempo": self.tempo,
        }


def meter_length_in_beats(meter: str) -> float:
    """Length of one bar in quarter-note beats, e.g. '6/8' -> 3.0."""
    numerator, denominator = parse_meter(meter)
    return numerator * 4.0 / denominator


def parse_meter(meter: str) -> tuple[int, int]:
    """'6/8' -> (6, 8); raises ValueError for anything that is not a positive n/2^k meter."""
    parts = meter.strip().split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"invalid meter {meter!r}: expected N/D such as 4/4 or 6/8")
    numerator, denominator = int(parts[0]), int(parts[1])
    if numerator < 1 or numerator > 64 or denominator not in (1, 2, 4, 8, 16, 32):
        raise ValueError(f"invalid meter {meter!r}: numerator 1-64, denominator 1, 2, 4, 8, 16 or 32")
    return numerator, denominator


def bar_lines(meter_changes: list[tuple[float, str]], end: float, first_bar: float = 0.0) -> list[float]:
    """Bar-line beats from `first_bar` up to (not including) `end`, following meter changes.

    A meter change restarts the bar count at its own beat, as MIDI time-signature events do.
    """
    changes = sorted(meter_changes) or [(0.0, "4/4")]
    bars: list[float] = []
    position = first_bar
    for index, (start, meter) in enumerate(changes):
        stop = changes[index + 1][0] if index + 1 < len(changes) else end
        length = meter_length_in_beats(meter)
        position = max(position, start)
        while position < min(stop, end) - 1e-9:
            bars.append(position)
            position += length
    return bars


def monophonic(notes: list[Note]) -> list[Note]:
    """Sort notes and clip each one at the start of the next, so at most one sounds at a time.

    Of notes starting together the highest is kept, because it is the melody in most scores.
    """
    ordered = sorted(notes, key=lambda n: (n.start, -n.pitch))
    line: list[Note] = []
    for note in ordered:
        if line and abs(line[-1].start - note.start) < 1e-9:
            continue
        if line and line[-1].end > note.start:
            line[-1] = Note(line[-1].pitch, line[-1].start, note.start)
        if note.end > note.start:
            line.append(note)
    return [n for n in line if n.end - n.start > 1e-9]


def sounding_index(starts: list[float], time: float) -> int:
    """Index of the last note starting at or before `time` in sorted `starts` (-1 if none)."""
    return bisect.bisect_right(starts, time + 1e-9) - 1
