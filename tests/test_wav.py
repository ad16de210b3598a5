"""WAV export: the right duration, sound where the notes are, silence where they are not, no clipping."""

import sys
import wave

import numpy as np
import pytest

from seqgan_music.corpora.melody import Melody, Note
from seqgan_music.errors import SeqganError
from seqgan_music.export.chords import Chord
from seqgan_music.export.wav import SAMPLE_RATE, melody_to_samples, soundfont_available, write_wav


def test_wav_has_the_melody_duration_and_is_not_silent(tmp_path):
    melody = Melody([Note(69, 0, 1), Note(72, 1, 2), Note(76, 3, 4)], tempo=120)  # 2 s at 120 bpm
    path = write_wav(melody, tmp_path / "tune.wav")
    with wave.open(str(path)) as stream:
        assert (stream.getnchannels(), stream.getsampwidth(), stream.getframerate()) == (1, 2, SAMPLE_RATE)
        frames = np.frombuffer(stream.readframes(stream.getnframes()), dtype="<i2").astype(float)
    assert abs(len(frames) / SAMPLE_RATE - 2.03) < 0.01  # the melody plus the last note's release
    assert np.abs(frames).max() > 0.8 * 32767 and np.abs(frames).max() <= 32767
    def loudest(first: float, last: float) -> float:
        return np.abs(frames[int(first * SAMPLE_RATE):int(last * SAMPLE_RATE)]).max()

    assert loudest(1.1, 1.45) < 1  # the rest at beats 2..3 (1.0-1.5 s), after the release
    assert loudest(1.6, 1.9) > 1000  # the last note


def test_the_sounding_pitch_is_the_note_pitch():
    audio = melody_to_samples(Melody([Note(69, 0, 2)], tempo=60))  # A4 for 2 s
    spectrum = np.abs(np.fft.rfft(audio[:SAMPLE_RATE]))
    assert abs(np.argmax(spectrum) - 440) < 2  # a 1 s window: bin k is k Hz


def test_an_empty_melody_is_a_second_of_silence(tmp_path):
    audio = melody_to_samples(Melody([]))
    assert len(audio) == SAMPLE_RATE and not audio.any()


def read_wav(path) -> np.ndarray:
    with wave.open(str(path)) as stream:
        return np.frombuffer(stream.readframes(stream.getnframes()), dtype="<i2").astype(float)


def test_chords_sound_under_the_melody():
    melody = Melody([Note(69, 0, 2)], tempo=60)  # A4 for 2 s
    alone = np.abs(np.fft.rfft(melody_to_samples(melody)[:SAMPLE_RATE]))
    spectrum = np.abs(np.fft.rfft(melody_to_samples(melody, chords=[Chord(0, "major", 0, 2)])[:SAMPLE_RATE]))
    # C major voiced E3 G3 C4: 165, 196 and 262 Hz (bin k is k Hz), each quieter than the melody
    for hertz in (165, 196, 262):
        assert alone[hertz - 2:hertz + 3].max() < 0.01 * alone[440]
        assert 0.1 * spectrum[440] < spectrum[hertz - 2:hertz + 3].max() < spectrum[438:443].max()
    assert np.argmax(spectrum) in range(438, 443)


def test_chords_longer_than_the_melody_lengthen_the_audio(tmp_path):
    melody = Melody([Note(69, 0, 1)], tempo=60)
    frames = read_wav(write_wav(melody, tmp_path / "tune.wav", chords=[Chord(9, "minor", 0, 3)]))
    assert abs(len(frames) / SAMPLE_RATE - 3.03) < 0.01
    assert np.abs(frames[int(2.0 * SAMPLE_RATE):int(2.9 * SAMPLE_RATE)]).max() > 1000  # the chord alone


def test_an_unknown_synth_is_a_user_error(tmp_path):
    with pytest.raises(SeqganError, match="additive"):
        write_wav(Melody([Note(60, 0, 1)]), tmp_path / "tune.wav", synth="organ")
    assert not (tmp_path / "tune.wav").exists()


def test_the_soundfont_synth_says_what_to_install_when_fluidsynth_is_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # makes `import fluidsynth` fail
    assert not soundfont_available()
    with pytest.raises(SeqganError, match="pyfluidsynth.*libfluidsynth.*additive") as raised:
        write_wav(Melody([Note(60, 0, 1)]), tmp_path / "tune.wav", synth="soundfont")
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "tune.wav").exists()


def test_the_soundfont_synth_plays_the_midi_export_at_the_sample_rate(tmp_path, monkeypatch):
    """fluidsynth stubbed: what reaches it is the melody and chord instruments, what comes back is
    normalised and written."""
    heard = {}

    def fake_fluidsynth(midi, fs):
        heard.update(fs=fs, instruments=[(i.name, len(i.notes)) for i in midi.instruments])
        return 0.1 * np.sin(np.linspace(0, 200 * np.pi, fs))

    monkeypatch.setattr("seqgan_music.export.wav.soundfont_available", lambda: True)
    monkeypatch.setattr("pretty_midi.PrettyMIDI.fluidsynth", fake_fluidsynth)
    melody = Melody([Note(69, 0, 1), Note(72, 1, 2)], title="Air")
    path = write_wav(melody, tmp_path / "tune.wav", 8000, chords=[Chord(9, "minor", 0, 2)], synth="soundfont")
    frames = read_wav(path)
    assert heard == {"fs": 8000, "instruments": [("Air", 2), ("chords", 3)]}
    assert len(frames) == 8000 and abs(np.abs(frames).max() / 32767 - 10 ** (-1 / 20)) < 1e-3


@pytest.mark.skipif(not soundfont_available(), reason="pyfluidsynth or libfluidsynth is not installed (optional)")
def test_the_soundfont_synth_renders_melody_and_chords(tmp_path):
    melody = Melody([Note(69, 0, 1), Note(72, 1, 2)], tempo=120)
    frames = read_wav(write_wav(melody, tmp_path / "tune.wav", chords=[Chord(9, "minor", 0, 2)], synth="soundfont"))
    assert 0.9 < len(frames) / SAMPLE_RATE < 3.0  # 1 s of music and the SoundFont's release
    assert 0.8 * 32767 < np.abs(frames).max() <= 32767
