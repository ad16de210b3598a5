"""Export that shows a tune's form: ABC and MusicXML write the repeat signs and endings of a notated
tune (read back by music21, whose expandRepeats() gives the notes as played), and MIDI and WAV
sound the tune played out (`played_out`, the same as `Tune.melody(played=True)`)."""

from __future__ import annotations

import io

import music21
import numpy as np
import pretty_midi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqgan_music.corpora.melody import Key, Melody, Note, played_out
from seqgan_music.corpora.tunes import Tune, TuneHeader, TunePart
from seqgan_music.export.abc import melody_to_abc
from seqgan_music.export.chords import harmonise
from seqgan_music.export.midi import melody_to_midi_bytes
from seqgan_music.export.musicxml import melody_to_musicxml
from seqgan_music.export.wav import melody_to_samples

JIG = TuneHeader("6/8", "dorian", "jig")
D_DORIAN = Key(0, "dorian")


def steps(*notes: tuple[str, int]) -> list[str]:
    """Grid16 steps of (pitch, eighths) pairs."""
    return [step for pitch, eighths in notes for step in (pitch, *["HOLD"] * (2 * eighths - 1))]


A_PART = [steps(("D5", 2), ("E5", 1), ("F5", 1), ("E5", 1), ("D5", 1)),
          steps(("C5", 1), ("D5", 1), ("E5", 1), ("A4", 3)),
          steps(("D5", 1), ("F5", 1), ("A5", 1), ("G5", 1), ("F5", 1), ("E5", 1))]
FIRST_ENDING = [steps(("D5", 1), ("E5", 1), ("F5", 1), ("G5", 3))]
SECOND_ENDING = [steps(("D5", 1), ("C5", 1), ("A4", 1), ("D5", 3))]
B_PART = [steps(("A5", 2), ("B5", 1), ("C6", 2), ("D6", 1)),
          steps(("E6", 3), ("A5", 3)),
          steps(("G5", 1), ("F5", 1), ("E5", 1), ("D5", 1), ("C5", 1), ("A4", 1)),
          steps(("D5", 1), ("C5", 1), ("A4", 1), ("D5", 3))]


def aabb_jig() -> Tune:
    """A jig in D dorian with a pickup, an A part with first and second endings and a repeated B."""
    return Tune(JIG, [TunePart(A_PART, True, FIRST_ENDING, SECOND_ENDING), TunePart(B_PART, True)], ["A4", "HOLD"])


def notated(tune: Tune) -> Melody:
    return tune.melody(played=False, metadata={"key": D_DORIAN.to_dict(), "title": "The Test Jig"})


def played(tune: Tune) -> Melody:
    return tune.melody(played=True, metadata={"key": D_DORIAN.to_dict(), "title": "The Test Jig"})


def read_abc(text: str) -> music21.stream.Score:
    return music21.converter.parse(text, format="abc")


def read_musicxml(data: bytes) -> music21.stream.Score:
    return music21.converter.parseData(data, format="musicxml")


def notes_of(score: music21.stream.Score) -> list[tuple[int, float, float]]:
    """(MIDI pitch, onset, length in quarters) of every note, ties merged."""
    return [(n.pitch.midi, round(float(n.offset), 6), round(float(n.quarterLength), 6))
            for n in score.stripTies().flatten().getElementsByClass(music21.note.Note)]


def expected(melody: Melody) -> list[tuple[int, float, float]]:
    return [(n.pitch, round(n.start, 6), round(n.end - n.start, 6)) for n in melody.notes]


def measures(score: music21.stream.Score) -> list[music21.stream.Measure]:
    return list(score.parts[0].getElementsByClass(music21.stream.Measure))


def repeat_barlines(score: music21.stream.Score) -> tuple[list[int], list[int]]:
    """Indices of the measures with a start repeat on the left and an end repeat on the right."""
    bars = measures(score)
    starts = [i for i, m in enumerate(bars) if isinstance(m.leftBarline, music21.bar.Repeat)]
    ends = [i for i, m in enumerate(bars) if isinstance(m.rightBarline, music21.bar.Repeat)]
    return starts, ends


