"""MusicXML export, read back with music21: the same notes, key, meter, tempo, chord symbols and
notes, with pickups, ties across bar lines and meter changes written as a score would have them."""

import music21
import pytest

from seqgan_music.corpora.melody import Key, Melody, Note, bar_lines
from seqgan_music.export.chords import Chord, harmonise
from seqgan_music.export.musicxml import melody_to_musicxml, write_musicxml


def parse(data: bytes) -> music21.stream.Score:
    return music21.converter.parseData(data, format="musicxml")


def read_notes(score: music21.stream.Score) -> list[tuple[int, float, float]]:
    """(MIDI pitch, onset, length in quarters) of every note, ties merged."""
    return [(n.pitch.midi, float(n.offset), float(n.quarterLength))
            for n in score.stripTies().flatten().getElementsByClass(music21.note.Note)]


def expected(melody: Melody) -> list[tuple[int, float, float]]:
    return [(n.pitch, n.start, n.end - n.start) for n in melody.notes]


def first(score: music21.stream.Score, kind: type) -> music21.base.Music21Object:
    return score.recurse().getElementsByClass(kind).first()


REEL_NOTES = [Note(62, 0, 1), Note(66, 1, 1.5), Note(69, 1.5, 2), Note(74, 2, 4), Note(71, 4, 5), Note(67, 5, 6),
              Note(71, 6, 7), Note(74, 7, 8), Note(69, 8, 9.5), Note(73, 9.5, 10), Note(76, 10, 12), Note(74, 12, 16)]
REEL = Melody(REEL_NOTES, bar_lines([(0.0, "4/4")], 16.0), "4/4", Key(2), tempo=112, title="The Reel")


def test_notes_key_meter_tempo_title_chords_and_notes_read_back(tmp_path):
    chords = harmonise(REEL)
    path = write_musicxml(REEL, tmp_path / "reel.musicxml", chords=chords, notes=["composed by seqgan-music"])
    score = music21.converter.parse(path)
    assert read_notes(score) == expected(REEL)
    signature = first(score, music21.key.KeySignature)
    assert (signature.sharps, signature.mode) == (2, "major")
    assert first(score, music21.meter.TimeSignature).ratioString == "4/4"
    assert first(score, music21.tempo.MetronomeMark).number == 112
    assert score.metadata.bestTitle == "The Reel"
    assert [t.content for t in score.recurse().getElementsByClass(music21.expressions.TextExpression)] == [
        "composed by seqgan-music"]
    symbols = score.recurse().getElementsByClass(music21.harmony.ChordSymbol)
    assert [(float(s.getOffsetInHierarchy(score)), s.root().name, s.chordKind) for s in symbols] == [
        (0.0, "D", "major"), (4.0, "G", "major"), (8.0, "A", "major"), (12.0, "D", "major")]
    assert [m.number for m in score.parts[0].getElementsByClass(music21.stream.Measure)] == [1, 2, 3, 4]


def test_a_pickup_is_a_short_measure_zero():
    notes = [Note(69, 0, 1), Note(74, 1, 3), Note(78, 3, 4), Note(76, 4, 6.5), Note(73, 6.5, 7), Note(74, 7, 10)]
    melody = Melody(notes, bar_lines([(0.0, "3/4")], 10.0, first_bar=1.0), "3/4", Key(2))
    score = parse(melody_to_musicxml(melody, chords=harmonise(melody)))
    measures = list(score.parts[0].getElementsByClass(music21.stream.Measure))
    assert [m.number for m in measures] == [0, 1, 2, 3]
    assert [float(m.getOffsetInHierarchy(score)) for m in measures] == [0.0, 1.0, 4.0, 7.0]
    assert measures[0].duration.quarterLength == 1.0
    assert read_notes(score) == expected(melody)
    assert [float(s.getOffsetInHierarchy(score))
            for s in score.recurse().getElementsByClass(music21.harmony.ChordSymbol)] == [0.0, 1.0, 4.0, 7.0]


