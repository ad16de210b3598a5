"""Chord track: which triad each bar gets, how chords are named and voiced, and degenerate tunes."""

import pytest

from seqgan_music.corpora.melody import Key, Melody, Note, bar_lines
from seqgan_music.export.chords import Chord, diatonic_triads, harmonise


def tune(bars: list[list[int]], key: Key | None, meter: str = "4/4") -> Melody:
    """One bar per list of pitches, the pitches sharing the bar evenly."""
    length = {"4/4": 4.0, "3/4": 3.0, "6/8": 3.0}[meter]
    notes = []
    for index, pitches in enumerate(bars):
        step = length / len(pitches)
        notes += [Note(p, index * length + i * step, index * length + (i + 1) * step) for i, p in enumerate(pitches)]
    return Melody(notes, bar_lines([(0.0, meter)], len(bars) * length), meter, key)


def symbols(melody: Melody) -> list[str]:
    return [chord.symbol(melody.key) for chord in harmonise(melody)]


D, E, F_SHARP, G, A, B, C_SHARP = 62, 64, 66, 67, 69, 71, 73
D_MAJOR_TUNE = [[D, F_SHARP, A, D], [G, B, D + 12, B], [A, C_SHARP + 12, E + 12, A], [G, D, B, G],
                [E, A, C_SHARP, A], [D, A, F_SHARP, D]]


def test_a_d_major_tune_gets_tonic_subdominant_and_dominant():
    assert symbols(tune(D_MAJOR_TUNE, Key(2))) == ["D", "G", "A", "G", "A", "D"]


def test_chords_cover_the_bars_exactly():
    melody = tune(D_MAJOR_TUNE, Key(2))
    assert [(c.start, c.end) for c in harmonise(melody)] == [(4.0 * i, 4.0 * i + 4) for i in range(6)]


def test_without_a_stored_key_the_estimated_key_is_used():
    assert symbols(tune(D_MAJOR_TUNE, None)) == ["D", "G", "A", "G", "A", "D"]


def test_an_a_minor_tune_uses_the_major_dominant_when_the_leading_tone_sounds():
    bars = [[69, 72, 76, 72], [74, 77, 81, 77], [76, 80, 83, 80], [67, 71, 74, 71], [72, 76, 79, 76], [69, 76, 72, 69]]
    assert symbols(tune(bars, Key(0, "minor"))) == ["Am", "Dm", "E", "G", "C", "Am"]


def test_notes_on_the_beat_outweigh_passing_notes():
    """A C# E A on the beats, B D F# G between them: by duration alone D (A, A, D, F#) ties A."""
    bar = [69, 71, 73, 74, 76, 78, 69, 67]  # eighths: on-beat A C# E A, off-beat B D F# G
    melody = tune([[D], bar, [D]], Key(2))
    assert symbols(melody)[1] == "A"


def test_ties_go_to_the_common_chords():
    assert symbols(tune([[D], [B], [D]], Key(2)))[1] == "G"  # B fits G (IV) and Bm (vi)
    assert symbols(tune([[69], [76], [69]], Key(0, "minor")))[1] == "Am"  # E fits Am, Em, E and C
    # E and B fit Em and E alike: the natural minor v, until a G# asks for the major V
    assert symbols(tune([[69], [76, 83], [69]], Key(0, "minor")))[1] == "Em"


@pytest.mark.parametrize("key, bars, expected", [
    (Key(0, "dorian"), [[62, 65, 69], [60, 64, 67, 64], [67, 71, 74], [62, 69, 65]], ["Dm", "C", "G", "Dm"]),
    (Key(1, "mixolydian"), [[62, 66, 69], [60, 64, 67, 64], [67, 71, 74], [62, 69, 66]], ["D", "C", "G", "D"]),
])
def test_modal_tunes_are_harmonised_in_their_mode(key, bars, expected):
    assert symbols(tune(bars, key)) == expected


