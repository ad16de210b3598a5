"""`experiment tunes`: MLE against SeqGAN with rewards per bar on whole tunes, compared by C2ST, the
form metrics, NLL_test and self-BLEU with p-values; the definition, and a tiny end-to-end run on a
few real Nottingham tunes."""

from __future__ import annotations

import json
import pytest
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.config import config_to_dict
from seqgan_music.errors import SeqganError
from seqgan_music.experiments.definitions import tunes_experiment

HEADLINE = ("c2st", "bar_repeat", "notated_bar_repeat", "phrase_repeat", "ends_on_tonic", "nll_test",
            "self_bleu4")
# A few short real tunes, split by hand so that valid and test each hold five (C2ST's five folds need them).
TRAIN = ("hpps40.mid", "reelsa-c31.mid", "reelsa-c32.mid", "hpps26.mid", "hpps27.mid", "hpps32.mid", "hpps51.mid",
         "morris12.mid")
VALID = ("jigs67.mid", "jigs76.mid", "reelsa-c49.mid", "reelsa-c76.mid", "reelsh-l1.mid")
TEST = ("reelsh-l38.mid", "hpps10.mid", "hpps12.mid", "hpps13.mid", "hpps14.mid")
TINY = ["generator.embedding=8", "generator.hidden=16", "discriminator.embedding=8", "discriminator.filter_scale=0.05",
        "mle.epochs=8", "mle.learning_rate=0.02", "mle.batch_size=4", "pretrain_d.rounds=1", "pretrain_d.negatives=8", "adversarial.rounds=2",
        "adversarial.negatives=8", "adversarial.batch_size=2", "adversarial.rollouts=2", "adversarial.eval_every=1",
        "run.eval_samples=4", "run.samples=2", "run.device=cpu", "rollout.chunk_size=64"]


def without_method(config) -> dict:
    data = config_to_dict(config)
    data["run"] = {k: v for k, v in data["run"].items() if k != "method"}
    return data


def test_the_experiment_is_mle_and_seqgan_with_bar_rewards_on_whole_tunes_alike_but_for_the_method():
    experiment = tunes_experiment(seed=3)
    assert experiment.name == "tunes" and experiment.corpus == "nottingham" and experiment.focus == "SeqGAN"
    assert [(e.label, e.run, e.config.run.method) for e in experiment.runs] == [
        ("MLE", "tunes-mle", "mle"), ("SeqGAN", "tunes-seqgan", "seqgan")]
    mle, seqgan = (e.config for e in experiment.runs)
    assert without_method(mle) == without_method(seqgan)
    assert (seqgan.data.unit, seqgan.rollout.every, seqgan.generator.lookback) == ("tune", "bar", True)
    assert (seqgan.run.seed, seqgan.run.threads, seqgan.preset) == (3, 1, "folk-tunes")
    assert experiment.evaluation.seed == 3 and experiment.headline == HEADLINE


def test_settings_may_change_but_not_what_defines_the_experiment():
    experiment = tunes_experiment("tunes-quick", "folk", tag="b", overrides=["run.threads=2", "adversarial.rounds=3"])
    assert experiment.name == "tunes-tunes-quick-b" and experiment.corpus == "folk"
    assert all((e.config.run.threads, e.config.adversarial.rounds) == (2, 3) for e in experiment.runs)
    with pytest.raises(SeqganError, match="always trains on whole tunes with rewards per bar"):
        tunes_experiment(overrides=["rollout.every=token"])
    with pytest.raises(SeqganError, match="always trains on whole tunes"):
        tunes_experiment(overrides=["data.unit = window"])
    with pytest.raises(SeqganError, match="must be a whole-tune preset"):
        tunes_experiment("folk")


