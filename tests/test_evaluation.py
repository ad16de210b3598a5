"""Evaluating runs: metric sets by corpus kind, the real-data calibration, NLL_oracle against the
oracle's entropy, the cache, comparisons and the temperature sweep, on tiny trained runs."""

import json
from pathlib import Path

import numpy as np
import pytest

from seqgan_music.corpora.corpus import Corpus
from seqgan_music.corpora.grammar import build_grammar_corpus, sequence_goodness
from seqgan_music.corpora.oracle import build_oracle_corpus
from seqgan_music.errors import SeqganError
from seqgan_music.evaluation.scores import References, applicable_groups, chosen_groups, score_windows
from seqgan_music.run_evaluation.comparison import check_comparable, compare_pair, shown_metrics
from seqgan_music.run_evaluation.runs import CACHE_FILE, EVALUATION_VERSION, EvaluationSettings, evaluate_run
from seqgan_music.run_evaluation.sweep import default_axes, temperature_sweep
from training_helpers import train

@pytest.fixture
def grammar_home(tmp_path: Path) -> Path:
    build_grammar_corpus("grammar", 15, count=400, seed=1).save(tmp_path)
    train(tmp_path, "grammar", "untrained", epochs=0)
    train(tmp_path, "grammar", "trained", epochs=8)
    return tmp_path


@pytest.fixture
def small_music(nottingham_grid16, tmp_path: Path) -> Corpus:
    """The first windows of the Nottingham grid16 corpus, saved under tmp_path as `music`."""
    corpus = nottingham_grid16
    sizes = {"train": 300, "valid": 60, "test": 60}
    small = Corpus("music", {s: corpus.splits[s][:n] for s, n in sizes.items()}, corpus.vocabulary, corpus.encoding,
                   dict(corpus.manifest), corpus.tunes, {s: corpus.tune_of_window[s][:n] for s, n in sizes.items()})
    small.save(tmp_path)
    return small


def test_metric_groups_follow_the_corpus_kind(small_music):
    grammar = build_grammar_corpus("g", 3, count=50)
    oracle = build_oracle_corpus("o", seed=1, train=20, held_out=10, length=5)
    assert applicable_groups(grammar) == ("bleu", "self-bleu", "nll-test", "goodness")
    assert applicable_groups(oracle) == ("bleu", "self-bleu", "nll-test", "nll-oracle")
    assert applicable_groups(small_music) == ("bleu", "self-bleu", "nll-test", "mse", "music", "form", "c2st")
    assert chosen_groups(small_music, None) == ("bleu", "self-bleu", "nll-test", "mse", "music", "form")
    assert chosen_groups(oracle, ["nll-oracle"]) == ("nll-oracle",)
    with pytest.raises(SeqganError, match="does not apply"):
        chosen_groups(oracle, ["mse"])
    with pytest.raises(SeqganError, match="unknown metric"):
        chosen_groups(oracle, ["bleu9"])


def test_references_scored_against_themselves_are_perfect(small_music):
    references = References(small_music, "test", applicable_groups(small_music))
    own = score_windows(small_music.splits["test"], references)
    assert np.allclose(own.per_window["bleu4"], 1.0)
    assert np.allclose(own.per_window["mse"], 0.0)
    assert own.figures["pitch_classes_overlap"] == pytest.approx(1.0)
    assert own.figures["pitch_classes_kl"] == pytest.approx(0.0, abs=1e-9)
    training = References(small_music, "train", ("music",))
    assert np.all(np.asarray(score_windows(small_music.splits["train"], training).per_window["longest_copy"]) > 0)


def test_a_collapsed_generator_scores_without_crashing(small_music):
    """Every window the same single held note: the degenerate case every metric must survive."""
    vocabulary = small_music.vocabulary
    pitch = next(i for i, t in enumerate(vocabulary.tokens) if t[:1].isalpha() and t[-1].isdigit())
    collapsed = np.full((20, small_music.length), pitch, dtype=np.int32)
    scores = score_windows(collapsed, References(small_music, "test", applicable_groups(small_music)))
    assert np.allclose(scores.per_window["self_bleu4"], 1.0)  # every sample equals every other
    assert scores.figures["pitch_range"] == 0.0
    assert np.isfinite(scores.per_window["mse"]).all()


def test_goodness_per_sequence():
    assert sequence_goodness("x + x * x".split()) == 1.0
    assert sequence_goodness("x x + x".split()) == 0.5
    assert sequence_goodness(["x"]) == 0.0