def test_the_first_and_last_bars_are_the_tonic_even_when_another_chord_fits_better():
    assert symbols(tune([[A, C_SHARP + 12, E + 12], [G, B, D], [A, C_SHARP + 12, E + 12]], Key(2))) == ["D", "G", "D"]


def test_a_pickup_is_a_bar_of_its_own():
    notes = [Note(A, 0, 1), Note(D, 1, 3), Note(F_SHARP, 3, 5), Note(G, 5, 7), Note(B, 7, 9), Note(D, 9, 13)]
    melody = Melody(notes, bar_lines([(0.0, "4/4")], 13.0, first_bar=1.0), "4/4", Key(2))
    chords = harmonise(melody)
    assert [(c.start, c.end) for c in chords] == [(0.0, 1.0), (1.0, 5.0), (5.0, 9.0), (9.0, 13.0)]
    assert [c.symbol(melody.key) for c in chords] == ["D", "D", "G", "D"]


def test_without_bar_lines_bars_follow_the_meter():
    notes = [Note(D, 0, 3), Note(G, 3, 6), Note(B, 6, 8), Note(D, 8, 9)]
    chords = harmonise(Melody(notes, [], "3/4", Key(2)))
    assert [(c.start, c.end) for c in chords] == [(0.0, 3.0), (3.0, 6.0), (6.0, 9.0)]


def test_a_silent_bar_keeps_the_chord_before_it():
    notes = [Note(D, 0, 4), Note(G, 4, 8), Note(D, 12, 16)]  # bar 3 is a rest
    chords = harmonise(Melody(notes, [0.0, 4.0, 8.0, 12.0], "4/4", Key(2)))
    assert [c.symbol(Key(2)) for c in chords] == ["D", "G", "G", "D"]


def test_a_one_pitch_tune_gets_chords_containing_that_pitch():
    melody = Melody([Note(64, i, i + 1) for i in range(12)], [0.0, 4.0, 8.0], "4/4")
    chords = harmonise(melody)
    assert len(chords) == 3 and all(4 in chord.pitch_classes for chord in chords)


def test_an_empty_melody_has_no_chords():
    assert harmonise(Melody([], [0.0, 4.0], "4/4", Key(0))) == []


@pytest.mark.parametrize("root, quality, key, name", [
    (7, "major", Key(1), "G"), (4, "minor", Key(1), "Em"), (6, "minor", Key(2), "F#m"),
    (10, "major", Key(-1), "Bb"), (11, "diminished", Key(0), "Bdim"), (3, "major", Key(-3), "Eb"),
    (6, "major", Key(-6), "Gb"), (6, "major", Key(6), "F#"), (5, "major", Key(6), "E#"),
    (10, "major", None, "Bb"), (1, "minor", None, "C#m"), (8, "major", None, "Ab"),
])
def test_symbols_are_spelled_to_suit_the_key(root, quality, key, name):
    assert Chord(root, quality, 0.0, 4.0).symbol(key) == name


@pytest.mark.parametrize("key", [Key(2), Key(0, "minor"), Key(-3, "dorian"), Key(4, "mixolydian")])
def test_every_triad_is_a_close_low_voicing_of_its_chord(key):
    for root, quality in diatonic_triads(key):
        chord = Chord(root, quality, 0.0, 1.0)
        pitches = chord.pitches()
        assert pitches == sorted(pitches) and 52 <= pitches[0] and pitches[-1] <= 63
        assert sorted(p % 12 for p in pitches) == sorted(chord.pitch_classes)


def test_diatonic_triads_of_a_major_key_in_order_of_preference():
    names = [Chord(r, q, 0, 1).symbol(Key(0)) for r, q in diatonic_triads(Key(0))]
    assert names == ["C", "F", "G", "Dm", "Em", "Am", "Bdim"]


def test_an_unknown_quality_is_refused():
    with pytest.raises(ValueError, match="quality"):
        Chord(0, "augmented", 0.0, 1.0)
