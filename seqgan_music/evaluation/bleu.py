"""BLEU and self-BLEU of token sequences against a whole reference set, vectorized with numpy.

Definitions follow nltk's `sentence_bleu` exactly (what Texygen and the SeqGAN papers report):
for n = 1..N, the clipped precision p_n = sum over the candidate's distinct n-grams of
min(count in the candidate, max count in any one reference) / max(1, number of candidate n-grams);
BLEU-N = BP * exp(sum_n log(p_n) / N), with the brevity penalty BP = exp(1 - r / c) when the
candidate length c is at most r, the reference length closest to c (the shorter on a tie), else 1.
A candidate with no matching unigram scores 0. Smoothing "method1" (Chen & Cherry; nltk's
SmoothingFunction().method1, the default) replaces a zero numerator by 0.1; "none" scores 0
whenever some p_n is 0.

Speed: n-grams get integer ids order by order (an n-gram is its (n-1)-gram prefix's id and its
last token), dense over the references, so no code overflows whatever the vocabulary. The maximum
count of every id over the references is computed once, so the cost grows with the number of
candidates, not candidates x references. Self-BLEU scores each sample against all the others,
never itself: for every n-gram it keeps the largest and second-largest count over the samples
and which sample holds the largest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SMOOTHINGS = ("method1", "none")
SMOOTHING_EPSILON = 0.1  # nltk's SmoothingFunction().method1
ABSENT = -1  # the id of an n-gram no reference holds (it can never match)

Sequences = Sequence[Sequence[int]] | np.ndarray


def bleu(candidates: Sequences, references: Sequences, n: int = 4, smoothing: str = "method1") -> np.ndarray:
    """BLEU-n of each candidate against the whole reference set, (C,) floats in [0, 1]."""
    return BleuReferences(references, n).scores(candidates, n, smoothing)


def self_bleu(samples: Sequences, n: int = 4, smoothing: str = "method1") -> np.ndarray:
    """BLEU-n of each sample against all the other samples (never itself), (S,) floats."""
    _check_order(n, smoothing)
    tokens, lengths = _padded(samples, "sample")
    if len(tokens) < 2:
        raise ValueError("self-BLEU needs at least two samples")
    vocabulary = np.unique(tokens[tokens != ABSENT])
    ids, _ = _ngram_ids(_lookup(tokens, vocabulary), n, len(vocabulary))
    numerators = np.stack([_clipped_matches(order_ids, _max_over_others(order_ids)) for order_ids in ids])
    return _combine(numerators, lengths, _nearest_other_lengths(lengths), smoothing)


def content_rows(windows: Sequences, end: int | None, pad: int | None) -> list[np.ndarray]:
    """Each window's tokens before its first `end` token, without `pad`: what BLEU reads."""
    rows = []
    for row in np.asarray(windows, dtype=np.int64):
        if end is not None and (ends := np.flatnonzero(row == end)).size:
            row = row[:ends[0]]
        rows.append(row[row != pad] if pad is not None else row)
    return rows


class BleuReferences:
    """A reference set prepared once (n-gram ids and max counts up to `max_n`) for many candidate sets."""

    def __init__(self, references: Sequences, max_n: int = 5) -> None:
        if max_n < 1:
            raise ValueError(f"max_n must be >= 1, got {max_n}")
        tokens, lengths = _padded(references, "reference")
        self.max_n = max_n
        self.lengths = np.unique(lengths)  # (U,) distinct reference lengths, sorted
        self.tokens = np.unique(tokens[tokens != ABSENT])  # (V,) distinct reference tokens: the token ids
        ids, self.vocabularies = _ngram_ids(_lookup(tokens, self.tokens), max_n, len(self.tokens))
        self.max_counts = [_max_count_per_id(order_ids) for order_ids in ids]  # per order: (ids,)

    def scores(self, candidates: Sequences, n: int = 4, smoothing: str = "method1") -> np.ndarray:
        """BLEU-n (n <= max_n) of each candidate, (C,) floats."""
        _check_order(n, smoothing)
        if n > self.max_n:
            raise ValueError(f"these references were prepared up to BLEU-{self.max_n}, not BLEU-{n}")
        tokens, lengths = _padded(candidates, "candidate")
        ids, _ = _ngram_ids(_lookup(tokens, self.tokens), n, len(self.tokens), self.vocabularies)
        numerators = np.stack([_clipped_matches(order_ids, lambda rows, found, counts=counts: counts[found])
                               for order_ids, counts in zip(ids, self.max_counts)])
        return _combine(numerators, lengths, _nearest_lengths(lengths, self.lengths), smoothing)


