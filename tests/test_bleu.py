"""BLEU and self-BLEU: equal to nltk's sentence_bleu on random cases, self excluded, edge cases."""

import random
import warnings

import numpy as np
import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from seqgan_music.evaluation.bleu import BleuReferences, bleu, self_bleu

METHOD1 = SmoothingFunction().method1


def nltk_bleu(candidate, references, n, smoothing=METHOD1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nltk warns about zero counts
        return sentence_bleu(references, candidate, weights=(1.0 / n,) * n, smoothing_function=smoothing)


def random_sequences(rng: random.Random, count: int, vocab: int, lengths: tuple[int, int]) -> list[list[int]]:
    return [[rng.randrange(vocab) for _ in range(rng.randint(*lengths))] for _ in range(count)]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_bleu_equals_nltk_on_random_cases(seed, n):
    rng = random.Random(seed * 10 + n)
    vocab = rng.choice([3, 6, 20])  # small vocabularies: many matches, repeats and clipping
    references = random_sequences(rng, rng.randint(1, 30), vocab, (1, 14))
    candidates = random_sequences(rng, 25, vocab, (0, 14)) + [references[0], references[-1][:3]]
    ours = bleu(candidates, references, n)
    expected = [nltk_bleu(c, references, n) for c in candidates]
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-9)


def test_bleu_without_smoothing_equals_nltk_up_to_its_tiny_floor():
    rng = random.Random(7)
    references = random_sequences(rng, 10, 8, (5, 12))
    candidates = random_sequences(rng, 40, 8, (1, 12))
    expected = [nltk_bleu(c, references, 4, SmoothingFunction().method0) for c in candidates]
    np.testing.assert_allclose(bleu(candidates, references, 4, smoothing="none"), expected, rtol=0, atol=1e-9)


def test_fixed_length_arrays_and_a_prepared_reference_set_agree_with_lists():
    rng = np.random.default_rng(0)
    references = rng.integers(0, 12, size=(50, 16))
    candidates = rng.integers(0, 14, size=(20, 16))  # tokens 12 and 13 occur in no reference
    prepared = BleuReferences(references, max_n=5)
    for n in (2, 3, 4, 5):
        expected = [nltk_bleu(list(c), [list(r) for r in references], n) for c in candidates]
        np.testing.assert_allclose(prepared.scores(candidates, n), expected, rtol=0, atol=1e-9)
        np.testing.assert_allclose(bleu(candidates.tolist(), references.tolist(), n), expected, rtol=0, atol=1e-9)


def test_a_candidate_copied_from_the_references_scores_one():
    references = [[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]]
    assert bleu([[1, 2, 3, 4, 5, 6]], references, 4)[0] == pytest.approx(1.0)
    assert bleu([[7, 8, 9, 7, 8, 9]], references, 4)[0] == 0.0  # no unigram matches
    assert bleu([[]], references, 2)[0] == 0.0


@pytest.mark.parametrize("n", [2, 3, 4])
def test_self_bleu_scores_each_sample_against_the_others_only(n):
    rng = random.Random(n)
    samples = random_sequences(rng, 30, 5, (3, 12)) + [[9, 9, 9, 9, 9]]  # the last shares nothing with the rest
    ours = self_bleu(samples, n)
    expected = [nltk_bleu(s, samples[:i] + samples[i + 1:], n) for i, s in enumerate(samples)]
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-9)
    assert ours[-1] == 0.0  # were it its own reference, it would score 1


def test_self_bleu_of_samples_too_short_for_the_order_equals_nltk():
    """No sample holds a 4-gram (an empty sample too): the order's counts are empty, not an error."""
    samples = [[], [1, 2, 3], [1, 2], [2, 3, 1]]
    expected = [nltk_bleu(s, samples[:i] + samples[i + 1:], 4) for i, s in enumerate(samples)]
    np.testing.assert_allclose(self_bleu(samples, 4), expected, rtol=0, atol=1e-9)


def test_self_bleu_of_identical_samples_is_one_and_of_disjoint_samples_zero():
    assert np.allclose(self_bleu([[1, 2, 3, 4]] * 3, 4), 1.0)
    assert np.allclose(self_bleu([[1, 1, 1], [2, 2, 2], [3, 3, 3]], 2), 0.0)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="at least one reference"):
        bleu([[1]], [], 2)
    with pytest.raises(ValueError, match="non-negative"):
        bleu([[1, -3]], [[1, 2]], 2)
    with pytest.raises(ValueError, match="smoothing"):
        bleu([[1]], [[1]], 2, smoothing="method7")
    with pytest.raises(ValueError, match="up to BLEU-3"):
        BleuReferences([[1, 2]], max_n=3).scores([[1, 2]], 4)
    with pytest.raises(ValueError, match="at least two samples"):
        self_bleu([[1, 2]], 2)
