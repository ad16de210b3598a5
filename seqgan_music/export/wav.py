"""Write a melody as a WAV file with an additive synthesiser of our own, so audio never depends on
a SoundFont or fluidsynth being installed.

Each note is a few harmonics (a plucked, slightly reedy timbre) under an envelope with a 5 ms
attack, an exponential decay and a 30 ms release, so notes neither click nor smear into the next.
The whole tune is normalised to a peak of -1 dBFS and written as 16-bit mono PCM.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from seqgan_music.atomic import write_bytes_atomic
from seqgan_music.corpora.melody import Melody

SAMPLE_RATE = 22_050
_HARMONICS = np.array([1.0, 0.5, 0.3, 0.15, 0.08])  # amplitudes of partials 1..5
_ATTACK, _RELEASE, _DECAY = 0.005, 0.03, 1.2  # seconds
_PEAK = 10 ** (-1 / 20)  # -1 dBFS


def melody_to_samples(melody: Melody, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The melody as float samples in [-1, 1], as long as the melody plus the last release."""
    length = int(np.ceil((melody.seconds_at(melody.end) + _RELEASE) * sample_rate)) if melody.notes else sample_rate
    audio = np.zeros(max(length, 1), dtype=np.float64)
    for note in melody.notes:
        start, end = melody.seconds_at(note.start), melody.seconds_at(note.end)
        if end <= start:
            continue
        first = int(round(start * sample_rate))
        count = min(int(round((end - start + _RELEASE) * sample_rate)), len(audio) - first)
        audio[first:first + count] += _tone(note.pitch, end - start, count, sample_rate)
    peak = np.abs(audio).max()
    return audio * (_PEAK / peak) if peak > 0 else audio


def write_wav(melody: Melody, path: Path, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write the melody to `path` as 16-bit mono PCM, atomically."""
    pcm = np.round(melody_to_samples(melody, sample_rate) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as stream:
        stream.setnchannels(1)
        stream.setsampwidth(2)
        stream.setframerate(sample_rate)
        stream.writeframes(pcm.tobytes())
    write_bytes_atomic(path, buffer.getvalue())
    return path


def _tone(pitch: int, seconds: float, count: int, sample_rate: int) -> np.ndarray:
    """One note of `seconds` (then its release), `count` samples long."""
    time = np.arange(count) / sample_rate
    frequency = 440.0 * 2 ** ((pitch - 69) / 12)
    partials = np.arange(1, len(_HARMONICS) + 1)
    audible = partials * frequency < sample_rate / 2  # no partial above Nyquist (it would alias)
    wave_ = (_HARMONICS[audible, None] * np.sin(2 * np.pi * frequency * partials[audible, None] * time)).sum(axis=0)
    envelope = np.minimum(1.0, time / _ATTACK) * np.exp(-time / _DECAY)
    release = np.clip(1.0 - (time - seconds) / _RELEASE, 0.0, 1.0)
    return wave_ * envelope * release * 0.3
