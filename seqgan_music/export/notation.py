"""What written formats (ABC, MusicXML, chord symbols) share: spelling pitches in a key signature,
the sixteenth grid they write on, and the bars of a melody.

Spelling lives here once so that a note, a chord symbol and a key field written for the same tune
always agree (F# in D major, Bb in F major, never A# or Gb).
"""

from __future__ import annotations

from seqgan_music.corpora.melody import Melody, meter_length_in_beats

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
    bars of its meter's length. The last bar ends with the last note, full or not.
    """
    end = melody.end
    if end <= 0:
        return []
    if melody.bars:
        lines = sorted({b for b in melody.bars if 1e-9 < b < end - 1e-9})
    else:
        length = meter_length_in_beats(melody.meter)
        lines = [length * i for i in range(1, int(end / length - 1e-9) + 1)]
    starts = [0.0, *lines]
    return list(zip(starts, [*lines, end]))
