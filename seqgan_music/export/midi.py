"""Write a melody as a standard MIDI file with pretty_midi: one instrument, tempo, meter, key."""

from __future__ import annotations

import io
from pathlib import Path

import pretty_midi

from seqgan_music.atomic import write_bytes_atomic
from seqgan_music.corpora.melody import Melody, parse_meter

_VELOCITY = 90


def melody_to_pretty_midi(melody: Melody, program: int = 0) -> pretty_midi.PrettyMIDI:
    """A PrettyMIDI object holding the melody, its tempo, meter and key signature."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=float(melody.tempo))
    instrument = pretty_midi.Instrument(program=program, name=melody.title or "melody")
    for note in melody.notes:
        start, end = melody.seconds_at(note.start), melody.seconds_at(note.end)
        if end > start and 0 <= note.pitch <= 127:
            instrument.notes.append(pretty_midi.Note(_VELOCITY, int(note.pitch), start, end))
    midi.instruments.append(instrument)
    try:
        numerator, denominator = parse_meter(melody.meter)
    except ValueError:
        numerator, denominator = 4, 4
    midi.time_signature_changes.append(pretty_midi.TimeSignature(numerator, denominator, 0.0))
    if melody.key is not None:
        minor = 12 if melody.key.mode == "minor" else 0
        midi.key_signature_changes.append(
            pretty_midi.KeySignature(melody.key.tonic_pitch_class + minor, 0.0)
        )
    return midi


def melody_to_midi_bytes(melody: Melody, program: int = 0) -> bytes:
    buffer = io.BytesIO()
    melody_to_pretty_midi(melody, program).write(buffer)
    return buffer.getvalue()


def write_midi(melody: Melody, path: Path, program: int = 0) -> Path:
    """Write the melody to `path` atomically."""
    write_bytes_atomic(path, melody_to_midi_bytes(melody, program))
    return path
