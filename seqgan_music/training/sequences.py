"""What a run trains on: the corpus's windows (data.unit = "window"), or its whole tunes padded
with <pad> after their <end> (data.unit = "tune"), and how long its samples are."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from seqgan_music.corpora.corpus import Corpus
from seqgan_music.errors import SeqganError


@dataclass
class TrainingSequences:
    """The splits as (N, T) id tensors; with tunes, each training row's length (its tokens up to
    and including <end>), for batches of similar length."""

    train: Tensor
    valid: Tensor
    test: Tensor  # the test split, or the validation split where the test split is empty
    train_lengths: Tensor | None
    length: int  # what the models sample: the window length, or the longest training tune


def training_sequences(corpus: Corpus, unit: str, device: torch.device) -> TrainingSequences:
    """The run's sequences on `device`; refuses whole tunes from a corpus that keeps none."""
    if unit == "window":
        held_out = corpus.splits["test"] if len(corpus.splits["test"]) else corpus.splits["valid"]
        return TrainingSequences(*(torch.as_tensor(rows, dtype=torch.long, device=device)
                                   for rows in (corpus.splits["train"], corpus.splits["valid"], held_out)),
                                 train_lengths=None, length=corpus.length)
    check_whole_tunes(corpus)
    pad = corpus.vocabulary.pad if corpus.vocabulary.pad is not None else corpus.vocabulary.end
    tunes = corpus.tune_sequences
    held_out = tunes.get("test") or tunes.get("valid") or []
    train = padded(tunes["train"], pad, device)
    lengths = torch.as_tensor([len(tune) for tune in tunes["train"]], dtype=torch.long, device=device)
    return TrainingSequences(train, padded(tunes.get("valid", []), pad, device), padded(held_out, pad, device),
                             lengths, train.shape[1])


def sample_length(corpus: Corpus, unit: str) -> int:
    """How many tokens a run's samples have: the windows' length, or the longest training tune."""
    if unit == "window":
        return corpus.length
    check_whole_tunes(corpus)
    return max(len(tune) for tune in corpus.tune_sequences["train"])


def check_held_out(corpus: Corpus, unit: str, keep_best: bool) -> str:
    """Refuse mle.keep_best without validation data (it picks the epoch by NLL on it); return a note
    when there is nothing to measure NLL_test on (neither test nor validation data): the run then
    logs no NLL_test rather than a 0 that reads as a perfect score."""
    if unit == "window":
        valid, test = (len(corpus.splits[split]) for split in ("valid", "test"))
    else:
        valid, test = (len(corpus.tune_sequences.get(split) or []) for split in ("valid", "test"))
    things = "windows" if unit == "window" else "tunes"
    rebuild = "rebuild it with a split that leaves some, e.g. --split 80/10/10"
    if keep_best and not valid:
        raise SeqganError(f"corpus {corpus.name!r} has no validation {things}, and mle.keep_best picks the best "
                          f"epoch by NLL on them: {rebuild}, or set mle.keep_best=false")
    if not valid and not test:
        return (f"corpus {corpus.name!r} has no test or validation {things}: NLL_test is not measured "
                f"(to measure it, {rebuild})")
    return ""


def check_whole_tunes(corpus: Corpus) -> None:
    if not corpus.has_whole_tunes:
        raise SeqganError(f"data.unit=tune needs whole tunes, and corpus {corpus.name!r} keeps none: "
                          "rebuild it from a music source (grid16) or set data.unit=window")


def padded(sequences: list[np.ndarray], pad: int, device: torch.device) -> Tensor:
    """Sequences of any lengths as one (N, longest) tensor, <pad> after each one's end."""
    longest = max((len(sequence) for sequence in sequences), default=1)
    rows = torch.full((len(sequences), longest), pad, dtype=torch.long)
    for index, sequence in enumerate(sequences):
        rows[index, :len(sequence)] = torch.as_tensor(np.asarray(sequence), dtype=torch.long)
    return rows.to(device)
