"""A simple chord track: one triad per bar from the melody's key, so a tune can be played as a folk
lead sheet (a melody with chord symbols) or heard with an accompaniment.

Each bar gets the diatonic triad covering most of its melody, weighted by duration and doubled
for notes that start on a beat. Ties go to the common folk chords: I, IV and V (i, iv, v or V in
minor), then the other major triads (VII and III in minor, bVII in mixolydian), then minor ones,
then diminished ones. The first and last bars are the tonic so the tune starts and ends at home;
a bar with no notes keeps the chord before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from seqgan_music.corpora.keys import estimate_key
from seqgan_music.corpora.melody import Key, Melody, Note, played_spans
from seqgan_music.export.notation import bar_spans, beat_length, spell

_INTERVALS = {"major": (0, 4, 7), "minor": (0, 3, 7), "diminished": (0, 3, 6)}
_QUALITY = {intervals[1:]: quality for quality, intervals in _INTERVALS.items()}  # (third, fifth) ->
_SUFFIX = {"major": "", "minor": "m", "diminished": "dim"}
_MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
_PRIMARY_DEGREES = (0, 3, 4)  # tonic, subdominant, dominant (0-based scale degrees)
_LOWEST_VOICE = 52  # E3: every triad is voiced within E3..D#4, so chord changes move little
_ON_BEAT_WEIGHT = 2.0


@dataclass(frozen=True)
class Chord:
    """A triad held from `start` to `end` (beats); `root` is a pitch class 0-11."""

    root: int
    quality: str  # "major" | "minor" | "diminished"
    start: float
    end: float

    def __post_init__(self) -> None:
        if self.quality not in _INTERVALS:
            raise ValueError(f"unknown chord quality {self.quality!r}: expected one of {', '.join(_INTERVALS)}")

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root + interval) % 12 for interval in _INTERVALS[self.quality])

    def symbol(self, key: Key | None) -> str:
        """The lead-sheet name ("G", "F#m", "Bb", "Bdim"), its root spelled in the key's signature;
        without a key, as in the chord's own major or minor key (Bb not A#, C#m not Dbm)."""
        if key is None:
            key = Key.from_tonic(self.root, "major" if self.quality == "major" else "minor")
        letter, alteration = spell(self.root, key.fifths)
        return letter + {-1: "b", 0: "", 1: "#"}[alteration] + _SUFFIX[self.quality]

    def pitches(self) -> list[int]:
        """MIDI pitches of a closed triad in one low octave (root position or an inversion)."""
        return sorted(_LOWEST_VOICE + (pc - _LOWEST_VOICE) % 12 for pc in self.pitch_classes)


def harmonise(melody: Melody) -> list[Chord]:
    """One chord per bar (a pickup counts as a bar); no chords for a melody without notes."""
    spans = bar_spans(melody)
    if not spans:
        return []
    key = melody.key or estimate_key(melody.notes)
    candidates = diatonic_triads(key)
    tonic = candidates[0]
    beat = beat_length(melody.meter)
    chosen: list[tuple[int, str]] = []
    for index, (start, end) in enumerate(spans):
        anchor = end if index == 0 else start  # a pickup's beats count back from the first bar line
        weights = _pitch_class_weights(melody.notes, start, end, anchor, beat)
        if index in (0, len(spans) - 1):
            chosen.append(tonic)
        elif not weights.any():
            chosen.append(chosen[-1])
        else:  # max keeps the first of equal scores, and candidates are in order of preference
            chosen.append(max(candidates, key=lambda c: round(_fit(c, weights), 9)))
    return [Chord(root, quality, start, end) for (root, quality), (start, end) in zip(chosen, spans)]


def played_chords(melody: Melody, chords: Sequence[Chord]) -> list[Chord]:
    """The chords of a melody with repeat marks where they sound once its repeats are played out
    (`corpora.melody.played_out`); as given for a melody without."""
    if melody.repeat_marks is None:
        return list(chords)
    played = []
    for span in played_spans(melody):
        shift = span.at - span.start
        for chord in chords:
            start, end = max(chord.start, span.start), min(chord.end, span.end)
            if end - start > 1e-9:
                played.append(replace(chord, start=start + shift, end=end + shift))
    return played


def diatonic_triads(key: Key) -> list[tuple[int, str]]:
    """(root, quality) of the triads on the key's scale degrees, most common in folk harmony first.

    The scale is the key's mode from its tonic (D dorian: D E F G A B C). A minor key also offers
    the major dominant (E major in A minor), after the natural minor v.
    """
    major_tonic = (key.fifths * 7) % 12
    tonic = key.tonic_pitch_class
    scale = sorted((major_tonic + step - tonic) % 12 for step in _MAJOR_SCALE)
    triads = []
    for degree in range(7):
        third, fifth = ((scale[(degree + k) % 7] - scale[degree]) % 12 for k in (2, 4))
        triads.append((degree, (tonic + scale[degree]) % 12, _QUALITY[third, fifth]))
    if key.mode == "minor":
        triads.append((4, (tonic + 7) % 12, "major"))

    def rank(triad: tuple[int, int, str]) -> int:
        degree, _, quality = triad
        return 0 if degree in _PRIMARY_DEGREES else 1 + list(_INTERVALS).index(quality)

    return [(root, quality) for _, root, quality in sorted(triads, key=rank)]


def _fit(chord: tuple[int, str], weights: np.ndarray) -> float:
    """The weighted share of the bar's melody on chord tones."""
    root, quality = chord
    return float(sum(weights[(root + i) % 12] for i in _INTERVALS[quality]) / weights.sum())


def _pitch_class_weights(notes: list[Note], start: float, end: float, anchor: float, beat: float) -> np.ndarray:
    """Duration of each pitch class sounding in [start, end), doubled where it starts on a beat."""
    weights = np.zeros(12)
    for note in notes:
        onset, offset = max(note.start, start), min(note.end, end)
        if offset - onset <= 1e-9:
            continue
        beats = (onset - anchor) / beat
        on_beat = abs(beats - round(beats)) < 1e-6
        weights[note.pitch % 12] += (offset - onset) * (_ON_BEAT_WEIGHT if on_beat else 1.0)
    return weights