# ----------------------------------------------------------------------------------------- n-grams
def _check_order(n: int, smoothing: str) -> None:
    if n < 1:
        raise ValueError(f"BLEU order n must be >= 1, got {n}")
    if smoothing not in SMOOTHINGS:
        raise ValueError(f"smoothing must be one of {', '.join(SMOOTHINGS)}, got {smoothing!r}")


def _padded(sequences: Sequences, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(S, L) int64 tokens, ABSENT after each sequence's end, and the lengths (S,)."""
    if isinstance(sequences, np.ndarray) and sequences.ndim == 2:
        tokens = sequences.astype(np.int64)
        lengths = np.full(len(tokens), tokens.shape[1], dtype=np.int64)
    else:
        rows = [np.asarray(row, dtype=np.int64).reshape(-1) for row in sequences]
        lengths = np.array([len(row) for row in rows], dtype=np.int64)
        tokens = np.full((len(rows), int(lengths.max(initial=0))), ABSENT, dtype=np.int64)
        for index, row in enumerate(rows):
            tokens[index, :len(row)] = row
    if len(tokens) == 0:
        raise ValueError(f"BLEU needs at least one {what} sequence")
    inside = np.arange(tokens.shape[1]) < lengths[:, None]  # (S, L)
    if (tokens[inside] < 0).any():
        raise ValueError(f"{what} tokens must be non-negative integer ids")
    return tokens, lengths


def _lookup(codes: np.ndarray, vocabulary: np.ndarray) -> np.ndarray:
    """Each code's index in the sorted `vocabulary`, ABSENT where it is not there (or is ABSENT)."""
    if len(vocabulary) == 0:
        return np.full(codes.shape, ABSENT, dtype=np.int64)
    position = np.minimum(np.searchsorted(vocabulary, codes), len(vocabulary) - 1)
    return np.where((vocabulary[position] == codes) & (codes != ABSENT), position, ABSENT)


def _ngram_ids(token_ids: np.ndarray, max_n: int, base: int,
               vocabularies: list[np.ndarray] | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per order 1..max_n, the id (S, L - n + 1) of the n-gram starting at each position.

    An n-gram's code is its (n-1)-gram prefix's id * base + its last token's id; its id is the
    code's index among `vocabularies[n-1]` (sorted codes). Without vocabularies they are built from
    these sequences (the references) and returned; with them, an n-gram they lack gets ABSENT.
    """
    ids, built = [token_ids], [np.arange(base, dtype=np.int64)]
    for order in range(2, max_n + 1):
        width = max(token_ids.shape[1] - order + 1, 0)
        prefix, last = ids[-1][:, :width], token_ids[:, order - 1:]  # (S, W) each
        codes = np.where((prefix != ABSENT) & (last != ABSENT), prefix * base + last, ABSENT)  # (S, W)
        vocabulary = np.unique(codes[codes != ABSENT]) if vocabularies is None else vocabularies[order - 1]
        ids.append(_lookup(codes, vocabulary))
        built.append(vocabulary)
    return ids, built


def _counts(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How often each id occurs in each row: (rows, ids, counts) of every present pair."""
    size = int(ids.max(initial=ABSENT)) + 1
    rows, columns = np.nonzero(ids != ABSENT)
    keys, counts = np.unique(rows * size + ids[rows, columns], return_counts=True)
    return keys // max(size, 1), keys % max(size, 1), counts


def _max_count_per_id(ids: np.ndarray) -> np.ndarray:
    """(ids,) the largest count of each id in any one row."""
    _, which, counts = _counts(ids)
    result = np.zeros(int(ids.max(initial=ABSENT)) + 1, dtype=np.int64)
    np.maximum.at(result, which, counts)
    return result


def _max_over_others(ids: np.ndarray):
    """For self-BLEU: a function (rows, ids) -> the largest count of each id in any OTHER row."""
    rows, which, counts = _counts(ids)
    size = int(ids.max(initial=ABSENT)) + 1
    first, second, holder = (np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.int64),
                             np.full(size, ABSENT, dtype=np.int64))
    order = np.lexsort((-counts, which))  # by id, the largest count first
    rows, which, counts = rows[order], which[order], counts[order]
    starts = np.flatnonzero(np.r_[True, which[1:] != which[:-1]]) if len(which) else which  # first of each id
    first[which[starts]], holder[which[starts]] = counts[starts], rows[starts]
    runners = starts[(starts + 1 < len(which))]
    runners = runners[which[np.minimum(runners + 1, len(which) - 1)] == which[runners]]
    second[which[runners]] = counts[runners + 1]
    return lambda candidate_rows, found: np.where(holder[found] == candidate_rows, second[found], first[found])


def _clipped_matches(ids: np.ndarray, max_reference_count) -> np.ndarray:
    """(C,) sum over each row's distinct n-grams of min(count in the row, max_reference_count)."""
    rows, which, counts = _counts(ids)
    clipped = np.minimum(counts, max_reference_count(rows, which)) if len(rows) else counts
    return np.bincount(rows, weights=clipped, minlength=len(ids)).astype(np.int64)


# ------------------------------------------------------------------------------ lengths and scores
def _nearest_lengths(lengths: np.ndarray, reference_lengths: np.ndarray) -> np.ndarray:
    """(C,) the reference length closest to each candidate's, the shorter on a tie (as nltk)."""
    distance = 2 * np.abs(reference_lengths[None, :] - lengths[:, None]) + (reference_lengths[None, :] > lengths[:, None])
    return reference_lengths[np.argmin(distance, axis=1)]


def _nearest_other_lengths(lengths: np.ndarray) -> np.ndarray:
    """(S,) for self-BLEU: the closest length among the OTHER samples."""
    distinct, multiplicity = np.unique(lengths, return_counts=True)  # (U,)
    own = distinct[None, :] == lengths[:, None]  # (S, U)
    available = multiplicity[None, :] - own > 0
    distance = 2 * np.abs(distinct[None, :] - lengths[:, None]) + (distinct[None, :] > lengths[:, None])
    return distinct[np.argmin(np.where(available, distance, np.iinfo(np.int64).max), axis=1)]


def _combine(numerators: np.ndarray, lengths: np.ndarray, reference_lengths: np.ndarray,
             smoothing: str) -> np.ndarray:
    """BLEU from the clipped match counts (n, C): geometric mean of the precisions times BP."""
    orders = np.arange(1, len(numerators) + 1)[:, None]  # (n, 1)
    denominators = np.maximum(1, lengths[None, :] - orders + 1)  # (n, C)
    missing = numerators == 0
    smoothed = np.where(missing, SMOOTHING_EPSILON, numerators) if smoothing == "method1" else numerators
    with np.errstate(divide="ignore"):
        log_precision = np.log(smoothed / denominators).mean(axis=0)  # (C,)
    candidate = lengths.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        brevity = np.where(candidate > reference_lengths, 1.0, np.exp(1.0 - reference_lengths / candidate))
    scores = np.where(candidate == 0, 0.0, brevity * np.exp(log_precision))
    scores[missing[0]] = 0.0  # no matching unigram: 0, before any smoothing (as nltk)
    if smoothing == "none":
        scores[missing.any(axis=0)] = 0.0
    return scores
