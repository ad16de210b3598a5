"""MIDI export: program, tempo, meter and key, the chord instrument and the text events, read back
with pretty_midi and mido."""

import io

import mido
import pretty_midi
import pytest

from seqgan_music.corpora.melody import Key, Melody, Note, bar_lines
from seqgan_music.export.chords import Chord, harmonise
from seqgan_music.export.midi import melody_to_midi_bytes, melody_to_pretty_midi, write_midi

NOTES = [Note(62, 0, 1), Note(66, 1, 2), Note(69, 2, 3), Note(67, 3, 4.5), Note(71, 4.5, 6), Note(69, 6, 9)]
MELODY = Melody(NOTES, bar_lines([(0.0, "3/4")], 9.0), "3/4", Key(2), tempo=90, title="Waltz")


def test_melody_chords_and_texts_read_back(tmp_path):
    chords = harmonise(MELODY)
    path = write_midi(MELODY, tmp_path / "waltz.mid", program=73, chords=chords, chord_program=24,
                      texts=["composed by seqgan-music", "seed 7"])
    midi = pretty_midi.PrettyMIDI(str(path))
    melody, accompaniment = midi.instruments
    assert (melody.program, melody.name) == (73, "Waltz")
    assert [(n.pitch, n.start, n.end) for n in melody.notes] == [
        (n.pitch, pytest.approx(n.start * 60 / 90), pytest.approx(n.end * 60 / 90)) for n in NOTES]
    assert (accompaniment.program, accompaniment.name) == (24, "chords")
    expected = sorted((p, c.start * 60 / 90, c.end * 60 / 90) for c in chords for p in c.pitches())
    assert sorted((n.pitch, n.start, n.end) for n in accompaniment.notes) == [
        (p, pytest.approx(s), pytest.approx(e)) for p, s, e in expected]
    assert max(n.velocity for n in accompaniment.notes) < min(n.velocity for n in melody.notes)
    assert midi.get_tempo_changes()[1][0] == pytest.approx(90, abs=1e-3)  # whole microseconds per beat
    assert [(t.numerator, t.denominator) for t in midi.time_signature_changes] == [(3, 4)]
    assert [k.key_number for k in midi.key_signature_changes] == [2]  # D major
    assert [(t.text, t.time) for t in midi.text_events] == [("composed by seqgan-music", 0.0), ("seed 7", 0.0)]
    texts = [m.text for track in mido.MidiFile(path).tracks for m in track if m.type == "text"]
    assert texts == ["composed by seqgan-music", "seed 7"]


def test_chords_play_their_triads_where_the_chord_sounds():
    midi = melody_to_pretty_midi(MELODY, chords=[Chord(7, "major", 3.0, 6.0)])
    accompaniment = midi.instruments[1]
    assert sorted(n.pitch for n in accompaniment.notes) == [55, 59, 62]  # G3 B3 D4
    assert [(n.start, n.end) for n in accompaniment.notes] == [(pytest.approx(2.0), pytest.approx(4.0))] * 3  # 90 bpm


def test_existing_callers_get_one_instrument_and_no_text():
    midi = pretty_midi.PrettyMIDI(io.BytesIO(melody_to_midi_bytes(MELODY)))
    assert len(midi.instruments) == 1 and midi.instruments[0].program == 0
    assert midi.text_events == []
    assert melody_to_midi_bytes(MELODY) == melody_to_midi_bytes(MELODY, 0, (), 0, ())


def test_a_last_bar_longer_than_the_meter_gets_its_own_time_signature():
    """A 2/4 tune whose last bar is in 3/4 (Nottingham's tunes change meter between strains)."""
    melody = Melody([Note(62, 0, 2), Note(64, 2, 5)], [0.0, 2.0], "2/4", Key(2))
    midi = pretty_midi.PrettyMIDI(io.BytesIO(melody_to_midi_bytes(melody)))
    assert [(t.numerator, t.denominator, t.time) for t in midi.time_signature_changes] == [(2, 4, 0.0), (3, 4, 1.0)]
    short = Melody([Note(62, 0, 2), Note(64, 2, 3)], [0.0, 2.0], "2/4", Key(2))  # a short last bar keeps the meter
    assert [(t.numerator, t.denominator) for t in melody_to_pretty_midi(short).time_signature_changes] == [(2, 4)]
