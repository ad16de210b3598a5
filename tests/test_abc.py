"""ABC export: headers, spelling in every key, ties across bar lines, and a round trip through
music21's ABC reader back to the same notes."""

import random

import music21
import pytest

from seqgan_music.corpora.melody import KEY_MODES, Key, Melody, Note, bar_lines
from seqgan_music.export.abc import abc_key, melody_to_abc, write_abc
from seqgan_music.export.chords import Chord, harmonise


def read_back(text: str) -> list[tuple[int, float, float]]:
    """(MIDI pitch, start, length in beats) of every note music21 reads, ties merged."""
    score = music21.converter.parse(text, format="abc").stripTies()
    return [(n.pitch.midi, float(n.offset), float(n.quarterLength)) for n in score.flatten().notes]


def random_melody(seed: int, meter: str = "4/4") -> Melody:
    rng = random.Random(seed)
    notes, beat = [], 0.0
    while beat < 12:
        length = rng.choice([0.25, 0.5, 0.75, 1.0, 1.5, 2.0])
        if rng.random() < 0.15:
            beat += length  # a rest
            continue
        notes.append(Note(rng.randint(45, 88), beat, beat + length))
        beat += length
    fifths = rng.randint(-6, 6)
    return Melody(notes, bar_lines([(0.0, meter)], beat), meter, Key(fifths, rng.choice(KEY_MODES)), tempo=rng.choice([90, 120]))


@pytest.mark.parametrize("seed", range(12))
def test_abc_round_trips_through_music21_to_the_same_notes(seed):
    melody = random_melody(seed, ["4/4", "3/4", "6/8"][seed % 3])
    expected = [(n.pitch, n.start, n.end - n.start) for n in melody.notes]
    assert read_back(melody_to_abc(melody)) == expected


def test_headers_and_bar_lines():
    melody = Melody([Note(62, 0, 3), Note(64, 3, 6)], bar_lines([(0.0, "3/4")], 6.0), "3/4", Key(2), tempo=110, title="Reel")
    text = melody_to_abc(melody)
    assert text.splitlines()[:6] == ["X:1", "T:Reel", "M:3/4", "L:1/8", "Q:1/4=110", "K:D"]
    assert text.splitlines()[6] == "D6 | E6 |]"


@pytest.mark.parametrize("key, field", [
    (Key(0), "C"), (Key(1, "minor"), "Em"), (Key(-2), "Bb"), (Key(0, "dorian"), "DDor"),
    (Key(1, "mixolydian"), "DMix"), (Key(6), "F#"), (Key(-6), "Gb"), (Key(-3, "minor"), "Cm"),
    (Key(-3, "locrian"), "Eb"),
])
def test_key_fields_name_the_tonic_in_its_own_signature(key, field):
    assert abc_key(key) == field


def test_an_accidental_holds_to_the_end_of_its_bar_and_no_further():
    notes = [Note(66, 0, 1), Note(65, 1, 2), Note(66, 2, 3), Note(66, 4, 5)]  # F# F F# | F#
    melody = Melody(notes, bar_lines([(0.0, "4/4")], 8.0), "4/4", Key(0))
    body = melody_to_abc(melody).splitlines()[-1]
    assert body.startswith("^F2=F2 ^F2z2 | ^F2")  # the third F# follows a natural in its bar
    assert [p for p, _, _ in read_back(melody_to_abc(melody))] == [66, 65, 66, 66]


def test_an_empty_melody_is_a_bar_of_rest():
    assert melody_to_abc(Melody([], [], "4/4")).splitlines()[-1] == "z8 |]"


def read_chord_symbols(text: str) -> list[tuple[float, str, str]]:
    """(offset, root, kind) of every chord symbol music21 reads (music21 writes flats as `-`)."""
    score = music21.converter.parse(text, format="abc")
    return [(float(c.offset), c.root().name, c.chordKind)
            for c in score.flatten().getElementsByClass(music21.harmony.ChordSymbol)]


def read_notes(text: str) -> list[tuple[int, float, float]]:
    score = music21.converter.parse(text, format="abc").stripTies()
    return [(n.pitch.midi, float(n.offset), float(n.quarterLength))
            for n in score.flatten().getElementsByClass(music21.note.Note)]


def test_chord_symbols_and_notes_come_back_through_music21():
    notes = [Note(65, 0, 1), Note(69, 1, 2), Note(72, 2, 4), Note(70, 4, 6), Note(74, 6, 8), Note(65, 8, 12)]
    melody = Melody(notes, bar_lines([(0.0, "4/4")], 12.0), "4/4", Key(-1), title="Air")
    chords = harmonise(melody)
    text = melody_to_abc(melody, chords=chords, notes=["composed by seqgan-music", "seed 3\ntemperature 1.0"])
    lines = text.splitlines()
    assert lines[:5] == ["X:1", "T:Air", "N:composed by seqgan-music", "N:seed 3", "N:temperature 1.0"]
    assert lines[-1] == '"F"F2A2 c4 | "Bb"B4 d4 | "F"F8 |]'
    assert read_chord_symbols(text) == [(0.0, "F", "major"), (4.0, "B-", "major"), (8.0, "F", "major")]
    assert read_notes(text) == [(n.pitch, n.start, n.end - n.start) for n in notes]


def test_a_chord_lands_on_a_pickup_a_rest_and_a_held_note():
    notes = [Note(69, 0, 1), Note(74, 1, 4), Note(78, 5, 9), Note(74, 9, 10)]  # rest at 4, F# held over bar
    melody = Melody(notes, bar_lines([(0.0, "3/4")], 10.0, first_bar=1.0), "3/4", Key(2))
    chords = [Chord(2, "major", 0, 1), Chord(2, "major", 1, 4), Chord(11, "minor", 4, 7), Chord(9, "major", 7, 8),
              Chord(7, "major", 8, 10)]  # the last starts inside the held F# (beats 5-9)
    text = melody_to_abc(melody, chords=chords)
    assert text.splitlines()[-1] == '"D"A2 | "D"d6 | "Bm"z2 f4- | "A"f2- "G"f2 d2 |]'
    assert [(offset, root) for offset, root, _ in read_chord_symbols(text)] == [
        (0.0, "D"), (1.0, "D"), (4.0, "B"), (7.0, "A"), (8.0, "G")]
    assert read_notes(text) == [(n.pitch, n.start, n.end - n.start) for n in notes]


def test_write_abc_passes_chords_and_notes_through(tmp_path):
    melody = Melody([Note(60, 0, 4)], [0.0], "4/4", Key(0))
    path = write_abc(melody, tmp_path / "tune.abc", chords=[Chord(0, "major", 0, 4)], notes=["hello"])
    assert path.read_text() == 'X:1\nT:Untitled\nN:hello\nM:4/4\nL:1/8\nQ:1/4=120\nK:C\n"C"C8 |]\n'
