"""Music statistics of generated windows against a reference corpus: is it folk-like music?

Per set of windows (decoded to melodies with the corpus's encoding): the distributions of pitch
classes, melodic intervals (-12..+12 semitones, wider ones clipped) and note lengths (1..16 steps,
longer ones in the last bin); scale consistency (per melody, the largest share of its notes inside
one major scale, which also holds the relative minor; averaged); pitch range (highest minus lowest
pitch per melody, averaged); the empty-beat rate (beats, or 0.4 s steps in the paper encoding,
in which nothing sounds); and the share of monophonic melodies (no overlapping notes).

Two distributions are compared by KL(reference || generated), with both smoothed by 1e-6 so a
collapsed generator gets a large but finite number, and by their overlap, sum of min(p, q) (1 for
identical distributions, 0 for disjoint ones). Every statistic is defined for degenerate input: a
set with no notes has all-zero distributions and NaN averages, never an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from seqgan_music.corpora.corpus import Corpus
from seqgan_music.corpora.encodings import Grid16
from seqgan_music.corpora.melody import Melody, Note
from seqgan_music.evaluation.mse import pitch_tracks

INTERVAL_LIMIT = 12  # intervals beyond an octave fall in the outermost bins
LONGEST_NOTE = 16  # note lengths in steps; 16 or more share the last bin
SMOOTHING = 1e-6
_MAJOR = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], dtype=np.float64)
SCALES = np.stack([np.roll(_MAJOR, tonic) for tonic in range(12)])  # (12 tonics, 12 pitch classes)


@dataclass(frozen=True)
class MusicStats:
    """Statistics of one set of windows; the arrays are shares that sum to 1 (or all 0: no notes)."""

    melodies: int
    empty_melodies: int  # windows without a single note
    notes: int
    pitch_classes: np.ndarray  # (12,) C, C#, ..., B
    intervals: np.ndarray  # (25,) -12..+12 semitones between consecutive notes
    note_lengths: np.ndarray  # (16,) 1..16 steps
    scale_consistency: float
    pitch_range: float
    empty_beat_rate: float
    monophonic: float

    def to_dict(self) -> dict:
        """Plain JSON-ready values."""
        return {k: (v.round(6).tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}


def music_stats(windows: np.ndarray, corpus: Corpus) -> MusicStats:
    """The statistics of token windows (N, T) of a music corpus."""
    if not corpus.is_music:
        raise ValueError(f"corpus {corpus.name!r} is not music: music statistics need a MIDI or folk corpus")
    windows = np.asarray(windows, dtype=np.int64).reshape(len(windows), -1)
    melodies = [corpus.decode(row) for row in windows]
    beats_per_step = _beats_per_step(corpus)
    pitch_classes, intervals, lengths = np.zeros(12), np.zeros(2 * INTERVAL_LIMIT + 1), np.zeros(LONGEST_NOTE)
    consistency, ranges, monophonic = [], [], []
    for melody in melodies:
        notes = sorted(melody.notes, key=lambda note: note.start)
        monophonic.append(all(a.end <= b.start + 1e-9 for a, b in zip(notes, notes[1:])))
        if not notes:
            continue
        pitches = np.array([note.pitch for note in notes])
        counts = np.bincount(pitches % 12, minlength=12).astype(np.float64)
        pitch_classes += counts
        lengths += note_length_counts(notes, beats_per_step)
        intervals += np.bincount(np.clip(np.diff(pitches), -INTERVAL_LIMIT, INTERVAL_LIMIT) + INTERVAL_LIMIT,
                                 minlength=2 * INTERVAL_LIMIT + 1)
        consistency.append(float((SCALES @ counts).max() / counts.sum()))
        ranges.append(float(pitches.max() - pitches.min()))
    return MusicStats(
        melodies=len(melodies), empty_melodies=len(melodies) - len(consistency),
        notes=int(pitch_classes.sum()), pitch_classes=_shares(pitch_classes), intervals=_shares(intervals),
        note_lengths=_shares(lengths), scale_consistency=_mean(consistency), pitch_range=_mean(ranges),
        empty_beat_rate=_empty_beat_rate(windows, corpus, beats_per_step), monophonic=_mean(monophonic))


def note_length_counts(notes: Sequence[Note], beats_per_step: float = 0.25) -> np.ndarray:
    """(LONGEST_NOTE,) how many notes last 1, 2, ... 16 or more steps."""
    if not notes:
        return np.zeros(LONGEST_NOTE)
    steps = np.rint(np.array([note.end - note.start for note in notes]) / beats_per_step).astype(int)
    return np.bincount(np.clip(steps, 1, LONGEST_NOTE) - 1, minlength=LONGEST_NOTE).astype(np.float64)


def note_length_shares(melodies: Sequence[Melody], beats_per_step: float = 0.25) -> np.ndarray:
    """The note-length distribution (LONGEST_NOTE,) of whole melodies (sixteenth steps by default)."""
    counts = sum((note_length_counts(melody.notes, beats_per_step) for melody in melodies), np.zeros(LONGEST_NOTE))
    return _shares(counts)


def histogram_distance(reference: np.ndarray, generated: np.ndarray) -> tuple[float, float]:
    """(KL(reference || generated) in nats with 1e-6 smoothing, overlap sum(min(p, q)))."""
    p, q = _smoothed(reference), _smoothed(generated)
    return float(np.sum(p * np.log(p / q))), float(np.minimum(reference, generated).sum())


def compare_stats(generated: MusicStats, reference: MusicStats) -> dict[str, float]:
    """The generated set's distances to the reference set and the differences of the averages."""
    result: dict[str, float] = {}
    for name in ("pitch_classes", "intervals", "note_lengths"):
        kl, overlap = histogram_distance(getattr(reference, name), getattr(generated, name))
        result[f"{name}_kl"], result[f"{name}_overlap"] = kl, overlap
    for name in ("scale_consistency", "pitch_range", "empty_beat_rate", "monophonic"):
        result[f"{name}_difference"] = getattr(generated, name) - getattr(reference, name)
    return result


def _beats_per_step(corpus: Corpus) -> float:
    encoding = corpus.encoding
    return 0.25 if isinstance(encoding, Grid16) else float(encoding.step_seconds) * 2.0  # paper: decoded at 120 bpm


def _empty_beat_rate(windows: np.ndarray, corpus: Corpus, beats_per_step: float) -> float:
    """Share of beats (grid16: 4 steps; paper: each step) in which no step sounds."""
    tracks, lengths = pitch_tracks(windows, corpus.vocabulary.tokens)
    per_beat = max(1, round(1.0 / beats_per_step))
    empty = total = 0
    for track, length in zip(tracks, lengths):
        beats = -(-int(length) // per_beat)
        if beats == 0:
            continue
        padded = np.full(beats * per_beat, np.nan)
        padded[:length] = track[:length]
        silent = np.isnan(padded.reshape(beats, per_beat)).all(axis=1)
        empty, total = empty + int(silent.sum()), total + beats
    return empty / total if total else float("nan")


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts)


def _smoothed(distribution: np.ndarray) -> np.ndarray:
    smoothed = np.asarray(distribution, dtype=np.float64) + SMOOTHING
    return smoothed / smoothed.sum()


def _mean(values: list) -> float:
    return float(np.mean(values)) if values else float("nan")