def endings(score: music21.stream.Score) -> list[tuple[str, list[int]]]:
    """(number, measure indices) of every ending bracket."""
    index = {id(m): i for i, m in enumerate(measures(score))}
    return [(str(b.number), [index[id(m)] for m in b.getSpannedElements()])
            for b in score.recurse().getElementsByClass(music21.spanner.RepeatBracket)]


# --- ABC -------------------------------------------------------------------------------------


def test_abc_writes_the_form_a_line_per_strain_and_beams_a_jig_in_dotted_quarters():
    text = melody_to_abc(notated(aabb_jig()))
    assert text.splitlines()[3:] == ["L:1/8", "Q:1/4=120", "K:DDor",
                                     "A |: d2e fed | cde A3 | dfa gfe |1 def g3 :|2 dcA d3 ||",
                                     "|: a2b c'2d' | e'3 a3 | gfe dcA | dcA d3 :|"]


def test_music21_reads_the_abc_form_back_and_plays_it_out():
    tune = aabb_jig()
    score = read_abc(melody_to_abc(notated(tune)))
    assert len(measures(score)) == 1 + len(tune.notated_bars())  # the pickup is music21's measure 0
    assert repeat_barlines(score) == ([1, 6], [4, 9])
    assert endings(score) == [("1", [4]), ("2", [5])]
    assert notes_of(score) == expected(notated(tune))
    assert notes_of(score.expandRepeats()) == expected(played(tune))


def test_a_reel_is_beamed_in_half_bars_with_sixteenths_and_dotted_eighths():
    reel = TuneHeader("4/4", "major", "reel")
    eighths = steps(("A4", 1), ("B4", 1), ("C5", 1), ("D5", 1), ("E5", 1), ("F#5", 1), ("G5", 1), ("E5", 1))
    dotted_and_sixteenths = ["D5", "HOLD", "HOLD", "B4", "G4", "HOLD", "HOLD", "HOLD",
                             "A4", "B4", "C5", "A4", "B4", "HOLD", "HOLD", "HOLD"]
    bars = [eighths, dotted_and_sixteenths]
    tune = Tune(reel, [TunePart(bars * 2, True)])  # music21 makes measures of at least two plain bar lines
    metadata = {"key": Key(1).to_dict()}
    text = melody_to_abc(tune.melody(played=False, metadata=metadata))
    assert text.splitlines()[-1] == "|: ABcd efge | d3/2B/G2 A/B/c/A/B2 | ABcd efge | d3/2B/G2 A/B/c/A/B2 :|"
    score = read_abc(text)
    assert notes_of(score.expandRepeats()) == expected(tune.melody(played=True, metadata=metadata))


def test_a_first_strain_without_a_written_start_repeat_goes_back_to_its_first_bar_not_the_pickup():
    notes = [Note(69, 0, 1), Note(74, 1, 4), Note(76, 4, 7), Note(78, 7, 10), Note(79, 10, 13)]
    melody = Melody(notes, [1.0, 4.0, 7.0, 10.0], "3/4", Key(2), repeat_marks=[(False, False, 0), (False, True, 0),
                                                                                  (True, False, 0), (False, True, 0)])
    text = melody_to_abc(melody)
    assert text.splitlines()[-2:] == ["A2 |: d6 | e6 :|", "|: f6 | g6 :|"]
    assert notes_of(read_abc(text).expandRepeats()) == expected(played_out(melody))


