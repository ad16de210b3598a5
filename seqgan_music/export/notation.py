"""What written formats (ABC, MusicXML, chord symbols) share: spelling pitches in a key signature,
the sixteenth grid they write on, the bars of a melody, their repeat signs, and the meter's beats.

Spelling lives here once so that a note, a chord symbol and a key field written for the same tune
always agree (F# in D major, Bb in F major, never A# or Gb); the repeat signs live here once so
that ABC and MusicXML show the same form, the form `corpora.melody.played_out` plays.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqgan_music.corpora.melody import (
    PICKUP,
    Melody,
    meter_length_in_beats,
    notated_end,
    parse_meter,
    played_bar_order,
)

UNIT_BEATS = 0.25  # a sixteenth: grid16 melodies are exact, anything finer is rounded
_LETTERS = "CDEFGAB"
_NATURAL = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_SHARP_ORDER, _FLAT_ORDER = "FCGDAEB", "BEADGCF"


def key_signature(fifths: int) -> dict[str, int]:
    """Letter -> alteration (+1 sharp, -1 flat) of a signature with `fifths` sharps (negative: flats)."""
    if fifths >= 0:
        return {letter: 1 for letter in _SHARP_ORDER[:fifths]}
    return {letter: -1 for letter in _FLAT_ORDER[:-fifths]}


def spell(pitch_class: int, fifths: int) -> tuple[str, int]:
    """(letter, alteration) for a pitch class: in the key's scale when it is, else the plain letter,
    else a sharp in sharp keys and a flat in flat keys."""
    signature = key_signature(fifths)
    candidates = []
    for letter in _LETTERS:
        alteration = (pitch_class - _NATURAL[letter] + 6) % 12 - 6
        if -1 <= alteration <= 1:
            candidates.append((letter, alteration))
    for letter, alteration in candidates:
        if signature.get(letter, 0) == alteration:
            return letter, alteration
    for letter, alteration in candidates:
        if alteration == 0:
            return letter, 0
    wanted = 1 if fifths >= 0 else -1
    return next(((l, a) for l, a in candidates if a == wanted), candidates[0])


def spell_pitch(pitch: int, fifths: int) -> tuple[str, int, int]:
    """(letter, alteration, octave) of a MIDI pitch; octave 4 starts at middle C (MIDI 60)."""
    letter, alteration = spell(pitch % 12, fifths)
    return letter, alteration, (pitch - alteration) // 12 - 1


def to_grid(beats: float) -> int:
    """Beats to whole sixteenths, rounded."""
    return round(beats / UNIT_BEATS)


def grid_events(melody: Melody) -> list[tuple[int, int, int]]:
    """(start, end, pitch) in sixteenths, sorted, overlaps cut so the line stays monophonic."""
    events: list[tuple[int, int, int]] = []
    for note in sorted(melody.notes, key=lambda n: (n.start, n.pitch)):
        start, end = to_grid(note.start), to_grid(note.end)
        if events and start < events[-1][1]:
            previous = events.pop()
            if start > previous[0]:
                events.append((previous[0], start, previous[2]))
        if end > start:
            events.append((start, end, note.pitch))
    return events


def bar_spans(melody: Melody) -> list[tuple[float, float]]:
    """(start, end) beats of each bar up to the melody's end.

    A pickup before the first bar line is a bar of its own; a melody without bar lines is cut into
    bars of its meter's length. The last bar ends with the last note, full or not, except in a
    melody with repeat marks, where it ends at `corpora.melody.notated_end`.
    """
    end = notated_end(melody)
    if end <= 0:
        return []
    if melody.bars:
        lines = sorted({b for b in melody.bars if 1e-9 < b < end - 1e-9})
    else:
        length = meter_length_in_beats(melody.meter)
        lines = [length * i for i in range(1, int(end / length - 1e-9) + 1)]
    starts = [0.0, *lines]
    return list(zip(starts, [*lines, end]))


@dataclass(frozen=True)
class BarSigns:
    """The repeat signs of one written bar: `|:` at its start, `:|` at its end, and the ending
    (1 or 2, 0 for none) whose bracket it is under."""

    start_repeat: bool = False
    end_repeat: bool = False
    ending: int = 0


NO_SIGNS = BarSigns()


def repeat_signs(melody: Melody) -> dict[int, BarSigns]:
    """The signs of each bar of a melody with repeat marks, by the bar's start in sixteenths (bars
    without signs left out; empty for a melody without marks).

    The repeats are written where `played_bar_order` jumps: `:|` on the bar it jumps back from and
    `|:` on the bar it jumps to, also where the marks leave it implicit, and before the pickup when
    the pickup is played again (so a reader goes back to the pickup exactly when it is played
    again). Endings are as marked.
    """
    if melody.repeat_marks is None or not melody.bars:
        return {}
    order = played_bar_order(melody)
    jumps = [(source, target) for source, target in zip(order, order[1:]) if target <= source]
    starts = {0 if target == PICKUP else to_grid(melody.bars[target]) for _, target in jumps}
    ends = {to_grid(melody.bars[source]) for source, _ in jumps}
    endings = {to_grid(line): ending for line, (_, _, ending) in zip(melody.bars, melody.repeat_marks) if ending}
    return {start: BarSigns(start in starts, start in ends, endings.get(start, 0))
            for start in sorted(starts | ends | set(endings))}


def beat_length(meter: str) -> float:
    """Beats are dotted in compound meters (6/8, 9/8, 12/8: 1.5 quarters), else the denominator."""
    numerator, denominator = parse_meter(meter)
    if denominator >= 8 and numerator % 3 == 0:
        return 3 * 4 / denominator
    return 4 / denominator


def beam_group(meter: str) -> int:
    """Sixteenths per beamed group of short notes, as folk transcriptions beam them: a beat (a dotted
    quarter in 6/8, 9/8 and 12/8, a quarter in 2/4 and 3/4, a half in 2/2 and 3/2), but half a bar
    in 4/4 (a reel's or hornpipe's four eighths) and at least a quarter in other simple meters (5/8,
    7/8: pairs of eighths)."""
    numerator, denominator = parse_meter(meter)
    if (numerator, denominator) == (4, 4):
        return to_grid(2.0)
    beat = beat_length(meter)
    compound = denominator >= 8 and numerator % 3 == 0
    return to_grid(beat if compound else max(beat, 1.0))
