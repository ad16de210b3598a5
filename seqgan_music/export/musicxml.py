"""Write a melody as MusicXML with music21, for notation programs (MuseScore, Finale, Sibelius).

The score has the title, the key signature and mode, the meter, a metronome mark, and one measure
per bar of the melody: a pickup is a short first measure, a bar of another length gets its own
time signature (as in the MIDI export), and notes crossing a bar line are tied. Like the ABC
export it writes on the sixteenth grid, spelling notes in the key. Chords become chord symbols;
`notes` (what composed the tune, and how) become text expressions above the first measure, where
a reader sees them and music21 reads them back.

A melody with repeat marks shows its form as `notation.repeat_signs` gives it (the same signs as
the ABC export): repeat barlines on the measures' left and right edges and first and second
ending brackets over their measures, so a notation program (and music21's `expandRepeats`) plays
the repeats out; its last measure ends at `corpora.melody.notated_end`.

The same melody always gives the same bytes: the part has a fixed id (music21 would draw a random
one for each export) and the encoding carries no date.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from music21 import bar, clef, expressions, harmony, instrument, key, metadata, meter, note, spanner, stream, tempo, tie
from music21.musicxml.m21ToXml import GeneralObjectExporter, ScoreExporter

from seqgan_music.atomic import write_bytes_atomic
from seqgan_music.corpora.melody import Key, Melody, meter_length_in_beats
from seqgan_music.export.chords import Chord
from seqgan_music.export.midi import meter_changes
from seqgan_music.export.notation import (
    NO_SIGNS,
    UNIT_BEATS,
    BarSigns,
    bar_spans,
    grid_events,
    repeat_signs,
    spell,
    spell_pitch,
    to_grid,
)

_MUSIC21_ACCIDENTAL = {-1: "-", 0: "", 1: "#"}
_PART_ID = "P1"


def melody_to_musicxml(melody: Melody, title: str | None = None, chords: Sequence[Chord] = (),
                       notes: Sequence[str] = ()) -> bytes:
    """The melody as a MusicXML document (UTF-8 bytes), the same bytes for the same arguments."""
    prepared = GeneralObjectExporter().fromGeneralObject(_score(melody, title, chords, notes))  # makes notation
    exporter = ScoreExporter(prepared)
    exporter.parse()
    for encoding in exporter.xmlRoot.iter("encoding"):
        for date in encoding.findall("encoding-date"):  # today's date: the bytes would change every day
            encoding.remove(date)
    return exporter.asBytes()


def write_musicxml(melody: Melody, path: Path, title: str | None = None, chords: Sequence[Chord] = (),
                   notes: Sequence[str] = ()) -> Path:
    """Write the melody to `path` atomically."""
    write_bytes_atomic(path, melody_to_musicxml(melody, title, chords, notes))
    return path


def _score(melody: Melody, title: str | None = None, chords: Sequence[Chord] = (),
                    notes: Sequence[str] = ()) -> stream.Score:
    """The music21 Score that the MusicXML file holds."""
    written_key = melody.key or Key(0)
    fifths = written_key.fifths
    bar_length = meter_length_in_beats(melody.meter)
    spans = [(to_grid(start), to_grid(end)) for start, end in bar_spans(melody)]
    spans = [(start, end) for start, end in spans if end > start] or [(0, to_grid(bar_length))]  # else a bar's rest
    meters = {to_grid(beat): f"{numerator}/{denominator}" for beat, numerator, denominator in meter_changes(melody)}
    events = grid_events(melody)
    pickup = len(spans) > 1 and (spans[0][1] - spans[0][0]) * UNIT_BEATS < bar_length
    part = stream.Part()
    current_meter = melody.meter
    for number, (start, end) in enumerate(spans, start=0 if pickup else 1):
        measure = stream.Measure(number=number)
        if start == 0:
            measure.insert(0, _instrument())
            measure.insert(0, key.KeySignature(fifths).asKey(written_key.mode))
            measure.insert(0, meter.TimeSignature(melody.meter))
            measure.insert(0, tempo.MetronomeMark(number=melody.tempo, referent=note.Note(type="quarter")))
            for text in notes:
                measure.insert(0, expressions.TextExpression(text))
        elif meters.get(start, current_meter) != current_meter:
            current_meter = meters[start]
            measure.insert(0, meter.TimeSignature(current_meter))
        _fill_measure(measure, events, start, end, fifths)
        for chord in chords:  # after the notes, which are appended one after another
            if start <= to_grid(chord.start) < end:
                measure.insert((to_grid(chord.start) - start) * UNIT_BEATS, _chord_symbol(chord, fifths))
        part.append(measure)
    _add_repeats(part, repeat_signs(melody))
    first = part.getElementsByClass(stream.Measure).first()
    first.insert(0, clef.bestClef(part, recurse=True))  # treble, or bass for a low tune
    if pickup:  # an implicit measure 0, so readers neither number nor pad it
        first.padAsAnacrusis()
        first.showNumber = stream.enums.ShowNumber.NEVER
    score = stream.Score([part])
    # An empty composer: otherwise music21 credits "Music21" as the composer.
    score.metadata = metadata.Metadata(title=title or melody.title or "Untitled", composer="")
    return score


def _add_repeats(part: stream.Part, signs: dict[int, BarSigns]) -> None:
    """Repeat barlines and ending brackets on the part's measures, by where each measure starts; an
    ending's bracket spans its consecutive measures."""
    brackets: list[tuple[int, list[stream.Measure]]] = []  # (ending number, its measures)
    previous = NO_SIGNS
    for measure in part.getElementsByClass(stream.Measure):
        here = signs.get(to_grid(measure.offset), NO_SIGNS)
        if here.start_repeat:
            measure.leftBarline = bar.Repeat(direction="start")
        if here.end_repeat:
            measure.rightBarline = bar.Repeat(direction="end")
        if here.ending and here.ending == previous.ending and not previous.end_repeat:
            brackets[-1][1].append(measure)
        elif here.ending:
            brackets.append((here.ending, [measure]))
        previous = here
    for number, measures in brackets:
        part.insert(0, spanner.RepeatBracket(measures, number=number))