def test_a_longer_bar_gets_a_meter_line_and_a_single_short_bar_none():
    notes = [Note(67, 0, 3), Note(69, 3, 7), Note(71, 7, 10)]  # 3/4, a 4/4 bar, 3/4
    text = melody_to_abc(Melody(notes, [0.0, 3.0, 7.0], "3/4", Key(1)))
    assert text.splitlines()[-5:] == ["G6 |", "M:4/4", "A8 |", "M:3/4", "B6 |]"]
    assert notes_of(read_abc(text)) == expected(Melody(notes))
    notes = [Note(67, 0, 3), Note(69, 3, 5), Note(71, 5, 8), Note(72, 8, 11)]  # 3/4, a 2/4 bar, 3/4
    text = melody_to_abc(Melody(notes, [0.0, 3.0, 5.0, 8.0], "3/4", Key(1)))
    assert text.splitlines()[-1] == "G6 | A4 | B6 | c6 |]"
    assert [len(m.notes) for m in measures(read_abc(text))] == [1, 1, 1, 1]


def test_the_pickup_is_played_again_before_the_first_repeat_when_the_closing_bar_leaves_room_for_it():
    """A closing bar written short by the pickup: the repeat goes back to the pickup, in the played
    tune, in ABC (`|:` before the pickup) and in MusicXML (a start repeat on measure 0)."""
    short_close = steps(("D5", 2), ("C5", 1), ("A4", 2))  # a 6/8 bar short by the pickup's eighth
    tune = Tune(JIG, [TunePart([*A_PART, short_close], True), TunePart(B_PART, True)], ["A4", "HOLD"])
    melody = notated(tune)
    assert played_out(melody) == played(tune)
    text = melody_to_abc(melody)
    assert text.splitlines()[-2:] == ["|: A | d2e fed | cde A3 | dfa gfe | d2c A2 :|",
                                      "|: a2b c'2d' | e'3 a3 | gfe dcA | dcA d3 :|"]
    for score in (read_abc(text), read_musicxml(melody_to_musicxml(melody))):
        assert len(measures(score)) == 1 + len(tune.notated_bars())
        assert repeat_barlines(score) == ([0, 5], [4, 8])
        assert notes_of(score.expandRepeats()) == expected(played(tune))


# --- MusicXML --------------------------------------------------------------------------------


def test_musicxml_writes_repeat_barlines_and_ending_brackets_that_play_out():
    tune = aabb_jig()
    data = melody_to_musicxml(notated(tune))
    assert data == melody_to_musicxml(notated(tune))  # still the same bytes every time
    assert data.count(b'<repeat direction="forward"') == 2 and data.count(b'<repeat direction="backward"') == 2
    assert b'<ending number="1" type="start"' in data and b'<ending number="2" type="start"' in data
    score = read_musicxml(data)
    assert len(measures(score)) == 1 + len(tune.notated_bars())
    assert repeat_barlines(score) == ([1, 6], [4, 9])
    assert endings(score) == [("1", [4]), ("2", [5])]
    assert notes_of(score.expandRepeats()) == expected(played(tune))


def test_a_second_ending_of_two_bars_is_one_bracket_over_both():
    tune = Tune(JIG, [TunePart(A_PART, True, FIRST_ENDING, SECOND_ENDING + B_PART[:1]), TunePart(B_PART[1:])], [])
    score = read_musicxml(melody_to_musicxml(notated(tune)))
    assert endings(score) == [("1", [3]), ("2", [4, 5])]
    assert notes_of(score.expandRepeats()) == expected(played(tune))


# --- MIDI and WAV: the tune as played --------------------------------------------------------


def test_played_out_is_the_tune_as_played_and_a_melody_without_marks_is_itself():
    tune = aabb_jig()
    assert played_out(notated(tune)) == played(tune)
    plain = played(tune)
    assert played_out(plain) is plain


BAR_STEPS = st.lists(st.sampled_from(["C5", "D5", "E5", "HOLD", "REST"]), min_size=12, max_size=12)
STRUCK_BAR = BAR_STEPS.filter(lambda bar: bar[0] != "HOLD")
PARTS = st.lists(st.tuples(st.lists(BAR_STEPS, min_size=1, max_size=3), st.booleans(),
                           st.lists(BAR_STEPS, max_size=2), st.lists(BAR_STEPS, max_size=2), STRUCK_BAR, STRUCK_BAR),
                 min_size=1, max_size=3)