def test_evaluation_is_cached_until_the_settings_or_checkpoint_change(grammar_home):
    settings = EvaluationSettings(samples=40)
    first = evaluate_run(grammar_home, "trained", settings)
    again = evaluate_run(grammar_home, "trained", settings)
    assert not first.cached and again.cached
    for metric, values in first.generated.per_window.items():
        assert np.allclose(again.generated.per_window[metric], values, atol=1e-6, equal_nan=True)
    assert again.nll_test == pytest.approx(first.nll_test)
    assert set(first.generated.per_window) == {"bleu2", "bleu3", "bleu4", "bleu5", "self_bleu4", "goodness"}
    other = evaluate_run(grammar_home, "trained", EvaluationSettings(samples=40, seed=1))
    assert not other.cached and other.generated.per_window["goodness"] != first.generated.per_window["goodness"]
    (grammar_home / "checkpoints" / "trained" / CACHE_FILE).write_text("{not json")
    assert not evaluate_run(grammar_home, "trained", settings).cached  # a damaged cache is rebuilt, not fatal
    assert json.loads((grammar_home / "checkpoints" / "trained" / CACHE_FILE).read_text())["version"] == EVALUATION_VERSION == 4


def test_training_raises_goodness_significantly(grammar_home):
    settings = EvaluationSettings(samples=200)
    untrained = evaluate_run(grammar_home, "untrained", settings)
    trained = evaluate_run(grammar_home, "trained", settings)
    assert trained.value("goodness") > untrained.value("goodness") + 0.2
    assert trained.nll_test < untrained.nll_test
    assert untrained.real_value("goodness") == 1.0  # real grammar sequences are all valid
    comparisons = {c.metric: c.result for c in compare_pair(untrained, trained, permutations=2000)}
    assert comparisons["goodness"].welch_p < 1e-6 and comparisons["goodness"].permutation_p < 0.001
    assert comparisons["goodness"].difference > 0.2
    assert "nll_test" in comparisons
    assert [m.name for m in shown_metrics([trained])][:5] == ["bleu2", "bleu3", "bleu4", "bleu5", "self_bleu4"]


def test_temperature_changes_samples_and_nll_test(grammar_home):
    base = EvaluationSettings(samples=100)
    points = temperature_sweep(grammar_home, ["trained"], [0.5, 2.0], "goodness", "nll_test", base)
    cold, hot = points
    assert cold.quality > hot.quality  # a cold generator keeps to the grammar better
    assert cold.diversity != hot.diversity
    with pytest.raises(SeqganError, match="--quality"):
        temperature_sweep(grammar_home, ["trained"], [1.0], "nll_oracle_typo", "nll_test", base)


def test_oracle_nll_of_real_samples_matches_the_oracle_entropy(tmp_path):
    """NLL_oracle of the oracle's own samples (the real set) estimates the oracle's entropy per token,
    which the corpus manifest estimates independently from the training samples."""
    corpus = build_oracle_corpus("oracle", seed=5, train=2000, held_out=2000, length=10)
    corpus.save(tmp_path)
    train(tmp_path, "oracle", "random", epochs=0)
    evaluation = evaluate_run(tmp_path, "random", EvaluationSettings(samples=1000, metrics=("nll-oracle",)))
    real = np.asarray(evaluation.real.per_window["nll_oracle"])
    entropy = corpus.manifest["counts"]["nll_oracle_of_train"]
    assert abs(real.mean() - entropy) < 4 * real.std() / np.sqrt(len(real)) + 0.01
    assert evaluation.value("nll_oracle") > real.mean() + 0.5  # an untrained generator is far from the oracle
    assert default_axes(corpus) == ("nll_oracle", "nll_test")


def test_runs_on_different_corpora_are_not_compared(grammar_home):
    build_grammar_corpus("grammar3", 3, count=200, seed=2).save(grammar_home)
    train(grammar_home, "grammar3", "short", epochs=1)
    settings = EvaluationSettings(samples=20)
    with pytest.raises(SeqganError, match="different corpora"):
        check_comparable([evaluate_run(grammar_home, "trained", settings), evaluate_run(grammar_home, "short", settings)])


@pytest.mark.parametrize("settings, message", [
    (EvaluationSettings(references="dev"), "--references"),
    (EvaluationSettings(samples=1), "--samples"),
    (EvaluationSettings(temperature=0.0), "--temperature"),
])
def test_bad_settings_are_user_errors(grammar_home, settings, message):
    with pytest.raises(SeqganError, match=message):
        evaluate_run(grammar_home, "trained", settings)


def test_the_best_figure_is_marked_only_without_a_tie() -> None:
    from seqgan_music.run_evaluation.comparison import _best

    assert _best([0.4, 0.5], "lower") == 0 and _best([0.4, 0.5], "higher") == 1
    assert _best([0.005, 0.00501], "lower") is None  # both show 0.0050
    assert _best([0.5, float("nan")], "higher") is None and _best([0.4, 0.5], "") is None
