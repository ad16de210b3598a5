"""MIDI key signatures for every mode: the written file holds the signature the mode's notes need
(D dorian and G mixolydian none, A dorian one sharp), read back from the file's own bytes."""

from pathlib import Path

import mido
import pytest

from seqgan_music.corpora.melody import KEY_MODES, Key, Melody, Note, bar_lines
from seqgan_music.corpora.midi import read_midi_melody
from seqgan_music.export.midi import write_midi

TONICS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "Bb": 10}
NAMED_TONICS = {**TONICS, "B": 11}
MAJOR_THIRD = {"major", "lydian", "mixolydian"}


def written_signature(path: Path) -> tuple[int, bool]:
    """(sharps, negative for flats; minor flag) of the file's one key-signature meta event."""
    events = [m for track in mido.MidiFile(path).tracks for m in track if m.type == "key_signature"]
    assert len(events) == 1
    data = events[0].bytes()  # FF 59 02 sf mi
    assert data[:3] == [0xFF, 0x59, 0x02]
    sharps = data[3] - 256 if data[3] > 127 else data[3]
    return sharps, data[4] == 1


def write_in(key: Key, path: Path) -> Path:
    notes = [Note(60 + key.tonic_pitch_class, 0, 1), Note(62 + key.tonic_pitch_class, 1, 4)]
    return write_midi(Melody(notes, bar_lines([(0.0, "4/4")], 4.0), "4/4", key, title="t"), path)


@pytest.mark.parametrize(("tonic", "mode", "sharps", "minor"), [
    ("D", "dorian", 0, True),
    ("G", "mixolydian", 0, False),
    ("A", "dorian", 1, True),
    ("E", "dorian", 2, True),
    ("G", "dorian", -1, True),
    ("E", "minor", 1, True),
    ("A", "minor", 0, True),
    ("D", "major", 2, False),
    ("Bb", "major", -2, False),
    ("E", "phrygian", 0, True),
    ("D", "phrygian", -2, True),
    ("F", "lydian", 0, False),
    ("C", "lydian", 1, False),
    ("A", "mixolydian", 2, False),
    ("B", "locrian", 0, True),
    ("E", "locrian", -1, True),
])
def test_a_mode_is_written_with_its_own_signature(tmp_path, tonic, mode, sharps, minor):
    path = write_in(Key.from_tonic(NAMED_TONICS[tonic], mode), tmp_path / "tune.mid")
    assert written_signature(path) == (sharps, minor)


@pytest.mark.parametrize("mode", KEY_MODES)
@pytest.mark.parametrize("tonic", sorted(TONICS.values()))
def test_every_mode_and_tonic_reads_back_with_the_signature_of_its_notes(tmp_path, mode, tonic):
    key = Key.from_tonic(tonic, mode)
    path = write_in(key, tmp_path / "tune.mid")
    assert written_signature(path) == (key.fifths, mode not in MAJOR_THIRD)
    assert read_midi_melody(path, "tune.mid").key.fifths == key.fifths
