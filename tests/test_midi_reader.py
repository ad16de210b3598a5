"""Reading melodies from MIDI files: synthetic files for every rule and bad input, then Nottingham."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import mido
import pretty_midi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqgan_music.corpora.corpus import Skipped
from seqgan_music.corpora.encodings import Grid16, PaperEncoding
from seqgan_music.corpora.melody import Melody, Note, monophonic
from seqgan_music.corpora.midi import find_midi_files, read_midi_folder, read_midi_melody
from seqgan_music.errors import SeqganError, SkippedInput

TPB = 480
Event = tuple[int, mido.Message | mido.MetaMessage]  # (absolute tick, message)


def notes(channel: int, spec: Sequence[tuple[int, float, float]], velocity: int = 90) -> list[Event]:
    """Note-on/off events for (pitch, start beat, end beat) on one channel."""
    events: list[Event] = []
    for pitch, start, end in spec:
        events.append((round(end * TPB), mido.Message("note_off", channel=channel, note=pitch)))
        events.append((round(start * TPB), mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
    return events


def meta(beat: float, kind: str, **values) -> Event:
    return round(beat * TPB), mido.MetaMessage(kind, **values)


def write(path: Path, tracks: list[list[Event]], midi_type: int = 1) -> Path:
    """A MIDI file whose tracks hold the events in time order (ties keep their listed order)."""
    midi = mido.MidiFile(type=midi_type, ticks_per_beat=TPB)
    for events in tracks:
        track = mido.MidiTrack()
        last = 0
        for tick, message in sorted(events, key=lambda e: e[0]):
            track.append(message.copy(time=tick - last))
            last = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        midi.tracks.append(track)
    midi.save(path)
    return path


def pitches(melody: Melody) -> list[int]:
    return [n.pitch for n in melody.notes]


MELODY = [(72, 0, 1), (74, 1, 2), (76, 2, 3), (77, 3, 4), (79, 4, 6), (76, 6, 8)]
BASS = [(36, 0, 2), (43, 2, 4), (36, 4, 8)]


# --- choosing the melody ---------------------------------------------------------------------


def test_type0_takes_the_high_channel_over_the_bass(tmp_path: Path) -> None:
    path = write(tmp_path / "tune.mid", [notes(1, BASS) + notes(0, MELODY)], midi_type=0)
    melody = read_midi_melody(path, "folder/tune.mid")
    assert melody.notes == [Note(p, s, e) for p, s, e in MELODY]
    assert melody.source == "folder/tune.mid" and melody.title == "tune"
    assert (melody.meter, melody.key, melody.tempo, melody.tempo_changes) == ("4/4", None, 120.0, [])
    assert melody.bars == [0.0, 4.0]


def test_type1_takes_the_monophonic_lead_and_its_track_name(tmp_path: Path) -> None:
    chords = [(p, s, s + 2) for s in (0, 2, 4, 6) for p in (60, 64, 67)]
    conductor = [meta(0, "track_name", name="Song"), meta(0, "key_signature", key="F#m"),
                 meta(0, "time_signature", numerator=3, denominator=4)]
    path = write(tmp_path / "tune.mid", [
        conductor,
        [meta(0, "track_name", name="Bass"), *notes(1, BASS)],
        [meta(0, "track_name", name="Piano"), *notes(2, chords)],
        [meta(0, "track_name", name="Flute"), *notes(3, MELODY)],
    ])
    melody = read_midi_melody(path, "tune.mid")
    assert melody.notes == [Note(p, s, e) for p, s, e in MELODY]
    assert melody.title == "Flute"
    assert melody.key is not None and melody.key.name == "F# minor" and melody.key.source == "stored"
    assert melody.meter == "3/4" and melody.bars == [0.0, 3.0, 6.0]


def test_polyphonic_top_voice_falls_back_to_the_skyline(tmp_path: Path) -> None:
    right_hand = [
        (67, 0, 2), (64, 0, 2),  # together: the higher kept
        (60, 2, 4), (72, 3, 4),  # the lower one is cut where the higher starts
        (76, 4, 6), (74, 5, 7),  # starts under a higher sounding note: dropped
        (79, 7, 8),
    ]
    path = write(tmp_path / "piano.mid", [[meta(0, "track_name", name="RH"), *notes(0, right_hand)],
                                          notes(1, [(40, 0, 8), (38, 8, 10)])])
    melody = read_midi_melody(path, "piano.mid")
    assert melody.notes == [Note(67, 0, 2), Note(60, 2, 3), Note(72, 3, 4), Note(76, 4, 6),
                            Note(79, 7, 8), Note(38, 8, 10)]
    assert melody.title == "piano"  # notes from two tracks: no single track name


def test_a_few_overlaps_keep_the_group_and_are_clipped(tmp_path: Path) -> None:
    line = [(70 + i % 5, i * 0.5, i * 0.5 + 0.5) for i in range(41) if i != 20]  # a rest at beat 10
    line[10] = (line[10][0], 5.0, 6.0)  # legato: 1 of 40 notes overlaps the next, under 5%
    bass = [(36, 0, 10), (38, 10, 10.5), (36, 10.5, 20)]  # the skyline would take 38 in the rest
    path = write(tmp_path / "legato.mid", [notes(0, line), notes(1, bass)])
    melody = read_midi_melody(path, "legato.mid")
    assert melody.notes == [Note(p, s, s + 0.5) for p, s, _ in line]
    assert all(a.end <= b.start for a, b in zip(melody.notes, melody.notes[1:]))


def test_drums_on_channel_10_are_ignored(tmp_path: Path) -> None:
    hats = [(81, i * 0.5, i * 0.5 + 0.25) for i in range(16)]
    path = write(tmp_path / "band.mid", [notes(9, hats) + notes(0, MELODY)], midi_type=0)
    assert pitches(read_midi_melody(path, "band.mid")) == [p for p, _, _ in MELODY]


def test_track_selection(tmp_path: Path) -> None:
    path = write(tmp_path / "tune.mid", [
        [meta(0, "track_name", name="Song")],
        [meta(0, "track_name", name="Bass"), *notes(1, BASS)],
        notes(0, MELODY) + notes(9, [(42, 0, 1)]),
        notes(9, [(36, 0, 1)]),
    ])
    bass = read_midi_melody(path, "tune.mid", track=1)
    assert pitches(bass) == [36, 43, 36] and bass.title == "Bass"
    assert pitches(read_midi_melody(path, "tune.mid", track=2)) == [p for p, _, _ in MELODY]
    with pytest.raises(SkippedInput, match="no track 4"):
        read_midi_melody(path, "tune.mid", track=4)
    for empty in (0, 3):  # meta events only; drums only
        with pytest.raises(SkippedInput, match=f"track {empty} has no notes"):
            read_midi_melody(path, "tune.mid", track=empty)


def test_program_selection_follows_program_changes_in_time(tmp_path: Path) -> None:
    conductor = [meta(0, "track_name", name="Song"),
                 (0, mido.Message("program_change", channel=1, program=32))]  # applies to channel 1
    lead = [(0, mido.Message("program_change", channel=0, program=73)), *notes(0, MELODY[:3]),
            (3 * TPB, mido.Message("program_change", channel=0, program=40)), *notes(0, MELODY[3:])]
    path = write(tmp_path / "tune.mid", [conductor, lead, notes(1, BASS)])
    assert pitches(read_midi_melody(path, "tune.mid", program=73)) == [72, 74, 76]
    assert pitches(read_midi_melody(path, "tune.mid", program=40)) == [77, 79, 76]
    assert pitches(read_midi_melody(path, "tune.mid", program=32)) == [36, 43, 36]
    with pytest.raises(SkippedInput, match="no notes played with program 0"):
        read_midi_melody(path, "tune.mid", program=0)


def test_note_pairing_rules(tmp_path: Path) -> None:
    events: list[Event] = [
        (0, mido.Message("note_on", note=60, velocity=80)),
        (TPB, mido.Message("note_on", note=60, velocity=0)),  # velocity 0 ends a note
        (TPB, mido.Message("note_on", note=62, velocity=80)),
        (2 * TPB, mido.Message("note_on", note=62, velocity=80)),  # re-trigger closes the first 62
        (2 * TPB, mido.Message("note_off", note=62)),  # on before off at one tick: the old note's off
        (3 * TPB, mido.Message("note_off", note=62)),
        (3 * TPB, mido.Message("note_off", note=99)),  # an off with no note is ignored
        (3 * TPB, mido.Message("note_on", note=64, velocity=80)),  # never closed
        (5 * TPB, mido.MetaMessage("marker", text="end")),
    ]
    melody = read_midi_melody(write(tmp_path / "pairs.mid", [events]), "pairs.mid")
    assert melody.notes == [Note(60, 0, 1), Note(62, 1, 2), Note(62, 2, 3), Note(64, 3, 5)]


# --- tempo, meter, key -----------------------------------------------------------------------


def test_tempo_changes_from_all_tracks(tmp_path: Path) -> None:
    conductor = [meta(0, "set_tempo", tempo=mido.bpm2tempo(100)), meta(4, "set_tempo", tempo=mido.bpm2tempo(150)),
                 meta(6, "set_tempo", tempo=mido.bpm2tempo(150))]
    lead = [meta(8, "set_tempo", tempo=mido.bpm2tempo(60)), *notes(0, [(72, 0, 4), (74, 4, 8), (76, 8, 10)])]
    melody = read_midi_melody(write(tmp_path / "tempo.mid", [conductor, lead]), "tempo.mid")
    assert melody.tempo == pytest.approx(100)
    assert [b for b, _ in melody.tempo_changes] == [4.0, 8.0]
    assert [bpm for _, bpm in melody.tempo_changes] == pytest.approx([150, 60])
    assert melody.seconds_at(4) == pytest.approx(2.4)
    assert melody.seconds_at(8) == pytest.approx(4.0)
    assert melody.seconds_at(10) == pytest.approx(6.0)


def test_time_signature_change_moves_the_bar_lines(tmp_path: Path) -> None:
    conductor = [meta(0, "time_signature", numerator=4, denominator=4),
                 meta(8, "time_signature", numerator=6, denominator=8),
                 meta(11, "time_signature", numerator=6, denominator=8)]  # a repeat, not a new bar
    path = write(tmp_path / "meter.mid", [conductor, notes(0, [(72, 0, 10), (74, 10, 16)])])
    melody = read_midi_melody(path, "meter.mid")
    assert melody.meter == "4/4"
    assert melody.bars == [0.0, 4.0, 8.0, 11.0, 14.0]


@pytest.mark.parametrize("stored, name", [("C", "C major"), ("Am", "A minor"), ("F#m", "F# minor"),
                                          ("Bb", "Bb major"), ("Ebm", "Eb minor"), ("Cb", "B major")])
def test_stored_key_signature(tmp_path: Path, stored: str, name: str) -> None:
    path = write(tmp_path / "key.mid", [[meta(0, "key_signature", key=stored), *notes(0, MELODY)]])
    key = read_midi_melody(path, "key.mid").key
    assert key is not None and (key.name, key.source) == (name, "stored")


# --- bad input -------------------------------------------------------------------------------


def small_file(tmp_path: Path) -> bytes:
    return write(tmp_path / "small.mid", [notes(0, MELODY), notes(1, BASS)]).read_bytes()


def test_not_a_midi_file(tmp_path: Path) -> None:
    for name, data in (("text.mid", b"X:1\nT:a tune\nK:G\nGABc|\n"), ("empty.mid", b"")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(SkippedInput, match="^not a MIDI file$"):
            read_midi_melody(tmp_path / name, name)


def test_every_truncation_is_rejected(tmp_path: Path) -> None:
    data = small_file(tmp_path)
    for cut in range(4, len(data)):
        (tmp_path / "cut.mid").write_bytes(data[:cut])
        with pytest.raises(SkippedInput, match=r"^damaged or truncated MIDI file \(.+\)$"):
            read_midi_melody(tmp_path / "cut.mid", "cut.mid")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_bytes_never_raise_anything_else(tmp_path: Path, data: st.DataObject) -> None:
    original = bytearray(small_file(tmp_path))
    for _ in range(data.draw(st.integers(1, 4))):
        original[data.draw(st.integers(0, len(original) - 1))] = data.draw(st.integers(0, 255))
    (tmp_path / "damaged.mid").write_bytes(bytes(original))
    try:
        melody = read_midi_melody(tmp_path / "damaged.mid", "damaged.mid")
    except SkippedInput as error:
        assert str(error)
    else:
        assert melody.notes and all(a.end <= b.start for a, b in zip(melody.notes, melody.notes[1:]))


def test_files_without_a_melody_are_skipped(tmp_path: Path) -> None:
    cases = {
        "no notes": [[meta(0, "track_name", name="Empty"), meta(0, "set_tempo", tempo=500000)]],
        "only drum notes (channel 10)": [notes(9, [(36, 0, 1), (42, 0, 0.5), (38, 1, 2)])],
    }
    for reason, tracks in cases.items():
        with pytest.raises(SkippedInput, match=f"^{re.escape(reason)}$"):
            read_midi_melody(write(tmp_path / "x.mid", tracks), "x.mid")


def test_type2_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "t2.mid", [notes(0, MELODY), notes(0, MELODY)], midi_type=2)
    with pytest.raises(SkippedInput, match="MIDI type 2 is not supported"):
        read_midi_melody(path, "t2.mid")


# --- folders ---------------------------------------------------------------------------------


def test_find_midi_files_rejects_what_is_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(SeqganError, match="does not exist"):
        find_midi_files(tmp_path / "missing")
    (tmp_path / "file.mid").write_bytes(b"")
    with pytest.raises(SeqganError, match="not a folder"):
        find_midi_files(tmp_path / "file.mid")
    (tmp_path / "empty").mkdir()
    assert find_midi_files(tmp_path / "empty") == []


def test_find_midi_files_is_recursive_case_insensitive_and_sorted(tmp_path: Path) -> None:
    for name in ("b.MID", "a/z.midi", "a/b/c.Mid", "notes.txt", "a/song.kar", "c.mid"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "folder.mid").mkdir()
    found = [p.relative_to(tmp_path).as_posix() for p in find_midi_files(tmp_path)]
    assert found == ["a/b/c.Mid", "a/z.midi", "b.MID", "c.mid"]


def test_read_midi_folder_yields_melodies_and_skips_with_relative_paths(tmp_path: Path, recorder) -> None:
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "good.mid", [notes(0, MELODY)])
    (tmp_path / "sub" / "bad.mid").write_text("not music")
    write(tmp_path / "drums.midi", [notes(9, [(36, 0, 1)])])
    results = list(read_midi_folder(tmp_path, reporter=recorder))
    assert results[0] == Skipped("drums.midi", "only drum notes (channel 10)")
    assert results[1] == Skipped("sub/bad.mid", "not a MIDI file")
    assert isinstance(results[2], Melody) and results[2].source == "sub/good.mid"
    assert recorder.calls == [("begin", "Reading MIDI files", 3), *[("advance", 1)] * 3, ("end",)]
    assert [r.reason for r in read_midi_folder(tmp_path, track=3) if isinstance(r, Skipped)] == [
        "only drum notes (channel 10)", "not a MIDI file", "no track 3 (the file has 1, numbered from 0)"]


# --- Nottingham ------------------------------------------------------------------------------


def tune(tunes: list[Melody | Skipped], source: str) -> Melody:
    return next(t for t in tunes if isinstance(t, Melody) and t.source == source)


@pytest.mark.slow
def test_every_nottingham_tune_is_read(nottingham_midi: list[Melody | Skipped]) -> None:
    skipped = [t for t in nottingham_midi if isinstance(t, Skipped)]
    assert len(nottingham_midi) == 865 and skipped == []
    melodies = [t for t in nottingham_midi if isinstance(t, Melody)]
    assert all(m.key is not None and m.key.source == "stored" for m in melodies)
    assert all(m.tempo == 120.0 and m.tempo_changes == [] and m.bars for m in melodies)
    assert all(21 <= n.pitch <= 108 for m in melodies for n in m.notes)
    assert all(a.end <= b.start for m in melodies for a, b in zip(m.notes, m.notes[1:]))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Tempo, Key or Time signature:RuntimeWarning")
@pytest.mark.parametrize("name", ["ashover1.mid", "jigs10.mid", "reelsd-g20.mid", "reelsa-c66.mid", "reelsh-l88.mid"])
def test_a_known_tune_is_exactly_track_0(nottingham_midi: list[Melody | Skipped], shared_data: Path, name: str) -> None:
    path = shared_data / "nottingham" / "MIDI" / name
    melody = tune(nottingham_midi, name)
    track0 = pretty_midi.PrettyMIDI(str(path)).instruments[0].notes  # track 0, read independently
    expected = monophonic([Note(n.pitch, n.start * 2, n.end * 2) for n in track0])  # 120 BPM; double stops -> top note
    assert [(n.pitch, n.start, n.end) for n in melody.notes] == [
        (n.pitch, pytest.approx(n.start), pytest.approx(n.end)) for n in expected]
    assert (melody.title, melody.source) == (path.stem, name)


@pytest.mark.slow
def test_ashover1_metadata(nottingham_midi: list[Melody | Skipped]) -> None:
    melody = tune(nottingham_midi, "ashover1.mid")
    assert melody.key is not None
    assert (melody.meter, melody.key.name, melody.notes[0]) == ("3/4", "G major", Note(76, 2.0, 3.0))
    assert melody.bars[:3] == [0.0, 3.0, 6.0]


@pytest.mark.slow
def test_encode_decode_encode_is_the_identity_on_real_tunes(nottingham_midi: list[Melody | Skipped]) -> None:
    melodies = [t for t in nottingham_midi if isinstance(t, Melody)][::22]
    assert len(melodies) >= 39
    for encoding in (Grid16(), PaperEncoding()):
        for melody in melodies:
            symbols = encoding.encode(melody).symbols
            again = encoding.encode(encoding.decode(symbols, melody.metadata())).symbols
            assert again == symbols, (encoding.name, melody.source)

