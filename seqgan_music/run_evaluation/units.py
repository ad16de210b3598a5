"""What a run's samples and the real sets are, by the unit the run was trained on (`[data] unit`).

A window run samples windows; a whole-tune run samples whole tunes (header, parts, repeat signs,
`<end>`), as long as its longest training tune (`training.sequences.sample_length`). Each metric
reads the set in the form it is defined on:
- the form metrics read melodies as they are played: a tune parsed with `parse_tune_symbols` and
  its repeats played out (as training writes its samples), a window decoded by the corpus's
  encoding (its bar lines where its bar tokens stand);
- the C2ST and NLL_test read the run's own sequences: whole tunes, or windows;
- BLEU, self-BLEU, MSE, the music statistics and novelty are defined on windows, so a tune is
  played out and cut into windows exactly as the corpus cuts its tunes, and ONE of its windows
  (a seeded choice) stands for it: N tunes give N windows, each from another tune, so self-BLEU
  still measures diversity between tunes (windows of one AABB tune would repeat each other), and
  every window figure is read against the same real windows as a window run's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seqgan_music.corpora.corpus import Corpus
from seqgan_music.corpora.encodings import MusicEncoding
from seqgan_music.corpora.melody import Melody
from seqgan_music.corpora.tunes import parse_tune_symbols
from seqgan_music.corpora.windows import cut_windows
from seqgan_music.training.samples import common_meter


def played_melodies(corpus: Corpus, sequences: Sequence[Sequence[int]] | np.ndarray, unit: str) -> list[Melody]:
    """Each token sequence as the melody it plays: a whole tune with its repeats played out, or a
    window decoded by the corpus's encoding."""
    if unit == "tune":
        meter = common_meter(corpus)  # a tune without a meter token in its header is read in this one
        return [parse_tune_symbols(corpus.symbols(row), meter).melody(played=True) for row in sequences]
    encoding = corpus.encoding
    assert isinstance(encoding, MusicEncoding)
    return [encoding.decode(corpus.symbols(row)) for row in sequences]


def written_melodies(corpus: Corpus, sequences: Sequence[Sequence[int]] | np.ndarray, unit: str) -> list[Melody] | None:
    """Each whole tune as written (one pass, repeat signs kept), which the notated form metrics read;
    None for windows, whose notation is not known."""
    if unit != "tune":
        return None
    meter = common_meter(corpus)
    return [parse_tune_symbols(corpus.symbols(row), meter).melody(played=False) for row in sequences]


def ended(sequences: np.ndarray, end: int | None) -> list[np.ndarray]:
    """Sampled rows (N, T) as ragged sequences: each up to and including its first `<end>`."""
    if end is None:
        return list(sequences)
    rows = []
    for row in sequences:
        stops = np.flatnonzero(row == end)
        rows.append(row[:stops[0] + 1] if len(stops) else row)
    return rows


def window_per_tune(corpus: Corpus, melodies: Sequence[Melody], seed: int) -> np.ndarray:
    """(N, window length) ids: one window of each played tune, cut as the corpus cuts its tunes
    (at bar lines, the tail ended and padded), chosen by `seed`; a tune without notes gives an
    all-pad window (the end token first)."""
    encoding = corpus.encoding
    assert isinstance(encoding, MusicEncoding) and encoding.pads_tail  # whole tunes exist in grid16 only
    end, pad = corpus.vocabulary.end, corpus.vocabulary.pad
    empty = [end, *[pad] * (encoding.length - 1)]
    rng = np.random.default_rng(seed)
    chosen = []
    for melody in melodies:
        encoded = encoding.encode(melody)
        windows = cut_windows(corpus.vocabulary.ids(encoded.symbols), encoding.length, encoding.stride,
                              encoded.window_starts, end, pad) if encoded.symbols else []
        chosen.append(windows[rng.integers(len(windows))] if windows else empty)
    return np.asarray(chosen, dtype=np.int64).reshape(-1, encoding.length)


def real_sequences(corpus: Corpus, split: str, unit: str) -> list[np.ndarray] | np.ndarray:
    """The real sequences of `split` in the run's unit: its whole tunes, or its windows (N, T)."""
    if unit == "tune":
        return list(corpus.tune_sequences.get(split, []))
    return corpus.splits[split]


def chosen_rows(rows: Sequence[np.ndarray] | np.ndarray, count: int, seed: int) -> list[np.ndarray] | np.ndarray:
    """Up to `count` of `rows`, a seeded random choice in their order when there are more."""
    if len(rows) <= count:
        return rows
    picked = np.sort(np.random.default_rng(seed).choice(len(rows), count, replace=False))
    return rows[picked] if isinstance(rows, np.ndarray) else [rows[i] for i in picked]
