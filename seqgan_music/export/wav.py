"""Write a melody as a WAV file with an additive synthesiser of our own, so audio never depends on
a SoundFont or fluidsynth being installed; the SoundFont synth is an option where they are.

Each note is a few harmonics (a plucked, slightly reedy timbre) under an envelope with a 5 ms
attack, an exponential decay and a 30 ms release, so notes neither click nor smear into the next.
Chords, when given, are the same tones at about a third of the melody's level per voice, so the
tune stays on top. The SoundFont synth plays the MIDI export (melody and chords) through
pretty_midi's bundled General MIDI SoundFont with fluidsynth. Either way the whole tune is
normalised to a peak of -1 dBFS and written as 16-bit mono PCM. Like MIDI, audio sounds the tune
as played: a melody with repeat marks is played out first, its chords with it.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from seqgan_music.atomic import write_bytes_atomic
from seqgan_music.corpora.melody import Melody, played_out
from seqgan_music.errors import SeqganError
from seqgan_music.export.chords import Chord, played_chords
from seqgan_music.export.midi import melody_to_pretty_midi

SAMPLE_RATE = 22_050
SYNTHS = ("additive", "soundfont")
_HARMONICS = np.array([1.0, 0.5, 0.3, 0.15, 0.08])  # amplitudes of partials 1..5
_ATTACK, _RELEASE, _DECAY = 0.005, 0.03, 1.2  # seconds
_PEAK = 10 ** (-1 / 20)  # -1 dBFS
_CHORD_LEVEL = 0.35  # each chord voice against a melody note


def melody_to_samples(melody: Melody, sample_rate: int = SAMPLE_RATE, chords: Sequence[Chord] = ()) -> np.ndarray:
    """The melody (over its chords) as float samples in [-1, 1], as long as the music plus the last
    release; a second of silence when there is nothing to play. Repeats are played out."""
    chords = played_chords(melody, chords)
    melody = played_out(melody)
    voices = [(note.pitch, note.start, note.end, 1.0) for note in melody.notes]
    voices += [(pitch, chord.start, chord.end, _CHORD_LEVEL) for chord in chords for pitch in chord.pitches()]
    last = max((end for _, _, end, _ in voices), default=None)
    length = int(np.ceil((melody.seconds_at(last) + _RELEASE) * sample_rate)) if last is not None else sample_rate
    audio = np.zeros(max(length, 1), dtype=np.float64)
    tones: dict[tuple[int, float, int], np.ndarray] = {}  # a tune repeats its notes: each is computed once
    for pitch, start_beat, end_beat, level in voices:
        start, end = melody.seconds_at(start_beat), melody.seconds_at(end_beat)
        if end <= start:
            continue
        first = int(round(start * sample_rate))
        count = min(int(round((end - start + _RELEASE) * sample_rate)), len(audio) - first)
        key = (pitch, end - start, count)
        if key not in tones:
            tones[key] = _tone(pitch, end - start, count, sample_rate)
        audio[first:first + count] += level * tones[key]
    return _normalised(audio)


def soundfont_available() -> bool:
    """Whether the SoundFont synth can run: pyfluidsynth imports and finds libfluidsynth."""
    try:
        import fluidsynth  # noqa: F401  (pyfluidsynth; its import loads the C library)
    except (ImportError, OSError):
        return False
    return True


def write_wav(melody: Melody, path: Path, sample_rate: int = SAMPLE_RATE, chords: Sequence[Chord] = (),
              synth: str = "additive") -> Path:
    """Write the melody (and chords) to `path` as 16-bit mono PCM, atomically.

    `synth` is "additive" (our own, always available) or "soundfont" (fluidsynth with pretty_midi's
    General MIDI SoundFont); a SeqganError says what to do when the choice cannot run.
    """
    if synth == "additive":
        samples = melody_to_samples(melody, sample_rate, chords)
    elif synth == "soundfont":
        samples = _soundfont_samples(melody, sample_rate, chords)
    else:
        raise SeqganError(f"unknown synth {synth!r}: use one of {', '.join(SYNTHS)}")
    pcm = np.round(samples * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as stream:
        stream.setnchannels(1)
        stream.setsampwidth(2)
        stream.setframerate(sample_rate)
        stream.writeframes(pcm.tobytes())
    write_bytes_atomic(path, buffer.getvalue())
    return path


def _soundfont_samples(melody: Melody, sample_rate: int, chords: Sequence[Chord]) -> np.ndarray:
    if not soundfont_available():
        raise SeqganError("the soundfont synth needs fluidsynth: install pyfluidsynth and libfluidsynth (e.g. "
                          "`pip install pyfluidsynth`, `apt install libfluidsynth3`), or use the additive synth")
    audio = melody_to_pretty_midi(melody, chords=chords).fluidsynth(fs=sample_rate)
    return _normalised(audio) if len(audio) else np.zeros(sample_rate)


def _normalised(audio: np.ndarray) -> np.ndarray:
    """Scaled to a -1 dBFS peak (silence stays silent)."""
    peak = np.abs(audio).max()
    return audio * (_PEAK / peak) if peak > 0 else audio


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
