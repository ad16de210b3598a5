"""MSE for music: how far each generated melody is from its nearest real melody, in semitones.

The SeqGAN paper reports an MSE for Nottingham without a formula; ours, stated once here and in
the README: a token window becomes a pitch track with one value per time step (a pitch token
sounds, HOLD keeps the previous pitch sounding, REST is silence, BAR and <pad> take no step, <end>
ends the track). The distance of a generated track c to a real track r is the mean over c's steps
of (c_t - r_t)^2 when both sound, SILENCE_MISMATCH (144, an octave squared) when exactly one is
silent, and 0 when both are; r is silent after its end. A generated window's MSE is its distance to
the nearest track of the reference set. Real held-out windows scored against the training set give
the same number for real music, the scale every generated figure is read against.

All candidate x reference distances come from a few matrix products (the squares expand into
c^2, c r and r^2 terms over the steps where both sound), a chunk of candidates at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seqgan_music.corpora.encodings import HOLD, token_pitch
from seqgan_music.evaluation.steps import step_tokens

SILENCE_MISMATCH = 144.0  # a note against silence costs as much as a note an octave off
_CHUNK = 256  # candidates per block of distances (bounds memory to chunk x references)


def pitch_tracks(windows: np.ndarray, symbols: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token windows (N, T) -> pitch tracks (N, S) float64 (NaN: silence, also past the end) and
    their step counts (N,). `symbols` are the vocabulary's tokens in id order."""
    compact, lengths = step_tokens(windows, symbols)  # (N, T), (N,)
    pitch_of = np.array([_pitch(s) for s in symbols], dtype=np.float64)  # (V,) NaN for non-pitches
    holds = np.array([s == HOLD for s in symbols])
    inside = np.arange(compact.shape[1])[None, :] < lengths[:, None]  # (N, T)
    position = np.arange(compact.shape[1])[None, :].repeat(len(compact), axis=0)
    # A HOLD takes the value of the last step that was not a HOLD (silence if there is none).
    anchor = np.maximum.accumulate(np.where(holds[compact] & inside, -1, position), axis=1)  # (N, T)
    values = pitch_of[compact]
    held = np.where(anchor >= 0, np.take_along_axis(values, np.maximum(anchor, 0), axis=1), np.nan)
    tracks = np.where(inside, held, np.nan)
    return tracks[:, :max(int(lengths.max(initial=0)), 1)], lengths


def nearest_mse(candidates: np.ndarray, references: np.ndarray, symbols: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each candidate window's MSE to its nearest reference window, (C,) float64 (NaN for a window
    with no time step), and the index (C,) of that reference."""
    cand, cand_len = pitch_tracks(candidates, symbols)
    ref, _ = pitch_tracks(references, symbols)
    if len(ref) == 0:
        raise ValueError("MSE needs at least one reference window")
    width = max(cand.shape[1], ref.shape[1])
    cand, ref = _widen(cand, width), _widen(ref, width)
    ref_sounds = (~np.isnan(ref)).astype(np.float64)  # (R, S) 1 where the reference sounds
    ref_values = np.nan_to_num(ref)  # (R, S), 0 where silent
    ref_squares = ref_values ** 2
    best = np.full(len(cand), np.nan)
    nearest = np.full(len(cand), -1, dtype=np.int64)
    for first in range(0, len(cand), _CHUNK):
        block = slice(first, first + _CHUNK)
        sounds = (~np.isnan(cand[block])).astype(np.float64)  # (c, S)
        values = np.nan_to_num(cand[block])
        valid = (np.arange(width)[None, :] < cand_len[block, None]).astype(np.float64)  # (c, S)
        both = sounds @ ref_sounds.T  # (c, R) steps where both sound
        squares = (values ** 2) @ ref_sounds.T + sounds @ ref_squares.T - 2.0 * values @ ref_values.T  # (c, R)
        one_silent = sounds.sum(axis=1, keepdims=True) + valid @ ref_sounds.T - 2.0 * both  # (c, R)
        with np.errstate(invalid="ignore", divide="ignore"):
            distance = (np.maximum(squares, 0.0) + SILENCE_MISMATCH * one_silent) / cand_len[block, None]
        nearest[block] = np.argmin(distance, axis=1)
        best[block] = np.take_along_axis(distance, nearest[block, None], axis=1)[:, 0]
    empty = cand_len == 0
    best[empty], nearest[empty] = np.nan, -1
    return best, nearest


def _pitch(symbol: str) -> float:
    pitch = token_pitch(symbol)
    return np.nan if pitch is None else float(pitch)


def _widen(tracks: np.ndarray, width: int) -> np.ndarray:
    """Pad tracks with silence (NaN) on the right up to `width` steps."""
    return np.pad(tracks, ((0, 0), (0, width - tracks.shape[1])), constant_values=np.nan)
