"""The ReGAN toy grammar: generated sequences, their vocabulary and split, and the goodness score."""

import numpy as np
import pytest

from seqgan_music.corpora.corpus import load_corpus
from seqgan_music.corpora.grammar import build_grammar_corpus, goodness
from seqgan_music.corpora.split import SPLITS, SplitPlan
from seqgan_music.errors import SeqganError


@pytest.mark.parametrize("length", [3, 15])
def test_corpus_alternates_x_and_operators_with_goodness_one(length):
    corpus = build_grammar_corpus("toy", length, count=400, seed=1, plan=SplitPlan(seed=1))
    assert corpus.vocabulary.tokens == ("x", "+", "-", "*", "/")
    assert (corpus.vocabulary.pad, corpus.vocabulary.end, corpus.vocabulary.unk) == (None, None, None)
    rows = np.concatenate([corpus.splits[s] for s in SPLITS])
    assert rows.shape == (400, length) and all(a.dtype == np.int32 for a in corpus.splits.values())
    sequences = [corpus.symbols(row) for row in rows]
    assert goodness(sequences) == 1.0
    assert all(s[0::2] == ["x"] * (length // 2 + 1) and set(s[1::2]) <= {"+", "-", "*", "/"} for s in sequences)
    assert set(rows[:, 1::2].ravel()) == {1, 2, 3, 4}  # every operator is drawn
    counts = corpus.manifest["counts"]
    assert counts["goodness"] == 1.0 and counts["sequences"] == 400 and counts["vocabulary"] == 5
    assert sum(counts["windows"].values()) == 400 and all(counts["windows"][s] > 0 for s in SPLITS)
    assert corpus.manifest["encoding"]["extras"] == {"goodness": "valid windows of three tokens"}
    assert corpus.decode(rows[0]) == " ".join(sequences[0])


def test_split_follows_the_sequence_index_and_the_seed_reproduces():
    plan = SplitPlan(seed=4)
    corpus = build_grammar_corpus("toy", 15, count=100, seed=4, plan=plan)
    expected = {s: sum(plan.split_of(str(i)) == s for i in range(100)) for s in SPLITS}
    assert {s: len(a) for s, a in corpus.splits.items()} == expected
    assert corpus.content_hash() == build_grammar_corpus("toy", 15, count=100, seed=4, plan=plan).content_hash()
    assert corpus.content_hash() != build_grammar_corpus("toy", 15, count=100, seed=5, plan=plan).content_hash()
    assert build_grammar_corpus("toy", 3, count=100).manifest["counts"]["distinct_sequences"] == 4


def test_save_and_load_round_trip(tmp_path):
    corpus = build_grammar_corpus("toy", 3, count=50)
    corpus.save(tmp_path)
    loaded = load_corpus(tmp_path, "toy")
    assert loaded.content_hash() == corpus.content_hash() and loaded.encoding == corpus.encoding


@pytest.mark.parametrize("sequence, score", [
    ("x + x", 1.0),
    ("+ x - x /", 1.0),  # op x op and x op x windows are both valid
    ("x x +", 0.0),
    ("x + + x", 0.0),
    ("x + x x +", 1 / 3),
    ("x y x", 0.0),  # an unknown token is no operator
    ("x +", 0.0),  # too short to hold a window
    ("", 0.0),
])
def test_goodness_of_hand_made_sequences(sequence, score):
    assert goodness([sequence.split()]) == pytest.approx(score)


def test_goodness_averages_over_sequences():
    assert goodness([["x", "+", "x"], ["x", "x", "x"], "x - x * x".split(), ["x"]]) == pytest.approx(0.5)
    assert goodness([]) == 0.0


@pytest.mark.parametrize("length, count", [(7, 100), (0, 100), (16, 100), (3, 0)])
def test_bad_lengths_and_counts_are_user_errors(length, count):
    with pytest.raises(SeqganError, match="3 or 15" if count else "count"):
        build_grammar_corpus("toy", length, count=count)
