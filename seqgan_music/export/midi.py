"""Write a melody as a standard MIDI file with pretty_midi: the melody instrument, tempo, meter and
key, and optionally a softer chord instrument and text events (what composed the tune, and how).

A MIDI file sounds the tune as played: a melody with repeat marks (a notated tune) is played out
first (`corpora.melody.played_out`), its chords with it (`chords.played_chords`)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pretty_midi

from seqgan_music.atomic import write_bytes_atomic
from seqgan_music.corpora.melody import MAJOR_LIKE, Key, Melody, notated_end, parse_meter, played_out
from seqgan_music.export.chords import Chord, played_chords

_VELOCITY = 90
_CHORD_VELOCITY = 55  # under the melody, so the tune stays in front


def melody_to_pretty_midi(melody: Melody, program: int = 0, chords: Sequence[Chord] = (),
                          chord_program: int = 0, texts: Sequence[str] = ()) -> pretty_midi.PrettyMIDI:
    """A PrettyMIDI object holding the melody, its tempo, meter and key signature; `chords` as a
    second instrument named "chords", `texts` as text events at time 0. Repeats are played out."""
    chords = played_chords(melody, chords)
    melody = played_out(melody)
    midi = pretty_midi.PrettyMIDI(initial_tempo=float(melody.tempo))
    instrument = pretty_midi.Instrument(program=program, name=melody.title or "melody")
    for note in melody.notes:
        start, end = melody.seconds_at(note.start), melody.seconds_at(note.end)
        if end > start and 0 <= note.pitch <= 127:
            instrument.notes.append(pretty_midi.Note(_VELOCITY, int(note.pitch), start, end))
    midi.instruments.append(instrument)
    if chords:
        midi.instruments.append(_chord_instrument(melody, chords, chord_program))
    midi.text_events.extend(pretty_midi.Text(text, 0.0) for text in texts)
    for beat, numerator, denominator in meter_changes(melody):
        midi.time_signature_changes.append(
            pretty_midi.TimeSignature(numerator, denominator, melody.seconds_at(beat))
        )
    if melody.key is not None:
        midi.key_signature_changes.append(pretty_midi.KeySignature(key_signature_number(melody.key), 0.0))
    return midi


def key_signature_number(key: Key) -> int:
    """pretty_midi's key number (0-11 major, 12-23 minor) for the MIDI signature of `key`.

    A MIDI key signature holds only sharps or flats and a major/minor flag, so a mode is written
    as its signature (D dorian: none, A dorian: one sharp) with the flag of its third: major for
    major, lydian and mixolydian, minor for the others. The tonic a reader sees is then the
    signature's relative major or minor (C major for G mixolydian, A minor for D dorian); the
    ABC and MusicXML files name the mode itself. pretty_midi writes the signatures of -5..6
    fifths exactly; the rare -7, -6 and 7 are written as their enharmonic equivalents.
    """
    relative = Key(key.fifths, "major" if key.mode in MAJOR_LIKE else "minor")
    return relative.tonic_pitch_class + (0 if key.mode in MAJOR_LIKE else 12)


def meter_changes(melody: Melody) -> list[tuple[float, int, int]]:
    """(beat, numerator, denominator) wherever the bar lines imply a change of meter.

    A bar of the tune's meter keeps it; a shorter or longer bar (a pickup, a half bar at the end
    of a strain) gets its own time signature in the tune's denominator, so the written file has
    its bar lines where the melody has them. The last bar, which ends with the last note, keeps
    the meter unless it is longer; in a melody with repeat marks it is a bar like the others,
    ending at `corpora.melody.notated_end` (it may close a strain that is played again).
    """
    try:
        numerator, denominator = parse_meter(melody.meter)
    except ValueError:
        numerator, denominator = 4, 4
    regular = (numerator, denominator)
    starts = ([0.0] if not melody.bars or melody.bars[0] > 1e-9 else []) + list(melody.bars)
    changes: list[tuple[float, int, int]] = []
    for start, stop in zip(starts, starts[1:] + [None]):
        if stop is None:
            last = notated_end(melody) - start
            longer = last > numerator * 4 / denominator + 1e-6
            meter = _meter_of_bar(last, regular) if longer or melody.repeat_marks is not None else regular
        else:
            meter = _meter_of_bar(stop - start, regular)
        if not changes or changes[-1][1:] != meter:
            changes.append((start, *meter))
    return changes


def _meter_of_bar(beats: float, regular: tuple[int, int]) -> tuple[int, int]:
    if abs(beats - regular[0] * 4 / regular[1]) < 1e-6:
        return regular
    for denominator in (regular[1], 8, 16, 32):
        numerator = beats * denominator / 4
        if abs(numerator - round(numerator)) < 1e-6 and 1 <= round(numerator) <= 64:
            return int(round(numerator)), denominator
    return regular


def _chord_instrument(melody: Melody, chords: Sequence[Chord], program: int) -> pretty_midi.Instrument:
    instrument = pretty_midi.Instrument(program=program, name="chords")
    for chord in chords:
        start, end = melody.seconds_at(chord.start), melody.seconds_at(chord.end)
        if end > start:
            instrument.notes.extend(pretty_midi.Note(_CHORD_VELOCITY, p, start, end) for p in chord.pitches())
    return instrument


def melody_to_midi_bytes(melody: Melody, program: int = 0, chords: Sequence[Chord] = (),
                         chord_program: int = 0, texts: Sequence[str] = ()) -> bytes:
    buffer = io.BytesIO()
    melody_to_pretty_midi(melody, program, chords, chord_program, texts).write(buffer)
    return buffer.getvalue()


def write_midi(melody: Melody, path: Path, program: int = 0, chords: Sequence[Chord] = (),
               chord_program: int = 0, texts: Sequence[str] = ()) -> Path:
    """Write the melody to `path` atomically."""
    write_bytes_atomic(path, melody_to_midi_bytes(melody, program, chords, chord_program, texts))
    return path
