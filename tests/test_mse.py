"""The music MSE: pitch tracks from tokens, hand-computed distances, a brute-force check, and
degenerate input."""

import numpy as np
import pytest

from seqgan_music.evaluation.mse import SILENCE_MISMATCH, nearest_mse, pitch_tracks

SYMBOLS = ("<pad>", "<end>", "BAR", "HOLD", "REST", "C4", "D4", "E4", "F4")
ID = {s: i for i, s in enumerate(SYMBOLS)}
C4, D4, E4, F4 = 60.0, 62.0, 64.0, 65.0


def window(*tokens: str, length: int = 12) -> list[int]:
    ids = [ID[t] for t in tokens]
    return ids + [ID["<pad>"]] * (length - len(ids))


def test_tracks_hold_rest_bar_end_and_padding():
    windows = np.array([window("BAR", "C4", "HOLD", "REST", "D4", "HOLD", "HOLD", "BAR", "E4", "<end>", "F4"),
                        window("HOLD", "HOLD", "E4", "REST", "HOLD")])
    tracks, lengths = pitch_tracks(windows, SYMBOLS)
    assert lengths.tolist() == [7, 5]
    np.testing.assert_array_equal(tracks[0, :7], [C4, C4, np.nan, D4, D4, D4, E4])  # the F4 after <end> is gone
    np.testing.assert_array_equal(tracks[1, :5], [np.nan, np.nan, E4, np.nan, np.nan])  # nothing to hold: silence
    assert np.isnan(tracks[0, 7:]).all() and np.isnan(tracks[1, 5:]).all()


def test_hand_computed_distances():
    references = np.array([window("C4", "D4", "E4", "F4"), window("E4", "E4", "E4", "E4")])
    candidates = np.array([
        window("C4", "D4", "E4", "F4"),  # a copy: 0
        window("D4", "E4", "F4", "F4"),  # off by 2, 0, 1, 1 from the second: (4 + 0 + 1 + 1) / 4 (the first: 9 / 4)
        window("C4", "D4", "E4", "REST"),  # one step silent where the first sounds: 144 / 4
        window("E4", "E4", "E4", "E4", "E4", "E4"),  # two steps past the references' end: 2 * 144 / 6
    ])
    mse, nearest = nearest_mse(candidates, references, SYMBOLS)
    np.testing.assert_allclose(mse, [0.0, 6 / 4, SILENCE_MISMATCH / 4, 2 * SILENCE_MISMATCH / 6])
    assert nearest.tolist() == [0, 1, 0, 1]


def brute_force(candidates, references):
    cand, cand_len = pitch_tracks(candidates, SYMBOLS)
    ref, _ = pitch_tracks(references, SYMBOLS)
    results = []
    for c, n in zip(cand, cand_len):
        costs = []
        for r in ref:
            total = 0.0
            for t in range(n):
                a, b = c[t], r[t] if t < len(r) else np.nan
                if np.isnan(a) and np.isnan(b):
                    continue
                total += SILENCE_MISMATCH if np.isnan(a) or np.isnan(b) else (a - b) ** 2
            costs.append(total / n if n else np.nan)
        results.append(min(costs))
    return np.array(results)


def test_matrix_form_equals_the_step_by_step_definition():
    rng = np.random.default_rng(0)
    candidates = rng.integers(0, len(SYMBOLS), size=(40, 12))
    references = rng.integers(0, len(SYMBOLS), size=(30, 12))
    mse, _ = nearest_mse(candidates, references, SYMBOLS)
    expected = brute_force(candidates, references)
    keep = ~np.isnan(mse)
    np.testing.assert_allclose(mse[keep], expected[keep], rtol=0, atol=1e-9)


def test_degenerate_generators_do_not_crash():
    references = np.array([window("C4", "D4", "E4", "F4"), window("F4", "HOLD", "REST", "C4")])
    collapsed = np.array([window(*["C4"] * 12)] * 5)  # one pitch forever
    silent = np.array([window(*["REST"] * 12), window("<end>")])  # silence; no step at all
    assert np.isfinite(nearest_mse(collapsed, references, SYMBOLS)[0]).all()
    mse, nearest = nearest_mse(silent, references, SYMBOLS)
    assert mse[0] > 0 and np.isnan(mse[1]) and nearest[1] == -1
    with pytest.raises(ValueError, match="at least one reference"):
        nearest_mse(collapsed, np.empty((0, 12), dtype=int), SYMBOLS)


@pytest.mark.slow
def test_real_held_out_nottingham_is_close_to_the_training_set_and_noise_is_not(nottingham_midi):
    from seqgan_music.corpora.encodings import music_encoding
    from seqgan_music.corpora.music import build_music_corpus
    from seqgan_music.corpora.split import SplitPlan

    corpus = build_music_corpus("nottingham", nottingham_midi, music_encoding("paper"), SplitPlan(), {"kind": "midi"})
    train, test = corpus.splits["train"], corpus.splits["test"]
    real, _ = nearest_mse(test, train, corpus.vocabulary.tokens)
    noise, _ = nearest_mse(np.random.default_rng(0).integers(0, len(corpus.vocabulary), size=test.shape), train,
                           corpus.vocabulary.tokens)
    assert 3.0 < np.nanmean(real) < 15.0  # measured 9.3: real tunes have near neighbours, a few semitones off
    assert np.nanmean(noise) > 300.0  # measured 488
    copies, _ = nearest_mse(train[:50], train, corpus.vocabulary.tokens)
    assert np.allclose(copies, 0.0)  # a training window's nearest is itself (or an identical window)
