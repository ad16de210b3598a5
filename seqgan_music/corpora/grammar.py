"""The ReGAN paper's toy grammar: `x` alternating with an operator, e.g. "x + x * x".

A task where the share of valid three-token windows (`goodness`) measures exactly how well a
generator learned the structure, with no reference corpus needed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from seqgan_music.corpora.corpus import Corpus, new_manifest
from seqgan_music.corpora.encodings import SymbolEncoding
from seqgan_music.corpora.split import SPLITS, SplitPlan
from seqgan_music.corpora.vocabulary import Vocabulary
from seqgan_music.errors import SeqganError

OPERAND = "x"
OPERATORS = ("+", "-", "*", "/")
TOKENS = (OPERAND, *OPERATORS)
LENGTHS = (3, 15)  # the paper's two settings


def build_grammar_corpus(name: str, length: int, count: int = 10_000, seed: int = 0,
                         plan: SplitPlan = SplitPlan()) -> Corpus:
    """`count` sequences "x op x op ... x" with operators drawn uniformly, split by sequence index."""
    started = time.perf_counter()
    if length not in LENGTHS:
        raise SeqganError(f"grammar length must be 3 or 15 (the ReGAN paper's settings), got {length}")
    if count < 1:
        raise SeqganError(f"--count must be at least 1, got {count}")
    vocabulary = Vocabulary(TOKENS)
    operator_ids = np.random.default_rng(seed).integers(1, len(TOKENS), size=(count, length // 2))
    sequences = np.full((count, length), vocabulary.id(OPERAND), dtype=np.int32)
    sequences[:, 1::2] = operator_ids
    owners: dict[str, list[int]] = {s: [] for s in SPLITS}
    for index in range(count):
        owners[plan.split_of(str(index))].append(index)
    splits = {s: sequences[owners[s]].reshape(-1, length) for s in SPLITS}
    if len(splits["train"]) == 0:
        raise SeqganError("the train split holds no sequences: use a larger --count")

    encoding = SymbolEncoding(separator=" ", length=length, level="token",
                              extras={"goodness": "valid windows of three tokens"})
    counts = {
        "sequences": count,
        "windows": {s: int(len(splits[s])) for s in SPLITS},
        "distinct_sequences": int(len(np.unique(sequences, axis=0))),
        "vocabulary": len(vocabulary),
        "goodness": goodness([[TOKENS[i] for i in row] for row in sequences]),
    }
    source = {"kind": "grammar", "length": length, "count": count, "seed": seed}
    split = {"method": "hash of each sequence's index", **plan.describe()}
    manifest = new_manifest(name, source, encoding, split, counts, [], time.perf_counter() - started)
    return Corpus(name, splits, vocabulary, encoding, manifest, [], {})


def goodness(sequences: Sequence[Sequence[str]]) -> float:
    """Mean over sequences of the share of three-token windows that are `x op x` or `op x op`.

    Sequences shorter than three tokens have no window and score 0; no sequences score 0.0.
    """
    if not sequences:
        return 0.0
    return sum(sequence_goodness(sequence) for sequence in sequences) / len(sequences)


def sequence_goodness(sequence: Sequence[str]) -> float:
    """The share of one sequence's three-token windows that are valid (0 with no window)."""
    windows = [tuple(sequence[i:i + 3]) for i in range(len(sequence) - 2)]
    return sum(_is_valid(w) for w in windows) / len(windows) if windows else 0.0


def _is_valid(window: tuple[str, ...]) -> bool:
    first, middle, last = window
    if first == OPERAND:
        return middle in OPERATORS and last == OPERAND
    return first in OPERATORS and middle == OPERAND and last in OPERATORS
