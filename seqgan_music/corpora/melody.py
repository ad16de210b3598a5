"""A monophonic melody in beats, with the meter, key and tempo needed to write it back.

Times are in quarter-note beats so that the sixteenth grid does not depend on tempo; the tempo
map converts to seconds for the paper's 0.4 s sampling and for MIDI export.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace

from seqgan_music.errors import SkippedInput

KEY_MODES = ("major", "minor", "dorian", "phrygian", "lydian", "mixolydian", "locrian")
MAJOR_LIKE = frozenset({"major", "lydian", "mixolydian"})  # the modes with a major third
# The longest tune a corpus takes, in quarter-note beats: 80,000 sixteenths, 2 h 47 min at 120 BPM.
MAX_TUNE_BEATS = 20_000
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


def check_tune_length(end: float) -> None:
    """SkippedInput for a tune that ends after MAX_TUNE_BEATS, checked before anything is made per
    bar or step: one note held for 2^28 ticks at one tick a beat would otherwise take gigabytes."""
    if end > MAX_TUNE_BEATS:
        raise SkippedInput(f"too long: {end:.0f} beats, over the limit of {MAX_TUNE_BEATS} "
                           "(a note held far too long, or broken timing)")


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


# --- playing repeat marks out -----------------------------------------------------------------

PICKUP = -1  # the pickup's place in `played_bar_order`


def played_bar_order(melody: Melody) -> list[int]:
    """The bars of a melody with repeat marks in the order a musician plays them, as indices into
    `melody.bars` and `PICKUP` for the pickup: at an end repeat go back once to the last start
    repeat (or the bar after the previous strain, or the first bar); the second time through skip
    the first-ending bars. The pickup opens the tune and is played again before the first strain's
    repeat when that strain's closing bar leaves room for it (written short by the pickup, as a
    score writes it, and as `corpora.tunes.TunePart.played_bars` plays it)."""
    lines = melody.bars
    pickup = bool(lines) and lines[0] > 1e-9
    ends = [*lines[1:], notated_end(melody)]
    bar_length = meter_length_in_beats(melody.meter)
    order = [PICKUP] if pickup else []
    for index in _bar_order(_marks(melody)):
        source = order[-1] if order else PICKUP
        if pickup and index == 0 and source >= 0 and ends[source] - lines[source] + lines[0] <= bar_length + 1e-9:
            order.append(PICKUP)
        order.append(index)
    return order


def _marks(melody: Melody) -> list[tuple[bool, bool, int]]:
    """`melody.repeat_marks`, one per bar line (none past the last, no sign where missing)."""
    marks = list((melody.repeat_marks or [])[:len(melody.bars)])
    return marks + [(False, False, 0)] * (len(melody.bars) - len(marks))


def _bar_order(marks: list[tuple[bool, bool, int]]) -> list[int]:
    """The bars of `played_bar_order`, without the pickup."""
    order: list[int] = []
    repeat_from, jumped_from = 0, None
    index = 0
    while index < len(marks):
        starts, ends, ending = marks[index]
        if jumped_from is not None and index > jumped_from and ending != 2:
            repeat_from, jumped_from = index, None  # the repeated strain is over
        if starts and jumped_from is None:
            repeat_from = index
        if ending == 1 and jumped_from is not None:
            index += 1  # the first ending, the second time through
            continue
        order.append(index)
        if ends and jumped_from is None:
            jumped_from, index = index, repeat_from
        else:
            index += 1
    return order


@dataclass(frozen=True)
class PlayedSpan:
    """Notated beats [start, end), played from beat `at` on; `bar_lines` are the notated bar lines in it."""

    start: float
    end: float
    at: float
    bar_lines: tuple[float, ...] = ()


def played_spans(melody: Melody) -> list[PlayedSpan]:
    """The stretches of a melody with repeat marks in the order they are played (`played_bar_order`,
    consecutive bars joined); one span for a melody without."""
    if melody.repeat_marks is None or not melody.bars:
        return [PlayedSpan(0.0, melody.end, 0.0, tuple(melody.bars))]
    lines = melody.bars
    ends = [*lines[1:], notated_end(melody)]
    spans: list[PlayedSpan] = []
    previous = None
    for index in played_bar_order(melody):
        start, end, line = (0.0, lines[0], ()) if index == PICKUP else (lines[index], ends[index], (lines[index],))
        if spans and previous is not None and index == previous + 1:
            spans[-1] = replace(spans[-1], end=end, bar_lines=(*spans[-1].bar_lines, *line))
        else:
            at = spans[-1].at + spans[-1].end - spans[-1].start if spans else 0.0
            spans.append(PlayedSpan(start, end, at, line))
        previous = index
    return spans


def played_out(melody: Melody) -> Melody:
    """The melody as played: its repeat signs (`repeat_marks`) played out (`played_bar_order`), or
    the melody itself when it has none. Bar lines and tempo changes follow the played bars.

    A note carried over the bar line into a bar reached by a jump (a strain's first bar played
    again, a second ending) continues whatever sounds at the end of the bar played before it,
    silence if nothing does, as a grid16 HOLD does: this is `corpora.tunes.Tune.melody(played=True)`
    for every notated tune whose strains and second endings start with a struck note or a rest
    and whose last bar is full or ends on a note.
    """
    if melody.repeat_marks is None:
        return melody
    notes: list[Note] = []
    bars: list[float] = []
    for span in played_spans(melody):
        shift = span.at - span.start
        bars += [line + shift for line in span.bar_lines if not bars or line + shift > bars[-1] + 1e-9]
        for note in melody.notes:
            onset, offset = max(note.start, span.start), min(note.end, span.end)
            if offset - onset <= 1e-9:
                continue
            if note.start < span.start - 1e-9:  # carried over the bar line jumped to
                if notes and abs(notes[-1].end - span.at) < 1e-9:
                    notes[-1] = replace(notes[-1], end=offset + shift)
                continue
            notes.append(Note(note.pitch, onset + shift, offset + shift))
    return replace(melody, notes=notes, bars=bars, tempo_changes=_played_tempo_changes(melody),
                   repeat_marks=None)


def _played_tempo_changes(melody: Melody) -> list[tuple[float, float]]:
    """The tempo map of `played_out`: each span starts at the tempo in force where it is written."""
    if not melody.tempo_changes:
        return []
    changes: list[tuple[float, float]] = []
    playing = melody.tempo
    for span in played_spans(melody):
        here = [bpm for beat, bpm in melody.tempo_changes if beat <= span.start + 1e-9]
        inside = [(beat, bpm) for beat, bpm in melody.tempo_changes if span.start + 1e-9 < beat < span.end - 1e-9]
        for beat, bpm in [(span.start, here[-1] if here else melody.tempo), *inside]:
            if bpm != playing:
                changes.append((beat - span.start + span.at, bpm))
                playing = bpm
    return changes


def notated_end(melody: Melody) -> float:
    """Where the written melody ends. A Melody holds no time after its last note, so for one with
    repeat marks, whose last bar often closes a repeat, the last bar lasts a full bar of the meter
    (a rest at its end is played before the strain starts over), except when the strain it closes
    opens with a short bar (the pickup, or a pickup bar of its own): then it is written short by
    that bar, as scores write it, so the opening comes round in the room (see `played_bar_order`),
    or it ends with its last note where that leaves less room. Without marks: the last note."""
    if melody.repeat_marks is None or not melody.bars:
        return melody.end
    lines = melody.bars
    last = len(lines) - 1
    bar_length = meter_length_in_beats(melody.meter)
    order = _bar_order(_marks(melody))
    for target in {b for a, b in zip(order, order[1:]) if a == last and b <= a}:
        if target == 0 and lines[0] > 1e-9:
            opening = lines[0]  # the pickup
        else:
            opening = lines[target + 1] - lines[target] if target < last else bar_length
        if opening < bar_length - 1e-9:
            return max(melody.end, lines[last] + bar_length - opening)
    return max(melody.end, lines[last] + bar_length)
