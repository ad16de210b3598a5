"""Keys, meters, bar lines, the tempo map and monophonic clipping."""

import pytest

from seqgan_music.corpora.keys import estimate_key
from seqgan_music.corpora.melody import Key, Melody, Note, bar_lines, meter_length_in_beats, monophonic


@pytest.mark.parametrize(
    ("fifths", "mode", "name", "shift"),
    [(0, "major", "C major", 0), (1, "major", "G major", 5), (2, "major", "D major", -2),
     (-2, "major", "Bb major", 2), (1, "minor", "E minor", 5), (-2, "minor", "G minor", 2),
     (2, "dorian", "E dorian", -2), (6, "major", "F# major", -6)],
)
def test_key_names_and_shift_to_plain_signature(fifths, mode, name, shift):
    key = Key(fifths, mode)
    assert key.name == name
    assert key.semitones_to_plain_signature() == shift
    assert Key.from_tonic(key.tonic_pitch_class, mode) .fifths == fifths


def test_transposition_moves_notes_and_key_together():
    melody = Melody([Note(62, 0, 1), Note(66, 1, 2)], key=Key(2))  # D major
    moved = melody.transposed(melody.key.semitones_to_plain_signature())
    assert [n.pitch for n in moved.notes] == [60, 64]
    assert moved.key.fifths == 0 and moved.key.mode == "major"


def test_bar_lines_follow_meter_changes_and_pickups():
    assert bar_lines([(0.0, "4/4")], 10.0) == [0.0, 4.0, 8.0]
    assert bar_lines([(0.0, "6/8")], 7.0, first_bar=1.0) == [1.0, 4.0]
    assert bar_lines([(0.0, "3/4"), (6.0, "2/4")], 11.0) == [0.0, 3.0, 6.0, 8.0, 10.0]
    assert meter_length_in_beats("9/8") == 4.5
    with pytest.raises(ValueError):
        meter_length_in_beats("4/3")


def test_seconds_follow_tempo_changes():
    melody = Melody([Note(60, 0, 8)], tempo=120.0, tempo_changes=[(4.0, 60.0)])
    assert melody.seconds_at(4.0) == pytest.approx(2.0)
    assert melody.seconds_at(6.0) == pytest.approx(4.0)


def test_monophonic_clips_overlaps_and_keeps_highest_of_simultaneous_notes():
    notes = [Note(60, 0, 2), Note(64, 1, 3), Note(55, 3, 4), Note(67, 3, 5)]
    assert monophonic(notes) == [Note(60, 0, 1), Note(64, 1, 3), Note(67, 3, 5)]


def test_key_estimation_finds_a_plain_scale():
    d_major = [Note(p, i, i + 1) for i, p in enumerate([62, 64, 66, 67, 69, 71, 73, 74, 69, 66, 62])]
    assert estimate_key(d_major).name == "D major"
    assert estimate_key([]).source == "estimated"
