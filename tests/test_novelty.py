"""Novelty and the longest verbatim copy: hand-made cases, a brute-force check, degenerate input."""

import numpy as np
import pytest

from seqgan_music.evaluation.novelty import TrainingFragments, longest_copies, novelty

SYMBOLS = ("<pad>", "<end>", "BAR", "HOLD", "REST", "C4", "D4", "E4", "F4", "G4")
ID = {s: i for i, s in enumerate(SYMBOLS)}


def window(text: str, length: int = 14) -> list[int]:
    ids = [ID[t] for t in text.split()]
    return ids + [ID["<pad>"]] * (length - len(ids))


TRAINING = np.array([window("BAR C4 D4 E4 F4 BAR G4 HOLD REST C4"), window("BAR E4 E4 D4 C4 BAR C4 HOLD")])


def test_a_copy_and_a_partly_copied_window():
    training = TrainingFragments(TRAINING, SYMBOLS)
    generated = np.array([
        window("BAR C4 D4 E4 F4 BAR G4 HOLD REST C4"),  # a whole training window: 8 steps
        window("BAR G4 G4 D4 E4 F4 BAR G4 F4"),  # D4 E4 F4 G4 (across a bar line) is copied: 4 steps
        window("BAR G4 G4 G4 G4"),  # only single notes match
        window("<end> C4 D4"),  # no step at all
    ])
    assert longest_copies(generated, training).tolist() == [8, 4, 1, 0]
    assert novelty(generated[:1], training, 4) == 0.0
    # Its 3-step fragments: G G D, G D E, D E F, E F G, F G F; training holds D E F and E F G.
    assert novelty(generated[1:2], training, 3) == pytest.approx(3 / 5)


def test_novelty_without_fragments_is_nan():
    training = TrainingFragments(TRAINING, SYMBOLS)
    assert np.isnan(novelty(np.array([window("BAR C4 D4")]), training, 8))


def brute_force(generated, training_windows):
    def steps(row):
        out = []
        for token in (SYMBOLS[i] for i in row):
            if token == "<end>":
                break
            if token not in ("BAR", "<pad>"):
                out.append(token)
        return out

    train = [steps(r) for r in training_windows]
    longest = []
    for row in generated:
        g, best = steps(row), 0
        for i in range(len(g)):
            for j in range(i + 1, len(g) + 1):
                if any(any(t[s:s + j - i] == g[i:j] for s in range(len(t) - (j - i) + 1)) for t in train):
                    best = max(best, j - i)
        longest.append(best)
    return longest


def test_matches_a_brute_force_search_on_random_windows():
    rng = np.random.default_rng(0)
    vocabulary = np.array([ID[s] for s in ("C4", "D4", "E4", "HOLD", "REST", "BAR")])
    training_windows = rng.choice(vocabulary, size=(15, 12))
    generated = rng.choice(vocabulary, size=(25, 12))
    generated[:3] = training_windows[:3]  # some verbatim copies
    training = TrainingFragments(training_windows, SYMBOLS)
    assert longest_copies(generated, training).tolist() == brute_force(generated, training_windows)


@pytest.mark.slow
def test_real_tunes_are_new_to_each_other_and_training_windows_are_copies(nottingham_grid16):
    corpus = nottingham_grid16
    training = TrainingFragments(corpus.splits["train"], corpus.vocabulary.tokens)
    held_out = corpus.splits["test"]
    assert novelty(corpus.splits["train"][:200], training, 16) == 0.0
    assert 0.3 < novelty(held_out, training, 16) < 1.0  # other tunes share some stock phrases
    assert novelty(held_out, training, 8) < novelty(held_out, training, 16)
    copies = longest_copies(corpus.splits["train"][:20], training)
    steps = longest_copies(corpus.splits["train"][:20], TrainingFragments(corpus.splits["train"][:20], corpus.vocabulary.tokens))
    assert (copies == steps).all() and (copies > 16).all()  # each window is found whole