def test_a_missing_corpus_is_refused_in_one_line_that_says_how_to_build_it(tmp_path):
    result = CliRunner().invoke(app, ["experiment", "tunes", "--home", str(tmp_path)])
    assert result.exit_code == 1
    assert "corpus build midi ../shared/data/nottingham/MIDI --name nottingham" in result.output
    assert "Traceback" not in result.output


def test_a_corpus_without_whole_tunes_is_refused_in_one_line_that_names_what_is_needed(tmp_path):
    from seqgan_music.corpora.grammar import build_grammar_corpus

    build_grammar_corpus("g3", 3, count=50, seed=1).save(tmp_path)
    result = CliRunner().invoke(app, ["experiment", "tunes", "--corpus", "g3", "--home", str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "corpus 'g3' keeps no whole tunes" in result.output and "data.unit=window" not in result.output


def evaluation_with_c2st(accuracy: float | None, per_set: int = 100):
    from seqgan_music.evaluation.scores import ScoreSet
    from seqgan_music.run_evaluation.runs import RunEvaluation

    figures = {} if accuracy is None else {"c2st": accuracy, "c2st_samples": float(per_set)}
    return RunEvaluation("r", "c", "finished", {}, ("c2st",), ScoreSet(figures=figures), ScoreSet(), "valid")


def test_two_c2st_accuracies_are_compared_as_their_held_out_predictions():
    from seqgan_music.experiments.tunes import c2st_comparison

    close = c2st_comparison(evaluation_with_c2st(0.62), evaluation_with_c2st(0.655))
    assert (close.count_a, close.count_b) == (200, 200)  # 2n predictions, n tunes of each set
    assert close.mean_a == pytest.approx(0.62) and close.difference == pytest.approx(0.035) and close.welch_p > 0.4
    apart = c2st_comparison(evaluation_with_c2st(0.55), evaluation_with_c2st(0.95))
    assert apart.welch_p < 1e-10 and apart.permutation_p < 0.001
    assert c2st_comparison(evaluation_with_c2st(None), evaluation_with_c2st(0.6)) is None


def test_a_tiny_c2st_p_value_is_kept_in_the_report_data_not_rounded_to_zero():
    from seqgan_music.evaluation.scores import ScoreSet
    from seqgan_music.experiments.tunes_report import _set_data

    figures = {"c2st": 0.8636, "c2st_low": 0.805116, "c2st_high": 0.906622, "c2st_p": 3.2e-23, "c2st_samples": 88.0}
    data = _set_data(ScoreSet(figures=figures), figures.get, ["c2st"])
    assert data["c2st_detail"] == {k: v for k, v in figures.items() if k != "c2st"} and data["c2st"] == 0.8636


@pytest.fixture(scope="module")
def tiny_nottingham(shared_data, tmp_path_factory):
    """A home with a corpus of 18 short Nottingham tunes: 8 train, 5 valid, 5 test."""
    from seqgan_music.corpora.encodings import music_encoding
    from seqgan_music.corpora.midi import read_midi_melody
    from seqgan_music.corpora.music import build_music_corpus
    from seqgan_music.corpora.split import SplitPlan

    folder = shared_data / "nottingham" / "MIDI"
    splits = {name: split for split, names in (("train", TRAIN), ("valid", VALID), ("test", TEST)) for name in names}
    melodies = [read_midi_melody(folder / name, name) for name in splits]
    corpus = build_music_corpus("notts", melodies, music_encoding("grid16"), SplitPlan(assigned=splits),
                                {"kind": "midi"})
    assert {split: len(tunes) for split, tunes in corpus.tune_sequences.items()} == {"train": 8, "valid": 5, "test": 5}
    home = tmp_path_factory.mktemp("tunes-home")
    corpus.save(home)
    return home


@pytest.fixture
def short_c2st(monkeypatch):
    """The experiment's C2ST reads each tune's first 256 tokens instead of 1,200 (about a third of the time;
    the experiment has no setting for it): the test checks that its accuracy, interval and p-value are
    computed and reported, which a shorter read shows as well; tests/test_c2st.py tests the test."""
    from functools import partial

    from seqgan_music.evaluation import scores

    monkeypatch.setattr(scores, "C2STSettings", partial(scores.C2STSettings, max_length=256))


@pytest.mark.usefixtures("short_c2st")
def test_a_tiny_experiment_reports_every_metric_with_the_real_tunes_and_p_values(tiny_nottingham):
    from seqgan_music.training.runs import read_metrics, run_dir

    home = tiny_nottingham
    options = [f"--set={setting}" for setting in TINY]
    result = CliRunner().invoke(app, ["experiment", "tunes", "--corpus", "notts", "--preset", "tunes-quick",
                                      "--samples", "20", "--device", "cpu", "--home", str(home), *options])
    assert result.exit_code == 0, result.output
    folder = home / "checkpoints" / "tunes-tunes-quick"
    data = json.loads((folder / "report.json").read_text())
    assert [run["label"] for run in data["runs"]] == ["MLE", "SeqGAN"]
    for label in ("MLE", "SeqGAN"):
        values = data["results"][label]
        assert all(isinstance(values[m], float) for m in HEADLINE), values
        detail = values["c2st_detail"]
        assert 0 <= values["c2st"] <= 1 and detail["c2st_samples"] == 5  # the five test tunes, balanced
        assert detail["c2st_low"] <= values["c2st"] <= detail["c2st_high"]
        assert 0 < detail["c2st_p"] <= 1
        assert values["tunes"] == 20
    real = data["real"]
    assert real["split"] == "valid" and real["tunes"] == 5 and real["nll_test"] is None
    assert all(isinstance(real[m], float) for m in HEADLINE if m != "nll_test")
    compared = {c["metric"]: c for c in data["comparisons"]}
    assert set(HEADLINE) <= set(compared)
    assert all(0 < compared[m]["permutation_p"] <= 1 and compared[m]["label"] == "MLE" for m in HEADLINE)
    assert compared["nll_test"]["count_a"] == compared["nll_test"]["count_b"] == 5  # one per test tune
    assert compared["c2st"]["count_a"] == 10  # one held-out prediction per tune of the balanced sets
    # The training times by phase, and the MLE phase the same in both runs (same settings and seed).
    mle_run, seqgan_run = data["runs"]
    assert set(mle_run["phase_seconds"]) == {"mle"}
    assert set(seqgan_run["phase_seconds"]) == {"mle", "pretrain_d", "adversarial"}
    assert data["mle_phase"]["MLE"] == data["mle_phase"]["SeqGAN"] and data["mle_phase"]["MLE"]["nll_test"] > 0
    mle_records = [r for r in read_metrics(run_dir(home, "tunes-tunes-quick-seqgan")) if r["phase"] == "mle"]
    assert [r["g_loss"] for r in mle_records] == [r["g_loss"] for r in read_metrics(run_dir(home, "tunes-tunes-quick-mle"))]
    # SeqGAN's adversarial phase round by round: D's accuracy, the reward, NLL_test.
    start = data["curves"]["SeqGAN"][0]  # round 0: D after pre-training and the generator after MLE
    assert start["round"] == 0 and start["nll_test"] == data["mle_phase"]["SeqGAN"]["nll_test"] and "d_acc_fake" in start
    rounds = data["rounds"]["SeqGAN"]
    assert [r["round"] for r in rounds] == [1, 2]
    assert all({"d_acc_real", "d_acc_fake", "mean_reward", "nll_test"} <= set(r) for r in rounds)
    report = (folder / "report.md").read_text()
    for heading in ("C2ST accuracy", "bar repeats, notated", "ends on the tonic", "self-BLEU-4", "p-values: SeqGAN against each",
                    "SeqGAN: the adversarial phase round by round", "Both runs' MLE phases ended alike"):
        assert heading in report
    assert "SeqGAN against each" in result.output  # the report is shown in the terminal too
