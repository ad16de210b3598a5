"""Keys as musicians type them ("D", "Em", "F# minor", "A dorian"), and the key a generated tune is in."""

from __future__ import annotations

import re

from seqgan_music.corpora.keys import estimate_key, key_scores
from seqgan_music.corpora.melody import KEY_MODES, MAJOR_LIKE, Key, Melody
from seqgan_music.errors import SeqganError

_TONICS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_MODE_WORDS = {"": "major", "maj": "major", "major": "major", "ion": "major", "ionian": "major",
               "m": "minor", "min": "minor", "minor": "minor", "aeo": "minor", "aeolian": "minor",
               "dor": "dorian", "phr": "phrygian", "lyd": "lydian", "mix": "mixolydian", "loc": "locrian",
               **{mode: mode for mode in KEY_MODES}}
_KEY_PATTERN = re.compile(r"^([A-Ga-g])([#b]?)\s*([A-Za-z]*)$")
# The modes folk tunes use, with their tonics in the plain (no sharps or flats) signature.
_FOLK_PLAIN_MODES = ((0, "major"), (2, "dorian"), (7, "mixolydian"), (9, "minor"))
_FINAL_BONUS = 0.3  # correlations lie in -1..1; ending on a tonic outweighs a small profile difference


def parse_key(text: str) -> Key:
    """'D', 'Em', 'F# minor', 'Bb', 'A dorian', 'G mix' -> Key; a one-line error for anything else."""
    match = _KEY_PATTERN.match(text.strip())
    mode = _MODE_WORDS.get(match.group(3).lower() if match else "")
    if not match or mode is None:
        raise SeqganError(f"invalid key {text!r}: give a tonic A-G with an optional # or b and a mode, "
                          "e.g. D, Em, F# minor, A dorian, G mixolydian")
    tonic = (_TONICS[match.group(1).upper()] + {"#": 1, "b": -1, "": 0}[match.group(2)]) % 12
    return Key.from_tonic(tonic, mode, "requested")


def tune_key(melody: Melody, plain_signature: bool) -> Key:
    """The key a generated tune is in.

    On a plain-signature model (tunes transposed to no sharps or flats) the candidates are the folk
    modes of that signature: C major, D dorian, G mixolydian, A minor. Each is scored by how well
    the notes fit its major or minor profile, plus a bonus when the longest note of the last bar
    is its tonic, as folk tunes end (without it, a C-major tune that dwells on E reads as E phrygian).
    """
    if not plain_signature:
        return estimate_key(melody.notes)
    scores = key_scores(melody.notes)
    if not scores:
        return Key(0, "major", "estimated")
    last_bar = melody.bars[-1] if melody.bars else 0.0
    closing = [n for n in melody.notes if n.start >= last_bar - 1e-9] or melody.notes[-1:]
    final = max(closing, key=lambda n: n.end - n.start).pitch % 12

    def score(tonic: int, mode: str) -> float:
        profile = "major" if mode in MAJOR_LIKE else "minor"
        return scores[tonic, profile] + (_FINAL_BONUS if final == tonic else 0.0)

    tonic, mode = max(_FOLK_PLAIN_MODES, key=lambda candidate: score(*candidate))
    return Key(0, mode, "estimated")


def mode_match(found: Key, wanted: Key) -> int:
    """2 for the same mode, 1 for the same family (major-like or minor-like), 0 otherwise."""
    if found.mode == wanted.mode:
        return 2
    return 1 if (found.mode in MAJOR_LIKE) == (wanted.mode in MAJOR_LIKE) else 0


def shift_between(source_tonic: int, target_tonic: int) -> int:
    """The transposition in -6..5 semitones that takes one tonic to the other."""
    shift = (target_tonic - source_tonic) % 12
    return shift - 12 if shift > 5 else shift
