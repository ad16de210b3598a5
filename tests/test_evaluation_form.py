"""Form and C2ST metrics in `evaluate`, and whole-tune runs evaluated on their own unit, on a tiny corpus
of AABB tunes with a window run and two whole-tune runs trained on it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from seqgan_music.config import apply_overrides, preset
from seqgan_music.corpora.corpus import Corpus, load_corpus
from seqgan_music.corpora.encodings import Grid16
from seqgan_music.corpora.melody import Key, Melody, Note, bar_lines
from seqgan_music.corpora.music import build_music_corpus
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.corpora.tunes import parse_tune_symbols
from seqgan_music.evaluation.form import PER_TUNE_METRICS, form_stats
from seqgan_music.evaluation.scores import chosen_groups
from seqgan_music.models.generator import Generator
from seqgan_music.run_evaluation.comparison import compare_pair, comparison_grid
from seqgan_music.run_evaluation.runs import EvaluationSettings, evaluate_run
from seqgan_music.training.launch import start_run
from seqgan_music.training.mle import sequence_nlls
from seqgan_music.training.generation import load_trained_run
from seqgan_music.training.sequences import padded
from training_helpers import TINY

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FORM_FIGURES = ("part_bars", "with_parts")


def aabb_tune(seed: int) -> Melody:
    """Sixteen bars of quarter notes: a 4-bar strain A played twice, then B twice."""
    def strain(offset: int) -> list[list[int]]:
        return [[60 + (offset * 3 + bar * 5 + step) % 12 for step in range(4)] for bar in range(4)]

    a, b = strain(seed), strain(seed + 2)  # no bar of B equals one of A
    notes = [Note(pitch, 4.0 * index + step, 4.0 * index + step + 1)
             for index, bar in enumerate(a + a + b + b) for step, pitch in enumerate(bar)]
    return Melody(notes, bar_lines([(0.0, "4/4")], 64.0), "4/4", Key(0), source=f"reel{seed}.mid")


def train_run(home: Path, run: str, *overrides: str) -> None:
    config = apply_overrides(preset("quick"), [*TINY, "mle.epochs=1", "run.method=mle", *overrides])
    assert start_run(home, "aabb", config, run).run() == "finished"


def aabb_project(root: Path, tune_runs: int = 1) -> Path:
    """40 AABB tunes (about 20/10/10 tunes per split) in windows of two bars, as corpus `aabb`; runs
    `windows` (window unit), `tunes` and, with `tune_runs=2`, `tunes2` (whole tunes, 1 and 2 epochs)."""
    corpus = build_music_corpus("aabb", [aabb_tune(i) for i in range(40)], Grid16(length=32, stride=32),
                                SplitPlan((0.5, 0.25, 0.25)), {"kind": "midi"})
    corpus.save(root)
    assert min(len(corpus.tune_sequences[split]) for split in ("valid", "test")) >= 5
    train_run(root, "windows")
    for index in range(1, tune_runs + 1):
        train_run(root, "tunes" if index == 1 else f"tunes{index}", "data.unit=tune", "mle.batch_size=4",
                  f"mle.epochs={index}")
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return aabb_project(tmp_path_factory.mktemp("form"), tune_runs=2)


@pytest.fixture
def home(project: Path, tmp_path: Path) -> Path:
    """The project copied for one test (evaluations write their cache into the run folders)."""
    return Path(shutil.copytree(project, tmp_path / "home"))


def played_tunes(corpus: Corpus, split: str) -> list[Melody]:
    return [parse_tune_symbols(corpus.symbols(tune)).melody(played=True) for tune in corpus.tune_sequences[split]]


def sample_real_tunes(monkeypatch: pytest.MonkeyPatch, corpus: Corpus, split: str) -> list[int]:
    """Every generator samples the real tunes of `split` (padded); returns the lengths it was asked for."""
    lengths: list[int] = []
    tunes = padded(corpus.tune_sequences[split], corpus.vocabulary.pad, torch.device("cpu"))

    def sample(self, n, length, temperature=1.0, top_k=None, generator=None, batch_size=1024):
        lengths.append(length)
        assert n <= len(tunes)
        return tunes[:n]

    monkeypatch.setattr(Generator, "sample", sample)
    return lengths


def assert_same_form(generated, real) -> None:
    for metric in PER_TUNE_METRICS:
        np.testing.assert_allclose(generated.per_window[metric], real.per_window[metric], atol=1e-6, equal_nan=True)
    for figure in FORM_FIGURES:
        assert generated.figures[figure] == pytest.approx(real.figures[figure], abs=1e-6)


def test_the_real_column_is_the_form_of_the_held_out_real_tunes_played_out(home):
    corpus = load_corpus(home, "aabb")
    evaluation = evaluate_run(home, "tunes", EvaluationSettings(samples=50, metrics=("form",)))
    assert evaluation.unit == "tune" and evaluation.real_split == "valid"
    expected = form_stats(played_tunes(corpus, "valid"))  # fewer valid tunes than samples: all of them
    for metric in PER_TUNE_METRICS:
        np.testing.assert_allclose(evaluation.real.per_window[metric], expected.tune_values(metric), atol=1e-6)
    assert evaluation.real_value("bar_repeat") == pytest.approx(expected.bar_repeat, abs=1e-6)
    assert expected.bar_repeat == pytest.approx(8 / 15)  # AABB: 8 of the 15 bars after the first repeat one
    assert evaluation.real_value("with_parts") == 1.0 and evaluation.real.counts["forms"] == {"AABB": expected.tunes}
    assert evaluation.real_value("part_bars") == pytest.approx(4.0)
    assert len(evaluation.generated.per_window["bar_repeat"]) == 50  # one value per sampled tune


def test_a_tune_run_sampling_the_real_tunes_scores_the_real_column_and_their_own_windows(home, monkeypatch):
    corpus = load_corpus(home, "aabb")
    lengths = sample_real_tunes(monkeypatch, corpus, "valid")
    count = len(corpus.tune_sequences["valid"])
    evaluation = evaluate_run(home, "tunes", EvaluationSettings(samples=count))
    assert lengths == [max(len(tune) for tune in corpus.tune_sequences["train"])]  # the tune length limit
    assert_same_form(evaluation.generated, evaluation.real)
    # BLEU, MSE and the music statistics read one window per played tune, cut as the corpus cuts
    # its tunes: scored against the same tunes' windows, each is found exactly.
    against_valid = evaluate_run(home, "tunes", EvaluationSettings(samples=count, references="valid"))
    assert len(against_valid.generated.per_window["bleu4"]) == count
    assert np.allclose(against_valid.generated.per_window["bleu4"], 1.0)
    assert np.allclose(against_valid.generated.per_window["mse"], 0.0)
    assert len(corpus.splits["valid"]) > count  # several windows per tune, one of each chosen


def test_a_trained_tune_run_differs_significantly_from_the_real_tunes_in_form(home, monkeypatch):
    trained = evaluate_run(home, "tunes", EvaluationSettings(samples=40, metrics=("form",)))
    corpus = load_corpus(home, "aabb")
    lengths = sample_real_tunes(monkeypatch, corpus, "valid")
    count = len(corpus.tune_sequences["valid"])
    real = evaluate_run(home, "tunes2", EvaluationSettings(samples=count, metrics=("form",)))
    assert lengths and real.value("bar_repeat") == pytest.approx(8 / 15)
    assert trained.value("bar_repeat") < 0.4  # one MLE epoch on 20 tunes writes no strains
    p_values = {c.metric: c.result for c in compare_pair(real, trained, permutations=500)}
    assert {"bar_repeat", "phrase_repeat", "tune_bars"} <= set(p_values)
    assert p_values["bar_repeat"].welch_p < 0.01 and p_values["bar_repeat"].permutation_p < 0.01


def test_a_window_run_measures_form_on_its_windows_and_the_real_windows(home):
    corpus = load_corpus(home, "aabb")
    evaluation = evaluate_run(home, "windows", EvaluationSettings(samples=200, metrics=("form",)))
    assert evaluation.unit == "window" and len(evaluation.generated.per_window["bar_repeat"]) == 200
    expected = form_stats([corpus.decode(window) for window in corpus.splits["valid"]])
    for metric in PER_TUNE_METRICS:
        np.testing.assert_allclose(evaluation.real.per_window[metric], expected.tune_values(metric), atol=1e-6,
                                   equal_nan=True)
    assert evaluation.real_value("tune_bars") == pytest.approx(2.0)  # windows of two bars


def test_nll_test_of_a_tune_run_is_per_test_tune(home):
    corpus = load_corpus(home, "aabb")
    evaluation = evaluate_run(home, "tunes", EvaluationSettings(samples=10, metrics=("nll-test",)))
    tunes = corpus.tune_sequences["test"]
    generator = load_trained_run(home, "tunes").generator
    totals, counts = sequence_nlls(generator, padded(tunes, corpus.vocabulary.pad, torch.device("cpu")))
    assert counts.tolist() == [len(tune) for tune in tunes]  # each whole tune to its end, pads not counted
    assert evaluation.nll_test == pytest.approx(float(totals.sum() / counts.sum()), rel=1e-5)
    assert len(evaluation.nll_test_per_window) == len(tunes)


def test_a_window_run_and_tune_runs_side_by_side_get_a_real_column_per_unit(home):
    settings = EvaluationSettings(samples=30, metrics=("bleu", "form", "nll-test"))
    window, tunes, tunes2 = (evaluate_run(home, run, settings) for run in ("windows", "tunes", "tunes2"))
    grid = comparison_grid([window, tunes, tunes2], [compare_pair(window, other, 200) for other in (tunes, tunes2)])
    assert grid.real_headings == ["real (valid)", "real (valid, tunes)"]
    rows = {row.label: row for row in grid.rows}
    assert rows["BLEU-4"].real[0] == rows["BLEU-4"].real[1]  # the same real windows calibrate both units
    assert rows["length (bars)"].real == ["2.0000", "16.0000"]
    assert all(p for p in rows["BLEU-4"].p_values)
    for label in ("bar repeats, played", "length (bars)", "NLL_test"):
        assert rows[label].p_values == ["", ""], label  # measured on different units: no p-value
    same_unit = {c.metric for c in compare_pair(tunes, tunes2, 200)}
    assert {"bar_repeat", "nll_test", "bleu4"} <= same_unit


def test_c2st_is_opt_in_and_reports_accuracy_with_its_interval_against_real_sequences(home, monkeypatch):
    corpus = load_corpus(home, "aabb")
    assert "c2st" not in chosen_groups(corpus, None) and chosen_groups(corpus, ["c2st"]) == ("c2st",)
    sample_real_tunes(monkeypatch, corpus, "valid")
    tests, valid = (len(corpus.tune_sequences[split]) for split in ("test", "valid"))
    evaluation = evaluate_run(home, "tunes", EvaluationSettings(samples=valid, metrics=("c2st",)))
    for scores in (evaluation.generated, evaluation.real):  # real tunes against the test tunes, both
        figures = scores.figures
        assert figures["c2st_low"] <= figures["c2st"] <= figures["c2st_high"]
        assert 0 < figures["c2st_p"] <= 1
        assert figures["c2st_samples"] == min(valid, tests)  # balanced: the smaller set's size
    grid = comparison_grid([evaluation], [])
    shown = grid.rows[0]
    assert shown.label == "C2ST accuracy [95% CI]"
    assert shown.values[0] == (f"{evaluation.value('c2st'):.4f} [{evaluation.generated.figures['c2st_low']:.4f}, "
                               f"{evaluation.generated.figures['c2st_high']:.4f}]")


def test_a_packed_run_summary_names_its_unit_and_its_form_figures(home):
    from seqgan_music.run_evaluation.runs import cached_evaluations
    from seqgan_music.training.runs import run_dir

    evaluate_run(home, "tunes", EvaluationSettings(samples=12, metrics=("form",)))
    (summary,) = cached_evaluations(run_dir(home, "tunes"))
    assert summary["unit"] == "tune" and summary["real"]["bar_repeat"] == pytest.approx(8 / 15)
    assert {"bar_repeat", "phrase_repeat", "part_bars", "with_parts"} <= set(summary["generated"])
