"""WAV export: the right duration, sound where the notes are, silence where they are not, no clipping."""

import wave

import numpy as np

from seqgan_music.corpora.melody import Melody, Note
from seqgan_music.export.wav import SAMPLE_RATE, melody_to_samples, write_wav


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