@settings(max_examples=200, deadline=None)
@given(PARTS, st.lists(st.sampled_from(["C5", "D5", "HOLD", "REST"]), max_size=11), st.booleans())
def test_played_out_agrees_with_the_tune_played_for_any_tune_of_full_bars(parts, pickup, short_close):
    """Strains, second endings and the pickup start with a struck note or a rest (a HOLD there
    would hold whatever the jump comes from, which a notated melody cannot say), the tune ends on a
    note, and every bar is full but the first strain's closing bar, which may leave room for the
    pickup to be played again."""
    tune_parts = []
    for bars, repeated, first, second, strain_start, second_start in parts:
        bars = [strain_start, *bars[1:]]
        second = [second_start, *second[1:]] if second else []
        tune_parts.append(TunePart(bars, repeated or bool(second), first if second else [], second))
    pickup = ["REST", *pickup[1:]] if pickup and pickup[0] == "HOLD" else pickup
    closing = (tune_parts[0].bars + tune_parts[0].first_ending)[-1]
    if short_close and pickup:
        del closing[JIG.bar_steps - len(pickup):]
    last = tune_parts[-1].notated_bars()[-1]
    last[-1] = "D5"  # the last bar ends on a note: a notated melody has no rests after its last note
    tune = Tune(JIG, tune_parts, pickup)
    assert played_out(tune.melody(played=False)) == tune.melody(played=True)


def test_a_last_bar_ending_in_a_rest_is_played_full_before_its_strain_comes_round():
    """A notated melody ends at its last note: the rest closing the repeated last strain is still
    played before the strain starts over (the tunes Nottingham's MIDI files give often have one)."""
    closing_rest = steps(("D5", 1), ("C5", 1), ("A4", 1), ("D5", 1)) + ["REST"] * 4
    tune = Tune(JIG, [TunePart(A_PART, True), TunePart([*B_PART[:3], closing_rest], True)], ["A4", "HOLD"])
    assert played_out(notated(tune)) == played(tune)
    text = melody_to_abc(notated(tune))
    assert text.splitlines()[-1] == "|: a2b c'2d' | e'3 a3 | gfe dcA | dcA dz2 :|"


def test_a_strain_opening_with_a_pickup_bar_of_its_own_comes_round_after_its_short_closing_bar():
    """As folk collections write it (`|: d | GABc | dBG :|`): music21's own reading of such a tune
    is the reference."""
    source = "X:1\nT:t\nM:2/4\nL:1/8\nK:G\n|: GABc | dBGB :|\n|: d | GABc | dBG :|\n"
    reference = notes_of(read_abc(source).expandRepeats())
    pitches = [67, 69, 71, 72, 74, 71, 67, 71, 74, 67, 69, 71, 72, 74, 71, 67]
    notes = [Note(pitch, index * 0.5, index * 0.5 + 0.5) for index, pitch in enumerate(pitches)]
    marks = [(True, False, 0), (False, True, 0), (True, False, 0), (False, False, 0), (False, True, 0)]
    melody = Melody(notes, [0.0, 2.0, 4.0, 4.5, 6.5], "2/4", Key(1), repeat_marks=marks)
    assert expected(played_out(melody)) == reference
    assert notes_of(read_abc(melody_to_abc(melody)).expandRepeats()) == reference
    assert notes_of(read_musicxml(melody_to_musicxml(melody)).expandRepeats()) == reference


def test_a_tempo_change_inside_a_repeated_strain_comes_round_again():
    notes = [Note(60 + i, i * 3.0, i * 3.0 + 3.0) for i in range(3)]
    melody = Melody(notes, [0.0, 3.0, 6.0], "3/4", tempo=100, tempo_changes=[(3.0, 80.0)],
                    repeat_marks=[(True, False, 0), (False, True, 0), (False, False, 0)])
    assert played_out(melody).tempo_changes == [(3.0, 80.0), (6.0, 100.0), (9.0, 80.0)]


