"""The whole loop through files: MIDI file -> melody -> tokens -> melody -> MIDI file -> same tokens."""

from pathlib import Path

import mido
import pytest

from seqgan_music.corpora.encodings import Grid16, PaperEncoding
from seqgan_music.corpora.melody import Melody, Note
from seqgan_music.corpora.midi import read_midi_melody
from seqgan_music.export.midi import meter_changes, write_midi


def write_jig(path: Path) -> None:
    """A 6/8 jig at 100 BPM in D with a pickup bar padded by a rest, tied-over notes and a rest."""
    ticks = 480
    events = [(None, 2.5), (69, 0.5), (74, 1.0), (76, 0.5), (78, 1.0), (76, 0.5), (74, 1.5), (None, 0.5),
              (71, 0.25), (73, 0.25), (74, 3.0), (81, 0.5), (79, 0.5), (78, 0.5), (76, 1.5)]
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100)),
                            mido.MetaMessage("time_signature", numerator=6, denominator=8),
                            mido.MetaMessage("key_signature", key="D")])
    waiting = 0
    for pitch, beats in events:
        if pitch is None:
            waiting += int(beats * ticks)
            continue
        track.append(mido.Message("note_on", note=pitch, velocity=80, time=waiting))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=int(beats * ticks)))
        waiting = 0
    midi = mido.MidiFile(type=0, ticks_per_beat=ticks)
    midi.tracks.append(track)
    midi.save(path)


@pytest.mark.parametrize("encoding", [Grid16(), PaperEncoding()], ids=["grid16", "paper"])
def test_tokens_survive_a_trip_through_written_midi_files(tmp_path, encoding):
    write_jig(tmp_path / "jig.mid")
    melody = read_midi_melody(tmp_path / "jig.mid", "jig.mid")
    symbols = encoding.encode(melody).symbols
    decoded = encoding.decode(symbols, melody.metadata())
    write_midi(decoded, tmp_path / "again.mid")
    reread = read_midi_melody(tmp_path / "again.mid", "again.mid")
    assert encoding.encode(reread).symbols == symbols
    assert reread.meter == "6/8" and reread.key.name == "D major"


def test_the_written_file_keeps_tempo_meter_and_notes(tmp_path):
    write_jig(tmp_path / "jig.mid")
    melody = read_midi_melody(tmp_path / "jig.mid", "jig.mid")
    grid = Grid16()
    write_midi(grid.decode(grid.encode(melody).symbols, melody.metadata()), tmp_path / "again.mid")
    reread = read_midi_melody(tmp_path / "again.mid", "again.mid")
    assert reread.tempo == pytest.approx(100.0)
    assert [(n.pitch, n.start, n.end) for n in reread.notes] == [
        (n.pitch, pytest.approx(n.start), pytest.approx(n.end)) for n in melody.notes]


@pytest.mark.slow
def test_real_nottingham_tunes_survive_the_file_trip(tmp_path, shared_data):
    """Every 20th tune, meter changes included (ashover1 alternates 3/4 and 2/4 bars)."""
    files = sorted((shared_data / "nottingham" / "MIDI").glob("*.mid"))[::20]
    for encoding in (Grid16(), PaperEncoding()):
        for path in files:
            melody = read_midi_melody(path, path.name)
            symbols = encoding.encode(melody).symbols
            write_midi(encoding.decode(symbols, melody.metadata()), tmp_path / path.name)
            assert encoding.encode(read_midi_melody(tmp_path / path.name, path.name)).symbols == symbols, path.name


def test_meter_changes_mark_pickups_and_short_bars():
    melody = Melody([Note(60, 0, 10)], bars=[1.0, 4.0, 7.0, 8.5], meter="6/8")
    assert meter_changes(melody) == [(0.0, 2, 8), (1.0, 6, 8), (7.0, 3, 8), (8.5, 6, 8)]
    assert meter_changes(Melody([Note(60, 0, 1)], bars=[], meter="3/4")) == [(0.0, 3, 4)]