def test_a_jig_in_six_eight_ties_notes_across_bar_lines():
    notes = [Note(74, 0, 1.5), Note(76, 1.5, 2), Note(78, 2, 4), Note(79, 4, 4.5), Note(81, 4.5, 6),
             Note(83, 6, 7), Note(81, 7, 7.5), Note(79, 7.5, 9.5), Note(74, 9.5, 10.5),
             Note(73, 10.5, 12)]  # F# and G held over bar lines
    melody = Melody(notes, bar_lines([(0.0, "6/8")], 12.0), "6/8", Key(1, "minor"), tempo=100)
    score = parse(melody_to_musicxml(melody, chords=[Chord(4, "minor", 0, 6), Chord(6, "diminished", 6, 12)]))
    assert first(score, music21.meter.TimeSignature).ratioString == "6/8"
    assert [(s.root().name, s.chordKind) for s in score.recurse().getElementsByClass(music21.harmony.ChordSymbol)] == [
        ("E", "minor"), ("F#", "diminished")]
    signature = first(score, music21.key.KeySignature)
    assert (signature.sharps, signature.mode) == (1, "minor")
    ties = [(n.pitch.midi, n.tie.type) for n in score.recurse().getElementsByClass(music21.note.Note) if n.tie]
    assert ties == [(78, "start"), (78, "stop"), (79, "start"), (79, "stop")]
    assert read_notes(score) == expected(melody)


def test_a_bar_of_another_length_gets_its_own_time_signature():
    notes = [Note(67, 0, 3), Note(69, 3, 5), Note(71, 5, 8)]  # 3/4, a 2/4 bar, 3/4
    score = parse(melody_to_musicxml(Melody(notes, [0.0, 3.0, 5.0], "3/4", Key(1))))
    meters = [(float(t.getOffsetInHierarchy(score)), t.ratioString)
              for t in score.recurse().getElementsByClass(music21.meter.TimeSignature)]
    assert meters == [(0.0, "3/4"), (3.0, "2/4"), (5.0, "3/4")]
    assert read_notes(score) == [(67, 0.0, 3.0), (69, 3.0, 2.0), (71, 5.0, 3.0)]


@pytest.mark.parametrize("key, sharps, names", [
    (Key(0, "dorian"), 0, ["D4", "A#4", "F#4"]), (Key(-1), -1, ["D4", "B-4", "G-4"]),
    (Key(3, "mixolydian"), 3, ["D4", "A#4", "F#4"]),
])
def test_notes_are_spelled_in_the_key_and_modes_kept(key, sharps, names):
    """Off the signature, sharps in sharp (and plain) keys and flats in flat keys, as in ABC."""
    melody = Melody([Note(62, 0, 1), Note(70, 1, 2), Note(66, 2, 4)], [0.0], "4/4", key)
    score = parse(melody_to_musicxml(melody, chords=[Chord(10, "major", 0, 4)]))
    signature = first(score, music21.key.KeySignature)
    assert (signature.sharps, signature.mode) == (sharps, key.mode)
    assert [n.pitch.nameWithOctave for n in score.recurse().getElementsByClass(music21.note.Note)] == names
    assert first(score, music21.harmony.ChordSymbol).root().name == names[1][:-1]


def test_an_empty_melody_is_a_bar_of_rest():
    score = parse(melody_to_musicxml(Melody([], [], "3/4")))
    assert read_notes(score) == []
    rests = list(score.recurse().getElementsByClass(music21.note.Rest))
    assert sum(r.quarterLength for r in rests) == 3.0


EXPORT_REEL = """
import sys
from seqgan_music.corpora.melody import Key, Melody, Note, bar_lines
from seqgan_music.export.chords import harmonise
from seqgan_music.export.musicxml import melody_to_musicxml

notes = [Note(pitch, start, end) for pitch, start, end in {notes!r}]
reel = Melody(notes, bar_lines([(0.0, "4/4")], 16.0), "4/4", Key(2), tempo=112, title="The Reel")
sys.stdout.buffer.write(melody_to_musicxml(reel, chords=harmonise(reel), notes=["composed by seqgan-music"]))
"""


def test_the_same_melody_gives_the_same_bytes_in_every_call_process_and_day(monkeypatch):
    """No random part id (music21 draws one per export) and no encoding date: the README promises the same bytes."""
    import datetime
    import subprocess
    import sys

    from music21.musicxml import m21ToXml

    first_call = melody_to_musicxml(REEL, chords=harmonise(REEL), notes=["composed by seqgan-music"])

    class NextYear(datetime.date):
        @classmethod
        def today(cls):
            return cls(datetime.date.today().year + 1, 1, 1)

    monkeypatch.setattr(m21ToXml, "datetime", type("datetime", (), {"date": NextYear, "datetime": datetime.datetime}))
    assert melody_to_musicxml(REEL, chords=harmonise(REEL), notes=["composed by seqgan-music"]) == first_call
    script = EXPORT_REEL.format(notes=[(n.pitch, n.start, n.end) for n in REEL_NOTES])
    assert subprocess.run([sys.executable, "-c", script], capture_output=True, check=True).stdout == first_call
    assert read_notes(parse(first_call)) == expected(REEL)
