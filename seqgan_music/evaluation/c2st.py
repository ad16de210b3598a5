"""Classifier two-sample test (C2ST): can a fresh classifier tell generated tunes from real ones?

Lopez-Paz & Oquab (2017): if two samples come from one distribution, no classifier predicts
better than chance which sample a held-out item came from; the further its held-out accuracy is
above 0.5, the easier the generated tunes are to tell apart. 0.5 = indistinguishable, 1.0 = every
tune given away.

How it is measured here:
- the two sets are balanced: `n` = the smaller set's size (or `C2STSettings.samples`), drawn
  without replacement from each by the seed;
- stratified k-fold cross-validation (default 5): every fold trains a FRESH classifier from
  scratch on the other folds and predicts its own fold, so every one of the 2n sequences gets one
  held-out prediction; inside the training folds a stratified share (`validation_share`) is kept
  apart for early stopping (the epoch with the lowest validation loss is the one used); training
  runs at most `epochs` epochs and no more than reach `max_steps` optimizer steps, so a small set
  gets enough steps and a large one stays fast;
- the classifier is `models.discriminator.Discriminator` with small settings: token embeddings,
  convolutions of several widths with max-over-time pooling, a highway layer and one logit that
  the sequence is real. Sequences of any length are padded with the pad id to their batch's
  longest plus the widest filter, so every sequence has all its windows and at least one all-pad
  window per width: its max-over-time, hence its logit, does not depend on which batch it is in;
- sequences longer than `max_length` keep their first `max_length` tokens (the header and the
  start of the tune); how many were cut is reported;
- the pooled held-out accuracy with a 95% Wilson interval, and the p-value of the one-sided
  binomial test of "accuracy > 0.5" (the C2ST null: every held-out prediction is right with
  probability 1/2). Folds share training data, so the predictions are not strictly independent;
  with balanced folds the binomial test is the usual C2ST approximation.

Deterministic for a seed on the CPU (the torch thread count is what the caller configured:
`training.device.configure_threads`). 500 against 500 whole Nottingham tunes (up to 1,107
tokens) took 28 s of CPU time on one thread (benchmarks/c2st_baseline.py --speed). On a machine
busier than its cores one thread is much faster than two: this small network's many short
operations make two threads wait on each other (measured there: 7 times the CPU time).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import stats
from torch.nn import functional

from seqgan_music.errors import SeqganError
from seqgan_music.models.discriminator import Discriminator

REAL, GENERATED = 1.0, 0.0  # the classifier's labels: its logit says "real"
CONFIDENCE = 0.95
_SORTED_BATCHES = 8  # batches drawn at a time and sorted by length, so a batch pads little

Sequences = Sequence[Sequence[int] | np.ndarray] | np.ndarray  # ragged sequences, or windows (N, T)


@dataclass(frozen=True)
class C2STSettings:
    """The test and its classifier; the defaults were chosen for power on a few hundred tunes per set
    and about half a minute for 500 vs 500 whole tunes on the CPU."""

    folds: int = 5
    samples: int | None = None  # per set; None: the smaller set's size
    max_length: int = 1200  # tokens kept per sequence (its start); whole grid16 tunes are up to ~1,100
    epochs: int = 20  # at most, and no more than reach `max_steps`: a large set needs fewer epochs
    max_steps: int = 200  # optimizer steps; a whole epoch more only while fewer were taken
    patience: int = 3  # epochs without a lower validation loss before stopping
    validation_share: float = 0.15  # of the training folds, kept apart for early stopping
    batch_size: int = 16
    learning_rate: float = 1e-2
    embedding_dim: int = 16
    filter_widths: tuple[int, ...] = (1, 2, 4, 8, 16)  # up to a bar of 4/4 in sixteenths
    filters_per_width: int = 8
    dropout_keep: float = 0.75
    l2: float = 0.01

    def check(self) -> None:
        """Reject settings the test cannot run with, each with what to change."""
        if self.folds < 2:
            raise SeqganError(f"C2ST needs at least 2 folds, got {self.folds}")
        if self.samples is not None and self.samples < self.folds:
            raise SeqganError(f"C2ST samples per set must be at least the number of folds ({self.folds}), "
                              f"got {self.samples}")
        if not self.filter_widths or min(self.filter_widths) < 1:
            raise SeqganError(f"C2ST filter widths must be one or more widths >= 1, got {self.filter_widths}")
        if self.max_length < max(self.filter_widths):
            raise SeqganError(f"C2ST max_length must be at least the widest filter ({max(self.filter_widths)}), "
                              f"got {self.max_length}")
        if min(self.epochs, self.max_steps, self.patience, self.batch_size, self.embedding_dim,
               self.filters_per_width) < 1:
            raise SeqganError("C2ST epochs, steps, patience, batch size, embedding size and filters per width "
                              "must be >= 1")
        if not 0 < self.validation_share < 1:
            raise SeqganError(f"C2ST validation_share must be in (0, 1), got {self.validation_share}")
        if not self.learning_rate > 0:
            raise SeqganError(f"C2ST learning_rate must be > 0, got {self.learning_rate}")


@dataclass(frozen=True)
class C2STResult:
    """The held-out accuracy of telling generated from real, and everything it rests on.

    Per sample (index i of `real_indices` / `generated_indices`, which say which input sequences
    were drawn): `*_correct` whether its held-out prediction was right, `*_scores` the held-out
    probability the classifier gave that it is real.
    """

    accuracy: float
    ci_low: float
    ci_high: float
    p_value: float  # one-sided binomial test of accuracy > 0.5
    fold_accuracies: tuple[float, ...]
    fold_epochs: tuple[int, ...]  # the epoch (1-based) whose weights predicted each fold
    samples_per_set: int
    truncated: int  # sequences cut to max_length
    max_length: int
    seconds: float
    real_indices: np.ndarray = field(repr=False)
    generated_indices: np.ndarray = field(repr=False)
    real_correct: np.ndarray = field(repr=False)
    generated_correct: np.ndarray = field(repr=False)
    real_scores: np.ndarray = field(repr=False)
    generated_scores: np.ndarray = field(repr=False)

    @property
    def correct(self) -> np.ndarray:
        """Held-out correctness of every sample, the real ones first (2n,)."""
        return np.concatenate([self.real_correct, self.generated_correct])

    def to_dict(self) -> dict:
        """Plain JSON-ready values (floats rounded to 6 places)."""
        return {
            "accuracy": round(self.accuracy, 6), "ci_low": round(self.ci_low, 6), "ci_high": round(self.ci_high, 6),
            "p_value": self.p_value, "fold_accuracies": [round(a, 6) for a in self.fold_accuracies],
            "fold_epochs": list(self.fold_epochs), "samples_per_set": self.samples_per_set,
            "truncated": self.truncated, "max_length": self.max_length, "seconds": round(self.seconds, 3),
            "real_indices": self.real_indices.tolist(), "generated_indices": self.generated_indices.tolist(),
            "real_correct": self.real_correct.astype(int).tolist(),
            "generated_correct": self.generated_correct.astype(int).tolist(),
            "real_scores": [round(float(s), 6) for s in self.real_scores],
            "generated_scores": [round(float(s), 6) for s in self.generated_scores],
        }


def c2st(real: Sequences, generated: Sequences, vocab_size: int, pad_id: int, seed: int = 0,
         settings: C2STSettings = C2STSettings(), device: torch.device = torch.device("cpu")) -> C2STResult:
    """Cross-validated accuracy of fresh classifiers telling `generated` from `real` token id
    sequences (each set ragged sequences or a (N, T) array of windows); see the module docstring."""
    started = time.perf_counter()
    settings.check()
    if not 0 <= pad_id < vocab_size:
        raise SeqganError(f"the pad id {pad_id} is outside the vocabulary of {vocab_size} tokens")
    real_set = _sequences(real, "real", vocab_size)
    generated_set = _sequences(generated, "generated", vocab_size)
    count = min(len(real_set), len(generated_set), settings.samples or math.inf)
    if count < settings.folds:
        raise SeqganError(f"C2ST with {settings.folds} folds needs at least {settings.folds} sequences in each set "
                          f"(one of each per fold), got {len(real_set)} real and {len(generated_set)} generated")
    rng = np.random.default_rng(seed)
    real_indices = np.sort(rng.choice(len(real_set), count, replace=False))
    generated_indices = np.sort(rng.choice(len(generated_set), count, replace=False))
    chosen = [real_set[i] for i in real_indices] + [generated_set[i] for i in generated_indices]
    truncated = sum(len(s) > settings.max_length for s in chosen)
    chosen = [s[:settings.max_length] for s in chosen]
    labels = np.array([REAL] * count + [GENERATED] * count, dtype=np.float32)  # (2n,)
    fold_of = np.concatenate([_stratified_folds(count, settings.folds, rng) for _ in range(2)])  # (2n,)

    scores = np.zeros(2 * count)
    fold_accuracies, fold_epochs = [], []
    for fold in range(settings.folds):
        held_out = np.flatnonzero(fold_of == fold)
        training = np.flatnonzero(fold_of != fold)
        classifier, epoch = _train(chosen, labels, training, vocab_size, pad_id, settings, [seed, fold], device)
        scores[held_out] = _probability_real(classifier, [chosen[i] for i in held_out], pad_id, settings, device)
        fold_accuracies.append(float(np.mean((scores[held_out] > 0.5) == (labels[held_out] == REAL))))
        fold_epochs.append(epoch)
    correct = (scores > 0.5) == (labels == REAL)  # (2n,)
    hits, total = int(correct.sum()), len(correct)
    interval = stats.binomtest(hits, total).proportion_ci(CONFIDENCE, method="wilson")
    return C2STResult(
        accuracy=hits / total, ci_low=float(interval.low), ci_high=float(interval.high),
        p_value=float(stats.binomtest(hits, total, 0.5, alternative="greater").pvalue),
        fold_accuracies=tuple(fold_accuracies), fold_epochs=tuple(fold_epochs), samples_per_set=count,
        truncated=truncated, max_length=settings.max_length, seconds=time.perf_counter() - started,
        real_indices=real_indices, generated_indices=generated_indices,
        real_correct=correct[:count], generated_correct=correct[count:],
        real_scores=scores[:count], generated_scores=scores[count:])


def _sequences(sequences: Sequences, name: str, vocab_size: int) -> list[np.ndarray]:
    """Each sequence as an int64 array, every id checked against the vocabulary."""
    arrays = [np.asarray(s, dtype=np.int64).reshape(-1) for s in sequences]
    for index, array in enumerate(arrays):
        if array.size and (array.min() < 0 or array.max() >= vocab_size):
            raise SeqganError(f"{name} sequence {index} holds token ids outside the vocabulary of {vocab_size} "
                              "(map its tokens into the reference corpus's vocabulary first)")
    return arrays


def _stratified_folds(count: int, folds: int, rng: np.random.Generator) -> np.ndarray:
    """A fold number per item (count,), as even as can be, in random order."""
    return rng.permutation(np.arange(count) % folds)


def _train(sequences: list[np.ndarray], labels: np.ndarray, indices: np.ndarray, vocab_size: int, pad_id: int,
           settings: C2STSettings, seed: list[int], device: torch.device) -> tuple[Discriminator, int]:
    """A fresh classifier trained on `indices` less a stratified validation share; the weights of
    the epoch with the lowest validation loss, and that epoch (1-based)."""
    rng = np.random.default_rng(seed)
    validation = np.concatenate([_validation_part(indices[labels[indices] == label], settings.validation_share, rng)
                                 for label in (REAL, GENERATED)])
    training = np.setdiff1d(indices, validation)
    with _own_random_state(device):
        torch.manual_seed(int(rng.integers(2**31)))
        classifier = Discriminator(vocab_size, settings.max_length, settings.embedding_dim, settings.filter_widths,
                                   (settings.filters_per_width,) * len(settings.filter_widths),
                                   settings.dropout_keep, settings.l2).to(device)
        optimizer = torch.optim.Adam(classifier.parameters(), lr=settings.learning_rate)
        best_loss, best_epoch, best_state = math.inf, 0, copy.deepcopy(classifier.state_dict())
        epochs = min(settings.epochs, math.ceil(settings.max_steps / math.ceil(len(training) / settings.batch_size)))
        for epoch in range(1, epochs + 1):
            classifier.train()
            for batch in _training_batches(sequences, training, settings.batch_size, rng):
                tokens = _padded([sequences[i] for i in batch], pad_id, settings).to(device)
                loss = classifier.loss(tokens, torch.from_numpy(labels[batch]).to(device))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            loss = _validation_loss(classifier, sequences, labels, validation, pad_id, settings, device)
            if loss < best_loss:
                best_loss, best_epoch, best_state = loss, epoch, copy.deepcopy(classifier.state_dict())
            elif epoch - best_epoch >= settings.patience:
                break
    classifier.load_state_dict(best_state)
    return classifier, best_epoch


def _own_random_state(device: torch.device):
    """Seeding a classifier leaves the caller's torch random streams where they were."""
    if device.type == "cpu":
        return torch.random.fork_rng(devices=[])
    return torch.random.fork_rng(devices=[device.index or 0], device_type=device.type)


