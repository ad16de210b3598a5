"""The classifier two-sample test, calibrated on samples whose answer is known."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from seqgan_music.corpora.encodings import HOLD, REST, token_pitch
from seqgan_music.errors import SeqganError
from seqgan_music.evaluation.c2st import C2STSettings, _logits, _padded, c2st
from seqgan_music.models.discriminator import Discriminator

VOCAB, PAD = 12, 0
SMALL = C2STSettings(embedding_dim=8, filter_widths=(1, 2, 4), filters_per_width=8, batch_size=8)
TUNES = C2STSettings(samples=100, max_length=700)  # whole Nottingham tunes, cut for speed
# Damage to every bar shows in a tune's first eight bars (128 sixteenths): accuracy 0.99 and 1.0 there as
# on 700 tokens, in half the time.
OPENINGS = replace(TUNES, max_length=128)


def markov_sequences(rng: np.random.Generator, count: int, transition: np.ndarray,
                     lengths=(20, 60)) -> list[np.ndarray]:
    """Sequences of ids 1..VOCAB-1 from a Markov chain (`transition` rows sum to 1)."""
    sequences = []
    for _ in range(count):
        state = int(rng.integers(len(transition)))
        sequence = []
        for _ in range(int(rng.integers(*lengths))):
            state = int(rng.choice(len(transition), p=transition[state]))
            sequence.append(state + 1)
        sequences.append(np.array(sequence))
    return sequences


def chain(rng: np.random.Generator, sharpness: float) -> np.ndarray:
    weights = rng.random((VOCAB - 1, VOCAB - 1)) ** sharpness
    return weights / weights.sum(axis=1, keepdims=True)


def test_one_distribution_is_indistinguishable_and_another_is_told_apart():
    rng = np.random.default_rng(0)
    uniform = np.full((VOCAB - 1, VOCAB - 1), 1 / (VOCAB - 1))
    same = c2st(markov_sequences(rng, 60, uniform), markov_sequences(rng, 60, uniform), VOCAB, PAD, settings=SMALL)
    assert same.ci_low <= 0.5 <= same.ci_high and same.p_value > 0.05 and 0.35 <= same.accuracy <= 0.65
    other = c2st(markov_sequences(rng, 60, uniform), markov_sequences(rng, 60, chain(rng, 8.0)), VOCAB, PAD,
                 settings=SMALL)
    assert other.accuracy >= 0.9 and other.ci_low > 0.8 and other.p_value < 1e-15


def test_figures_agree_with_the_per_sample_predictions():
    rng = np.random.default_rng(1)
    real = markov_sequences(rng, 47, chain(rng, 1.0))
    generated = markov_sequences(rng, 40, chain(rng, 4.0), lengths=(5, 200))
    result = c2st(real, generated, VOCAB, PAD, seed=3, settings=SMALL)
    assert result.samples_per_set == 40 and len(set(result.real_indices)) == 40 and result.real_indices.max() < 47
    assert sorted(result.generated_indices) == list(range(40))  # the smaller set is used whole
    assert result.accuracy == pytest.approx(result.correct.mean())
    assert result.accuracy == pytest.approx(np.mean(result.fold_accuracies))  # 80 = 5 folds of 8 + 8
    assert np.array_equal(result.real_correct, result.real_scores > 0.5)
    assert np.array_equal(result.generated_correct, result.generated_scores <= 0.5)
    assert result.ci_low < result.accuracy < result.ci_high
    assert all(1 <= epoch <= SMALL.epochs for epoch in result.fold_epochs)
    assert len(result.to_dict()["generated_scores"]) == 40


def test_training_stops_at_the_step_budget():
    rng = np.random.default_rng(4)
    real, generated = markov_sequences(rng, 20, chain(rng, 1.0)), markov_sequences(rng, 20, chain(rng, 8.0))
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    result = c2st(real, generated, VOCAB, PAD, settings=replace(SMALL, max_steps=3))  # fewer than an epoch's batches
    assert result.fold_epochs == (1,) * 5
    assert torch.equal(torch.rand(3), expected)  # the caller's random stream did not move


def test_reproducible_by_seed():
    rng = np.random.default_rng(2)
    real, generated = markov_sequences(rng, 30, chain(rng, 1.0)), markov_sequences(rng, 25, chain(rng, 2.0))
    settings = replace(SMALL, max_steps=50)  # ten epochs of five batches (a fold's best may be an earlier one)
    first, again = (c2st(real, generated, VOCAB, PAD, seed=7, settings=settings) for _ in range(2))
    assert first.to_dict() | {"seconds": 0} == again.to_dict() | {"seconds": 0}
    other = c2st(real, generated, VOCAB, PAD, seed=8, settings=settings)
    assert not np.array_equal(first.real_indices, other.real_indices)
    assert not np.array_equal(first.real_scores[:5], other.real_scores[:5])


def test_windows_against_ragged_sequences_of_other_lengths_and_truncation():
    rng = np.random.default_rng(3)
    windows = np.array(markov_sequences(rng, 30, chain(rng, 1.0), lengths=(40, 41)))  # (30, 40)
    other = chain(rng, 8.0)
    ragged = [*markov_sequences(rng, 5, other, lengths=(1, 4)),  # shorter than the widest filter
              *markov_sequences(rng, 35, other, lengths=(100, 150))]
    result = c2st(windows, ragged, VOCAB, PAD, settings=replace(SMALL, max_length=60))
    assert result.samples_per_set == 30 and len(result.correct) == 60
    assert result.truncated == sum(1 for i in result.generated_indices if i >= 5)  # the long ones were cut
    assert result.accuracy >= 0.75 and result.p_value < 1e-4


def test_a_sequence_scores_the_same_whatever_its_batch():
    torch.manual_seed(0)
    classifier = Discriminator(VOCAB, 20, 8, (1, 2, 4), (4, 4, 4), 1.0, 0.0)
    short, long = np.array([3, 4, 5]), np.arange(1, 12).repeat(5)
    alone = _logits(classifier, [short], PAD, SMALL, torch.device("cpu"))
    beside = _logits(classifier, [short, long], PAD, SMALL, torch.device("cpu"))
    assert _padded([short, long], PAD, SMALL).shape == (2, len(long) + 4)
    assert alone[0].item() == pytest.approx(beside[0].item(), abs=1e-6)


@pytest.mark.parametrize("real, generated, settings, message", [
    ([[1, 2]] * 4, [[1, 2]] * 9, C2STSettings(), "at least 5 sequences in each set"),
    ([[1, 2]] * 9, [[1, 2]] * 1, C2STSettings(folds=2), "at least 2 sequences in each set"),
    ([[1, 2]] * 9, [[1, VOCAB]] * 9, C2STSettings(), "outside the vocabulary"),
    ([[1, 2]] * 9, [[1, 2]] * 9, C2STSettings(folds=1), "at least 2 folds"),
    ([[1, 2]] * 9, [[1, 2]] * 9, C2STSettings(samples=3), "at least the number of folds"),
    ([[1, 2]] * 9, [[1, 2]] * 9, C2STSettings(max_length=8), "widest filter"),
    ([[1, 2]] * 9, [[1, 2]] * 9, C2STSettings(filter_widths=()), "filter widths"),
])
def test_degenerate_input_is_one_clear_error(real, generated, settings, message):
    with pytest.raises(SeqganError, match=message):
        c2st(real, generated, VOCAB, PAD, settings=settings)


def test_a_pad_id_outside_the_vocabulary_is_refused():
    with pytest.raises(SeqganError, match="pad id"):
        c2st([[1, 2]] * 9, [[1, 2]] * 9, VOCAB, VOCAB)


# --- whole Nottingham tunes ---------------------------------------------------------------------


def _halves(corpus):
    tunes = corpus.tune_sequences["train"]
    order = np.random.default_rng(0).permutation(len(tunes))
    return [tunes[i] for i in order[::2]], [tunes[i] for i in order[1::2]]


def test_two_halves_of_the_real_tunes_are_indistinguishable(nottingham_grid16):
    first, second = _halves(nottingham_grid16)
    vocabulary = nottingham_grid16.vocabulary
    result = c2st(first, second, len(vocabulary), vocabulary.pad, settings=TUNES)
    assert result.ci_low <= 0.5 <= result.ci_high and result.p_value > 0.01, result  # seed 0: 0.555, p = 0.07


def _shuffled(tune: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(tune)


def _random_bars(tune: np.ndarray, rng: np.random.Generator, vocabulary) -> np.ndarray:
    """Every step inside a bar replaced by a random step token of the corpus (pitch, HOLD or REST)."""
    steps = [i for i, token in enumerate(vocabulary.tokens) if token in (HOLD, REST) or token_pitch(token) is not None]
    bar, out, in_bar = vocabulary.id("BAR"), tune.copy(), False
    for index, token_id in enumerate(tune):
        if token_id == bar:
            in_bar = True
        elif token_id in steps and in_bar:
            out[index] = rng.choice(steps)
        elif token_id not in steps:
            in_bar = False  # PART, REPEAT, an ending or <end>
    return out


@pytest.mark.parametrize("damage", ["shuffled tokens", "random bars"])
def test_real_tunes_are_told_from_damaged_ones(nottingham_grid16, damage):
    first, second = _halves(nottingham_grid16)
    vocabulary = nottingham_grid16.vocabulary
    rng = np.random.default_rng(1)
    damaged = [_shuffled(t, rng) if damage == "shuffled tokens" else _random_bars(t, rng, vocabulary) for t in second]
    result = c2st(first, damaged, len(vocabulary), vocabulary.pad, settings=OPENINGS)
    assert result.accuracy >= 0.9 and result.p_value < 1e-20, result
