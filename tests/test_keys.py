"""Key scores: the vectorised Pearson correlations against every rotated key profile are the ones a
plain per-key `np.corrcoef` gives, and the keys chosen from them the same, on the real Nottingham tunes."""

import numpy as np

from seqgan_music.corpora.corpus import Skipped
from seqgan_music.corpora.keys import _MAJOR, _MINOR, estimate_key, key_scores
from seqgan_music.corpora.melody import Key, Note


def reference_scores(notes: list[Note]) -> dict[tuple[int, str], float]:
    """One np.corrcoef per (tonic, mode), as key_scores computed them before it was vectorised."""
    histogram = np.zeros(12)
    for note in notes:
        histogram[note.pitch % 12] += max(note.end - note.start, 0.0)
    if not histogram.any():
        return {}
    return {(tonic, mode): float(np.corrcoef(histogram, np.roll(profile, tonic))[0, 1]) if histogram.std() > 0 else 0.0
            for mode, profile in (("major", _MAJOR), ("minor", _MINOR)) for tonic in range(12)}


def reference_key(notes: list[Note]) -> Key:
    """The first key, major tonics 0-11 then minor 0-11, that beats every earlier one by more than 1e-12."""
    scores = reference_scores(notes)
    best_score, best = -np.inf, (0, "major")
    for (tonic, mode), score in scores.items():
        if score > best_score + 1e-12:
            best_score, best = score, (tonic, mode)
    return Key.from_tonic(best[0], best[1], "estimated")


def test_key_scores_are_the_per_key_correlations_and_choose_the_same_keys_on_nottingham(nottingham_midi):
    melodies = [melody for melody in nottingham_midi if not isinstance(melody, Skipped)]
    assert len(melodies) > 800
    for melody in melodies:
        scores, expected = key_scores(melody.notes), reference_scores(melody.notes)
        assert list(scores) == list(expected), melody.source
        assert np.allclose(list(scores.values()), list(expected.values()), rtol=0, atol=1e-12), melody.source
        assert estimate_key(melody.notes) == reference_key(melody.notes), melody.source


def test_ties_and_empty_histograms_keep_their_rule():
    every_class_alike = [Note(60 + pitch, pitch, pitch + 1.0) for pitch in range(12)]
    assert set(key_scores(every_class_alike).values()) == {0.0}  # no spread: no correlation, every key ties
    assert estimate_key(every_class_alike) == reference_key(every_class_alike) == Key(0, "major", "estimated")
    assert key_scores([Note(60, 1.0, 1.0)]) == {} and estimate_key([]) == Key(0, "major", "estimated")
    for classes in ((0, 6), (0, 4, 8), (2, 5, 8, 11)):  # a histogram that repeats itself: whole keys tie
        notes = [Note(60 + pitch, pitch, pitch + 1.0) for pitch in classes]
        scores = key_scores(notes)
        best = max(scores.values())
        tied = [key for key, score in scores.items() if score > best - 1e-12]
        assert len(tied) >= 2, classes
        chosen = estimate_key(notes)
        assert chosen == reference_key(notes) and (chosen.tonic_pitch_class, chosen.mode) == tied[0], classes
