"""Key estimation from the notes, used only when a file stores no key signature (folk tunes are
often mislabelled by estimation, so a stored signature always wins)."""

from __future__ import annotations

import numpy as np

from seqgan_music.corpora.melody import Key, Note

# Krumhansl-Kessler key profiles, starting at the tonic.
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
# Every (tonic, mode) the scores cover, major tonics 0-11 then minor 0-11, and its rotated profile
# centred and scaled to unit length: a Pearson correlation with them is then one matrix product.
_KEYS = [(tonic, mode) for mode in ("major", "minor") for tonic in range(12)]
_PROFILES = np.stack([np.roll(_MAJOR if mode == "major" else _MINOR, tonic) for tonic, mode in _KEYS])
_PROFILES = _PROFILES - _PROFILES.mean(axis=1, keepdims=True)
_PROFILES /= np.linalg.norm(_PROFILES, axis=1, keepdims=True)


def estimate_key(notes: list[Note]) -> Key:
    """The major or minor key whose profile best correlates with the duration-weighted pitch classes."""
    scores = key_scores(notes)
    if not scores:
        return Key(0, "major", "estimated")
    best_score, best = -np.inf, (0, "major")
    for mode in ("major", "minor"):
        for tonic in range(12):
            if scores[tonic, mode] > best_score + 1e-12:
                best_score, best = scores[tonic, mode], (tonic, mode)
    return Key.from_tonic(best[0], best[1], "estimated")


def key_scores(notes: list[Note]) -> dict[tuple[int, str], float]:
    """Correlation of the duration-weighted pitch classes with every (tonic, "major"|"minor") profile;
    empty when there are no notes."""
    histogram = np.zeros(12)
    for note in notes:
        histogram[note.pitch % 12] += max(note.end - note.start, 0.0)
    if not histogram.any():
        return {}
    if histogram.std() == 0:
        return dict.fromkeys(_KEYS, 0.0)
    centred = histogram - histogram.mean()
    correlations = np.clip(_PROFILES @ (centred / np.linalg.norm(centred)), -1.0, 1.0)
    return dict(zip(_KEYS, correlations.tolist()))