def _validation_part(indices: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """`share` of one class's training items (at least one, and at least one left to train on)."""
    size = min(max(1, round(share * len(indices))), len(indices) - 1)
    return rng.choice(indices, size, replace=False)


def _training_batches(sequences: list[np.ndarray], indices: np.ndarray, batch_size: int,
                      rng: np.random.Generator) -> Iterator[np.ndarray]:
    """One epoch's batches in random order, each of items of similar length (little padding)."""
    order = rng.permutation(indices)
    batches = []
    group = batch_size * _SORTED_BATCHES
    for start in range(0, len(order), group):
        chunk = sorted(order[start:start + group], key=lambda i: len(sequences[i]))
        batches += [np.array(chunk[i:i + batch_size]) for i in range(0, len(chunk), batch_size)]
    for index in rng.permutation(len(batches)):
        yield batches[index]


def _padded(sequences: Sequence[np.ndarray], pad_id: int, settings: C2STSettings) -> torch.Tensor:
    """(B, longest + widest filter) ids, padded: every sequence gets all its windows and an all-pad
    one per width, so its max-over-time features do not depend on its batch."""
    length = max(len(s) for s in sequences) + max(settings.filter_widths)
    tokens = np.full((len(sequences), length), pad_id, dtype=np.int64)
    for row, sequence in enumerate(sequences):
        tokens[row, :len(sequence)] = sequence
    return torch.from_numpy(tokens)


@torch.no_grad()
def _logits(classifier: Discriminator, sequences: Sequence[np.ndarray], pad_id: int, settings: C2STSettings,
            device: torch.device) -> torch.Tensor:
    """The classifier's logits (N,) in eval mode, batched by length."""
    classifier.eval()
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    logits = torch.zeros(len(sequences))
    for start in range(0, len(order), settings.batch_size):
        batch = order[start:start + settings.batch_size]
        logits[batch] = classifier(_padded([sequences[i] for i in batch], pad_id, settings).to(device)).float().cpu()
    return logits


def _validation_loss(classifier: Discriminator, sequences: list[np.ndarray], labels: np.ndarray, indices: np.ndarray,
                     pad_id: int, settings: C2STSettings, device: torch.device) -> float:
    logits = _logits(classifier, [sequences[i] for i in indices], pad_id, settings, device)
    return float(functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(labels[indices])))


def _probability_real(classifier: Discriminator, sequences: Sequence[np.ndarray], pad_id: int, settings: C2STSettings,
                      device: torch.device) -> np.ndarray:
    return torch.sigmoid(_logits(classifier, sequences, pad_id, settings, device)).numpy().astype(np.float64)