def test_midi_sounds_the_tune_played_out_with_its_chords():
    tune = aabb_jig()
    melody = notated(tune)
    chords = harmonise(melody)
    midi = pretty_midi.PrettyMIDI(io.BytesIO(melody_to_midi_bytes(melody, chords=chords)))
    tune_notes, accompaniment = midi.instruments
    seconds = 60 / melody.tempo
    assert [(n.pitch, n.start, n.end) for n in tune_notes.notes] == [
        (n.pitch, pytest.approx(n.start * seconds), pytest.approx(n.end * seconds)) for n in played(tune).notes]
    assert midi.get_end_time() == pytest.approx(played(tune).end * seconds)
    # the chords come round with the strains: A's first bar sounds its chord both times through
    first_bar = {(n.pitch, round(n.start, 6)) for n in accompaniment.notes if 0.5 * seconds <= n.start < 3.5 * seconds}
    again_at = (0.5 + 4 * 3.0) * seconds  # pickup, three bars and the first ending, then A again
    again = {(n.pitch, round(n.start - again_at + 0.5 * seconds, 6)) for n in accompaniment.notes
             if again_at <= n.start < again_at + 3 * seconds}
    assert first_bar and first_bar == again


def test_midi_of_a_melody_without_marks_is_unchanged_by_marks_that_repeat_nothing():
    melody = played(aabb_jig())
    assert melody_to_midi_bytes(melody) == melody_to_midi_bytes(
        Melody(melody.notes, melody.bars, melody.meter, melody.key, melody.tempo, title=melody.title,
               repeat_marks=[(False, False, 0)] * len(melody.bars)))


def test_wav_sounds_the_tune_played_out():
    tune = aabb_jig()
    melody = notated(tune)
    assert np.array_equal(melody_to_samples(melody), melody_to_samples(played(tune)))
    assert len(melody_to_samples(melody, chords=harmonise(melody))) == len(melody_to_samples(played(tune)))


# --- real tunes ------------------------------------------------------------------------------


@pytest.mark.slow
def test_nottingham_jigs_and_reels_export_with_their_form(shared_data):
    """Real tunes made notated tunes: ABC and MusicXML read back by music21 with their measures,
    their repeat signs, and played out to the notes the tune plays. Seven jigs and reels that between
    them have a pickup or none, two to four strains, repeated or not, one or two second endings or
    none, in 6/8, 4/4 and 2/4 (music21 takes over a second a tune: not twenty of the same shapes)."""
    from seqgan_music.corpora.encodings import Grid16
    from seqgan_music.corpora.midi import read_midi_melody
    from seqgan_music.corpora.tunes import tune_from_played

    folder = shared_data / "nottingham" / "MIDI"
    names = ("jigs1", "jigs100", "jigs103", "reelsa-c1", "reelsa-c13", "reelsa-c15", "reelsa-c18")
    for path in (folder / f"{name}.mid" for name in names):
        source = read_midi_melody(path, path.name)
        tune = tune_from_played(Grid16(transpose=False).encode(source).symbols, TuneHeader(source.meter))
        written, sounding = (tune.melody(played=flag, metadata=source.metadata()) for flag in (False, True))
        assert played_out(written) == sounding, path.name
        pickup = 1 if written.bars[0] > 0 else 0
        repeated = sum(part.repeated for part in tune.parts)
        for score in (read_abc(melody_to_abc(written)), read_musicxml(melody_to_musicxml(written))):
            assert len(measures(score)) == pickup + len(tune.notated_bars()), path.name
            starts, ends = repeat_barlines(score)
            assert len(starts) == len(ends) == repeated, path.name
            assert len(endings(score)) == 2 * sum(bool(part.second_ending) for part in tune.parts), path.name
            assert notes_of(score.expandRepeats()) == expected(sounding), path.name