def _instrument() -> instrument.Instrument:
    """music21's nameless default instrument, but with a fixed part id instead of a random one."""
    player = instrument.Instrument()
    player.partId = _PART_ID
    return player


def _fill_measure(measure: stream.Measure, events: list[tuple[int, int, int]], start: int, end: int,
                  fifths: int) -> None:
    """Notes (tied where they cross the measure's edges) and rests filling [start, end) sixteenths."""
    position = start
    for onset, offset, pitch in events:
        onset_here, offset_here = max(onset, start), min(offset, end)
        if offset_here <= onset_here:
            continue
        if onset_here > position:
            measure.append(note.Rest(quarterLength=(onset_here - position) * UNIT_BEATS))
        written = note.Note(_pitch_name(pitch, fifths), quarterLength=(offset_here - onset_here) * UNIT_BEATS)
        tied_in, tied_out = onset < start, offset > end
        if tied_in or tied_out:
            written.tie = tie.Tie("continue" if tied_in and tied_out else "stop" if tied_in else "start")
        measure.append(written)
        position = offset_here
    if end > position:
        measure.append(note.Rest(quarterLength=(end - position) * UNIT_BEATS))


def _pitch_name(pitch: int, fifths: int) -> str:
    letter, alteration, octave = spell_pitch(pitch, fifths)
    return f"{letter}{_MUSIC21_ACCIDENTAL[alteration]}{octave}"


def _chord_symbol(chord: Chord, fifths: int) -> harmony.ChordSymbol:
    letter, alteration = spell(chord.root, fifths)
    return harmony.ChordSymbol(root=letter + _MUSIC21_ACCIDENTAL[alteration], kind=chord.quality)
