"""Grid16 and paper encodings: exact round trips, snapping reports, and decoding of any sequence."""

import io

import mido
import pretty_midi
from hypothesis import given, settings
from hypothesis import strategies as st

from seqgan_music.corpora.encodings import (
    BAR,
    HOLD,
    REST,
    Grid16,
    PaperEncoding,
    encoding_from_params,
    pitch_token,
    token_pitch,
)
from seqgan_music.corpora.melody import Key, Melody, Note, bar_lines
from seqgan_music.corpora.vocabulary import END, PAD
from seqgan_music.export.midi import melody_to_midi_bytes


def reel() -> Melody:
    """A 4/4 tune with a one-beat pickup, a rest and a long note."""
    notes = [Note(62, 0, 0.5), Note(64, 0.5, 1), Note(66, 1, 2), Note(67, 2, 2.25), Note(69, 2.5, 3),
             Note(71, 3, 5), Note(69, 5.5, 6), Note(62, 6, 9)]
    return Melody(notes, bars=bar_lines([(0.0, "4/4")], 9.0, first_bar=1.0), meter="4/4",
                  key=Key(2), title="reel", source="reel.mid")


def test_grid16_tokens_for_a_known_tune():
    encoded = Grid16().encode(reel())
    assert encoded.symbols[:12] == ["D4", "HOLD", "E4", "HOLD", BAR, "F#4", "HOLD", "HOLD", "HOLD", "G4", REST, "A4"]
    assert [encoded.symbols[i] for i in encoded.window_starts] == [BAR, BAR]
    assert encoded.off_grid_notes == 0 and encoded.dropped_notes == 0


def test_grid16_round_trip_is_exact():
    grid = Grid16()
    melody = reel()
    symbols = grid.encode(melody).symbols
    decoded = grid.decode(symbols, melody.metadata())
    assert decoded.notes == melody.notes
    assert decoded.bars == melody.bars
    assert grid.encode(decoded).symbols == symbols
    assert decoded.meter == "4/4" and decoded.key == melody.key


def test_grid16_snaps_off_grid_notes_and_counts_them():
    triplets = Melody([Note(60, 0, 1 / 3), Note(62, 1 / 3, 2 / 3), Note(64, 2 / 3, 1), Note(65, 1.01, 1.02)])
    encoded = Grid16().encode(triplets)
    assert encoded.off_grid_notes == 4 and encoded.dropped_notes == 0
    assert encoded.symbols == ["C4", "D4", "HOLD", "E4", "F4"]  # the tiny note keeps one step
    crowded = Grid16().encode(Melody([Note(60, 0, 0.5), Note(62, 0.05, 0.5)]))
    assert crowded.dropped_notes == 1 and crowded.symbols == ["C4", "HOLD"]


def test_paper_encoding_samples_every_0_4_seconds():
    melody = Melody([Note(60, 0, 0.8), Note(62, 0.8, 1.2), Note(64, 1.6, 2.4)], tempo=60.0)
    paper = PaperEncoding()
    symbols = paper.encode(melody).symbols
    assert symbols == ["C4", "C4", "D4", REST, "E4", "E4"]
    assert paper.encode(paper.decode(symbols)).symbols == symbols


def test_paper_encoding_folds_pitches_onto_the_piano():
    melody = Melody([Note(12, 0, 0.8), Note(120, 0.8, 1.6)], tempo=60.0)
    symbols = PaperEncoding().encode(melody).symbols
    assert [token_pitch(s) for s in symbols] == [24, 24, 108, 108]


def test_encoding_parameters_round_trip_through_the_manifest():
    for encoding in (Grid16(length=32, stride=16, transpose=False), PaperEncoding()):
        assert encoding_from_params(encoding.params()) == encoding


def test_pitch_token_names_round_trip():
    assert all(token_pitch(pitch_token(p)) == p for p in range(128))
    assert token_pitch("HOLD") is None and pitch_token(61) == "C#4"


MUSIC_TOKENS = st.sampled_from([BAR, HOLD, REST, PAD, END, "<unk>", "C4", "E5", "G#3", "A0", "C8", "B9", "G4"])


def _valid_monophonic_midi(data: bytes) -> pretty_midi.PrettyMIDI:
    mido.MidiFile(file=io.BytesIO(data))  # parses as a standard MIDI file
    midi = pretty_midi.PrettyMIDI(io.BytesIO(data))
    notes = sorted((n for i in midi.instruments for n in i.notes), key=lambda n: n.start)
    assert len(midi.instruments) <= 1
    assert all(a.end <= b.start + 1e-6 for a, b in zip(notes, notes[1:]))
    assert all(n.end > n.start and 0 <= n.pitch <= 127 for n in notes)
    return midi


@settings(max_examples=150, deadline=None)
@given(st.lists(MUSIC_TOKENS, max_size=80), st.sampled_from(["4/4", "6/8", "3/4"]))
def test_any_token_sequence_decodes_to_a_valid_monophonic_midi(symbols, meter):
    for encoding in (Grid16(), PaperEncoding()):
        melody = encoding.decode(symbols, {"meter": meter, "key": Key(1).to_dict(), "tempo": 100.0})
        _valid_monophonic_midi(melody_to_midi_bytes(melody))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(40, 90), st.integers(0, 3), st.integers(1, 12)), min_size=1, max_size=30))
def test_grid16_round_trip_on_random_monophonic_melodies(events):
    """Random melodies on the grid: encode -> decode -> encode is the identity."""
    notes, position = [], 0
    for pitch, gap, duration in events:
        start = position + gap / 4
        notes.append(Note(pitch, start, start + duration / 4))
        position = start + duration / 4
    melody = Melody(notes, bars=bar_lines([(0.0, "6/8")], position), meter="6/8")
    grid = Grid16()
    symbols = grid.encode(melody).symbols
    assert grid.encode(grid.decode(symbols, melody.metadata())).symbols == symbols
    assert grid.decode(symbols, melody.metadata()).notes == notes
