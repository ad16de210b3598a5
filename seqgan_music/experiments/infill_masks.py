"""The in-filling experiment's masks: which held-out tokens every row must write again.

Drawn once from the test split and the seed, before any model is read, so every row fills the same
gaps. A mask is `keep` (n, T) bool over the test items padded to one length: True where the token
stays (it is context, and comes back unchanged), False where it is written again.

- Music (whole tunes, grid16): the steps of notated bars `first`..`last` (bars numbered from 1 as
  written; the pickup before the first bar line is bar 0), or of as many bars drawn at random from
  the whole tune. Bar lines and the structure tokens (PART, REPEAT, endings) stay, so a filled bar
  is a bar of the same length; tunes with fewer than `last` + 1 bars (no bar after the gap) are left
  out of both kinds, so both read the same tunes.
- Text: one contiguous span of round(rate * L) of a caption's L words (at least one, fewer than
  all), at a uniform place; its end token and padding stay. Captions of one word are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqgan_music.corpora.corpus import Corpus
from seqgan_music.corpora.encodings import BAR, HOLD, REST, token_pitch
from seqgan_music.errors import SeqganError


@dataclass(frozen=True)
class MaskedSet:
    """Held-out items and what is masked in them: `tokens` (n, T) real ids padded with `pad`,
    `keep` (n, T) bool, `items` (n,) each row's index in the test split, and `banned` (V,) bool:
    the tokens a gap may not hold (bar lines, structure and header tokens in a bar; the end and
    padding in a caption), the same for every row."""

    kind: str
    tokens: np.ndarray
    keep: np.ndarray
    items: np.ndarray
    banned: np.ndarray

    def real_spans(self) -> list[np.ndarray]:
        """Each item's masked tokens, in order: what its fill is scored against."""
        return [row[~keep] for row, keep in zip(self.tokens, self.keep)]


def step_tokens(corpus: Corpus) -> np.ndarray:
    """(V,) bool: the grid16 step tokens (a pitch, HOLD or REST), what a bar's steps may be."""
    return np.array([symbol in (HOLD, REST) or token_pitch(symbol) is not None for symbol in corpus.vocabulary.tokens])


def padded_rows(sequences: Sequence[np.ndarray], pad: int) -> np.ndarray:
    """Sequences of any lengths as one (n, longest) int64 array, `pad` after each."""
    longest = max((len(row) for row in sequences), default=1)
    rows = np.full((len(sequences), longest), pad, dtype=np.int64)
    for index, row in enumerate(sequences):
        rows[index, :len(row)] = row
    return rows


def bar_steps(ids: np.ndarray, is_step: np.ndarray, bar: int) -> list[tuple[int, int]]:
    """The [start, stop) positions of the steps of every notated bar of a tune's `ids`, bar 1 first
    (each BAR token opens one; its steps run to the next token that is not a step)."""
    spans = []
    for position in np.flatnonzero(ids == bar):
        stop = position + 1
        while stop < len(ids) and is_step[ids[stop]]:
            stop += 1
        spans.append((int(position) + 1, int(stop)))
    return spans


def music_masks(corpus: Corpus, kind: str, first: int, last: int, seed: int, items: int = 0) -> MaskedSet:
    """`kind` "bars": bars `first`..`last` of every test tune with a bar after them masked;
    "random-bars": as many bars (last - first + 1) drawn uniformly without replacement from each
    of those tunes (by `seed`). `items` > 0: that many tunes (the first ones eligible)."""
    if not corpus.tune_sequences.get("test"):
        raise SeqganError(f"corpus {corpus.name!r} has no held-out whole tunes: build it from music (grid16) "
                          "with a test split")
    if not 1 <= first <= last:
        raise SeqganError(f"bars {first}-{last}: give bars from 1 (the pickup, bar 0, has no fixed length)")
    vocabulary = corpus.vocabulary
    is_step = step_tokens(corpus)
    bar = vocabulary.id(BAR)
    tunes = corpus.tune_sequences["test"]
    spans = [bar_steps(np.asarray(ids), is_step, bar) for ids in tunes]
    eligible = [index for index, bars in enumerate(spans) if len(bars) > last]
    if items:
        eligible = eligible[:items]
    if not eligible:
        raise SeqganError(f"no held-out tune of corpus {corpus.name!r} has more than {last} bars to mask bars {first}-{last} in")
    pad = vocabulary.pad if vocabulary.pad is not None else vocabulary.end
    tokens = padded_rows([tunes[index] for index in eligible], pad)
    keep = np.ones(tokens.shape, dtype=bool)
    rng = np.random.default_rng(seed)
    count = last - first + 1
    for row, index in enumerate(eligible):
        if kind == "bars":
            chosen = range(first - 1, last)
        elif kind == "random-bars":
            chosen = rng.choice(len(spans[index]), size=count, replace=False)
        else:
            raise SeqganError(f"unknown music mask {kind!r}: bars or random-bars")
        for number in chosen:
            start, stop = spans[index][number]
            keep[row, start:stop] = False
    return MaskedSet(kind, tokens, keep, np.asarray(eligible), ~is_step)


def text_masks(corpus: Corpus, rate: float, seed: int, items: int = 0) -> MaskedSet:
    """One contiguous span of round(`rate` * L) words (at least 1, at most L - 1) of `items` test
    captions drawn by `seed` (0: every caption), at a uniform place in each."""
    if not 0 < rate < 1:
        raise SeqganError(f"the text mask rate must be in (0, 1), got {rate}")
    vocabulary = corpus.vocabulary
    captions = np.asarray(corpus.splits["test"], dtype=np.int64)
    lengths = np.array([_content_length(row, vocabulary.end, vocabulary.pad) for row in captions])
    eligible = np.flatnonzero(lengths >= 2)
    if not len(eligible):
        raise SeqganError(f"corpus {corpus.name!r} has no held-out caption of two words or more to mask")
    rng = np.random.default_rng(seed)
    if items and items < len(eligible):
        eligible = np.sort(rng.choice(eligible, size=items, replace=False))
    tokens = captions[eligible]
    keep = np.ones(tokens.shape, dtype=bool)
    for row, length in enumerate(lengths[eligible]):
        span = int(min(max(round(rate * length), 1), length - 1))
        start = int(rng.integers(0, length - span + 1))
        keep[row, start:start + span] = False
    banned = np.zeros(len(vocabulary), dtype=bool)
    for special in (vocabulary.end, vocabulary.pad):
        if special is not None:
            banned[special] = True
    return MaskedSet("span", tokens, keep, eligible, banned)


def _content_length(row: np.ndarray, end: int | None, pad: int | None) -> int:
    """How many words come before the caption's end token (or its padding)."""
    stops = np.flatnonzero(np.isin(row, [special for special in (end, pad) if special is not None]))
    return int(stops[0]) if len(stops) else len(row)
