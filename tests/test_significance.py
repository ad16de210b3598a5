"""Significance tests on distributions whose answer is known."""

import itertools

import numpy as np
import pytest

from seqgan_music.evaluation.significance import compare


def test_same_distribution_gives_uniform_p_values():
    rng = np.random.default_rng(0)
    welch, permutation = [], []
    for _ in range(200):
        result = compare(rng.normal(size=40), rng.normal(size=60), permutations=300, seed=int(rng.integers(1 << 30)))
        welch.append(result.welch_p)
        permutation.append(result.permutation_p)
    for p_values in (np.array(welch), np.array(permutation)):
        assert 0.01 <= (p_values < 0.05).mean() <= 0.10  # about 5% false positives at the 5% level
        assert 0.4 <= np.median(p_values) <= 0.6


def test_a_real_shift_is_detected_in_the_right_direction():
    rng = np.random.default_rng(1)
    result = compare(rng.normal(0.0, 1.0, 300), rng.normal(0.5, 2.0, 200), permutations=2000)
    assert result.welch_p < 1e-3 and result.permutation_p < 1e-3
    assert result.difference == pytest.approx(result.mean_b - result.mean_a) and result.difference > 0.3
    assert result.welch_t > 0 and result.permutation_p >= 1 / 2001  # never exactly 0


def test_welch_matches_its_formula():
    a, b = np.array([1.0, 2.0, 4.0, 7.0]), np.array([3.0, 5.0, 6.0, 9.0, 12.0])
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    t = (b.mean() - a.mean()) / np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    result = compare(a, b)
    assert result.welch_t == pytest.approx(t) and result.welch_df == pytest.approx(df)


def test_permutation_p_matches_exact_enumeration():
    a, b = np.array([1.0, 2.0, 3.0, 3.5]), np.array([3.0, 4.0, 5.0, 6.0])
    pooled, observed = np.concatenate([a, b]), abs(b.mean() - a.mean())
    splits = list(itertools.combinations(range(8), 4))
    exact = np.mean([abs(np.delete(pooled, list(s)).mean() - pooled[list(s)].mean()) >= observed - 1e-12 for s in splits])
    assert compare(a, b, permutations=40_000, seed=3).permutation_p == pytest.approx(exact, abs=0.006)


def test_reproducible_by_seed_and_constant_groups_are_handled():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=30), rng.normal(size=30)
    assert compare(a, b, seed=5) == compare(a, b, seed=5)
    same = compare([2.0, 2.0, 2.0], [2.0, 2.0])
    assert (same.welch_p, same.permutation_p) == (1.0, 1.0)
    assert compare([1.0, 1.0, 1.0], [3.0, 3.0, 3.0]).welch_p == 0.0


@pytest.mark.parametrize("a, b, message", [([1.0], [1.0, 2.0], "at least two"), ([1.0, float("nan")], [1.0, 2.0], "finite")])
def test_bad_input_is_rejected(a, b, message):
    with pytest.raises(ValueError, match=message):
        compare(a, b)
