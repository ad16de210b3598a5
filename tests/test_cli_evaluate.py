"""`evaluate`, `sweep` and `experiment` through the command line on tiny runs and corpora."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.corpora.corpus import Corpus
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.corpora.oracle import build_oracle_corpus
from seqgan_music.experiments.definitions import grammar_experiment
from training_helpers import TINY, train

runner = CliRunner()
TINY_SETS = [part for setting in TINY for part in ("--set", setting)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A grammar corpus and two tiny runs on it, "first" (one epoch) and "second" (six), trained once."""
    root = tmp_path_factory.mktemp("trained")
    build_grammar_corpus("grammar", 15, count=300, seed=1).save(root)
    train(root, "grammar", "first", epochs=1)
    train(root, "grammar", "second", epochs=6)
    return root


@pytest.fixture
def home(trained: Path, tmp_path: Path) -> Path:
    """A copy of `trained` for each test: evaluating writes caches and files into the project."""
    shutil.copytree(trained, tmp_path, dirs_exist_ok=True)
    return tmp_path


def invoke(home: Path, *args: str):
    return runner.invoke(app, [*args, "--home", str(home)])


def test_evaluate_two_runs_side_by_side_with_p_values_and_json(home):
    result = invoke(home, "evaluate", "first", "second", "--samples", "60", "--json", str(home / "scores.json"),
                    "--permutations", "500")
    assert result.exit_code == 0, result.output
    assert "goodness" in result.output and "real (valid)" in result.output and "p second vs first" in result.output
    data = json.loads((home / "scores.json").read_text())
    assert [run["run"] for run in data["runs"]] == ["first", "second"]
    metrics = {c["metric"] for c in data["comparisons"]}
    assert {"bleu4", "self_bleu4", "goodness", "nll_test"} <= metrics
    assert all(0 < c["permutation_p"] <= 1 for c in data["comparisons"])
    again = invoke(home, "evaluate", "first", "second", "--samples", "60", "--permutations", "500")
    assert "cached results reused for first, second" in again.output


def test_evaluate_one_run_with_chosen_metrics(home):
    result = invoke(home, "evaluate", "second", "--samples", "30", "--metrics", "goodness,nll-test")
    assert result.exit_code == 0, result.output
    assert "goodness" in result.output and "NLL_test" in result.output and "BLEU" not in result.output


@pytest.mark.parametrize("args, message", [
    (["evaluate", "missing"], "no run named 'missing'"),
    (["evaluate", "first", "--references", "dev"], "--references must be one of"),
    (["evaluate", "first", "--samples", "1"], "--samples must be at least 2"),
    (["evaluate", "first", "--metrics", "mse"], "does not apply"),
    (["evaluate", "first", "--metrics", "bleu9"], "unknown metric"),
    (["evaluate", "first", "--temperature", "0"], "--temperature"),
    (["evaluate", "first", "--samples", "10", "--json", "/proc/nope/x.json"], "cannot write"),
    (["sweep", "first", "--temperatures", "0.8,abc"], "--temperatures must be"),
    (["sweep", "first", "--temperatures", "0,1"], "above 0"),
    (["sweep", "first", "--quality", "mse"], "does not apply"),
    (["sweep", "first", "--diversity", "bleu4"], "--diversity must be one of"),
])
def test_bad_input_is_one_line(home, args, message):
    result = invoke(home, *args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_sweep_plots_quality_against_diversity(home):
    result = invoke(home, "sweep", "first", "second", "--temperatures", "0.7,1.3", "--samples", "40",
                    "--quality", "goodness", "--json", str(home / "sweep.json"))
    assert result.exit_code == 0, result.output
    assert "● first" in result.output and "▲ second" in result.output and "self_bleu4" in result.output
    points = json.loads((home / "sweep.json").read_text())["points"]
    assert [(p["run"], p["temperature"]) for p in points] == [("first", 0.7), ("first", 1.3), ("second", 0.7), ("second", 1.3)]


@pytest.mark.parametrize("command", [["evaluate", "--samples", "30"], ["sweep", "--temperatures", "0.8", "--samples", "30"]])
def test_runs_on_different_corpora_are_refused_before_any_sampling(tmp_path, monkeypatch, command):
    """From run.json alone: neither generator is loaded and no evaluation is cached."""
    build_grammar_corpus("long", 15, count=120, seed=1).save(tmp_path)
    build_grammar_corpus("short", 3, count=120, seed=1).save(tmp_path)
    train(tmp_path, "long", "on-long", epochs=1)
    train(tmp_path, "short", "on-short", epochs=1)

    def never(*args, **kwargs):
        raise AssertionError("a generator was loaded before the corpora were compared")

    monkeypatch.setattr("seqgan_music.run_evaluation.runs.load_trained_run", never)
    monkeypatch.setattr("seqgan_music.run_evaluation.sweep.run_corpus", never)
    result = invoke(tmp_path, command[0], "on-long", "on-short", *command[1:])
    assert result.exit_code == 1, result.output
    assert "were trained on different corpora ('long', 'short')" in result.output
    assert not list((tmp_path / "checkpoints").glob("*/evaluations.json"))


@pytest.mark.usefixtures("few_permutations")
def test_oracle_experiment_trains_evaluates_reports_and_reuses_its_runs(tmp_path):
    build_oracle_corpus("oracle", seed=2, train=300, held_out=200, length=8).save(tmp_path)
    args = ["experiment", "oracle", "--tag", "tiny", "--samples", "200", *TINY_SETS,
            "--set", "scheduled_sampling.epochs=2", "--set", "mle.epochs=2"]
    result = invoke(tmp_path, *args)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "checkpoints" / "oracle-cpu-tiny"
    report = json.loads((folder / "report.json").read_text())
    assert list(report["results"]) == ["Random", "MLE", "SS", "PG-BLEU", "SeqGAN"]
    assert report["results"]["MLE"]["nll_oracle"] < report["results"]["Random"]["nll_oracle"]
    assert report["paper"]["SeqGAN"]["nll_oracle"] == 8.736
    assert {c["label"] for c in report["comparisons"]} == {"Random", "MLE", "SS", "PG-BLEU"}
    assert report["machine"]["cores"] >= 1 and report["runs"][4]["wall_seconds"] > 0
    markdown = (folder / "report.md").read_text()
    assert "| Random |" in markdown and "| SS |" in markdown and "(not run)" not in markdown and "## Machine" in markdown
    again = invoke(tmp_path, *args)
    assert again.exit_code == 0 and again.output.count("finished earlier, reused") == 5
    changed = invoke(tmp_path, *args[:-1], "mle.epochs=3")
    assert changed.exit_code == 1 and "exists with other settings" in changed.output
    chosen = invoke(tmp_path, *args, "--methods", "mle,seqgan")  # a smaller table reuses the same runs
    assert chosen.exit_code == 0 and chosen.output.count("finished earlier, reused") == 2, chosen.output
    report = json.loads((folder / "report.json").read_text())
    assert list(report["results"]) == ["MLE", "SeqGAN"] and report["focus"] == "SeqGAN"
    assert {c["label"] for c in report["comparisons"]} == {"MLE"}
    sweep = report["sweep"]  # every row swept by default
    assert sweep["temperatures"] == [0.6, 0.8, 1.0, 1.2, 1.5] and sweep["quality"] == "nll_oracle"
    assert [p["method"] for p in sweep["points"]] == ["MLE"] * 5 + ["SeqGAN"] * 5


@pytest.mark.usefixtures("few_permutations")
def test_nottingham_experiment_on_a_small_music_corpus(nottingham_grid16, tmp_path):
    corpus = nottingham_grid16
    sizes = {"train": 200, "valid": 40, "test": 40}
    Corpus("nottingham-grid16", {s: corpus.splits[s][:n] for s, n in sizes.items()}, corpus.vocabulary,
           corpus.encoding, dict(corpus.manifest), corpus.tunes,
           {s: corpus.tune_of_window[s][:n] for s, n in sizes.items()}).save(tmp_path)
    result = invoke(tmp_path, "experiment", "nottingham", "--encoding", "grid16", *TINY_SETS, "--set", "mle.epochs=1")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "checkpoints" / "nottingham-grid16" / "report.json").read_text())
    assert list(report["results"]) == ["MLE", "SeqGAN"]
    assert {"bleu4", "mse", "novelty8", "pitch_classes_overlap"} <= set(report["results"]["SeqGAN"])
    assert report["real"]["split"] == "valid" and report["real"]["mse"] < report["results"]["MLE"]["mse"]
    wrong = invoke(tmp_path, "experiment", "nottingham", "--encoding", "paper", "--corpus", "nottingham-grid16")
    assert wrong.exit_code == 1 and "uses the grid16 encoding" in wrong.output


@pytest.mark.usefixtures("few_permutations")
def test_grammar_experiment_reports_goodness_and_variance_curves(tmp_path):
    build_grammar_corpus("grammar3", 3, count=400, seed=1).save(tmp_path)
    args = ["experiment", "grammar", "--length", "3", "--samples", "1000", *TINY_SETS, "--set", "adversarial.rounds=4",
            "--set", "adversarial.eval_every=2", "--set", "adversarial.variance_estimates=3"]
    result = invoke(tmp_path, *args)
    assert result.exit_code == 0, result.output
    assert "● REINFORCE" in result.output and "ln Var (output layer)" in result.output
    folder = tmp_path / "checkpoints" / "grammar3"
    report = json.loads((folder / "report.json").read_text())
    labels = ["REINFORCE", "REINFORCE+baseline", "REBAR", "RELAX", "REBAR-seq", "RELAX-seq", "SeqGAN"]
    assert list(report["results"]) == labels and report["focus"] == "RELAX" and report["paper"] == {}
    assert [run["method"] for run in report["runs"]] == ["reinforce", "reinforce", "rebar", "relax", "rebar", "relax", "seqgan"]
    curves = report["curves"]
    assert list(curves) == labels
    starts = {points[0]["goodness"] for points in curves.values()}
    assert len(starts) == 1  # every method learns from the same MLE start
    for points in curves.values():
        assert [p["round"] for p in points] == [0, 2, 4]
        assert set(points[0]) == {"round", "goodness"}
        assert all(p["log_variance_output"] < 0 and p["log_variance_weight"] < 10 for p in points[1:])
        assert all(0 <= p["goodness"] <= 1 for p in points)
    table = (folder / "curves.csv").read_text().splitlines()
    assert table[0] == "method,round,goodness,log_variance_output,log_variance_weight" and len(table) == 1 + 7 * 3
    markdown = (folder / "report.md").read_text()
    assert "## Curves" in markdown and "share of valid sequences" in markdown


def test_grammar_experiment_sets_the_regan_figures_as_shares_of_13_windows():
    experiment = grammar_experiment(15)
    assert experiment.corpus == "grammar15"
    assert experiment.paper == {"REINFORCE": {"goodness": 0.9538}, "REBAR-seq": {"goodness": 0.9538},
                                "RELAX-seq": {"goodness": 0.9154}}
    controls = {run.label: run.config.relaxation.control for run in experiment.runs if run.config.run.method == "relax"}
    assert controls == {"RELAX": "token", "RELAX-seq": "sequence"}
    assert grammar_experiment(15, tag="b").corpus == "grammar15"  # a tag renames the runs, not the corpus


def test_grammar_experiment_refuses_a_corpus_of_another_length(tmp_path):
    build_grammar_corpus("g15", 15, count=50).save(tmp_path)
    result = invoke(tmp_path, "experiment", "grammar", "--length", "3", "--corpus", "g15")
    assert result.exit_code == 1 and "is not the toy grammar of length 3" in result.output


@pytest.mark.parametrize("args, message", [
    (["experiment", "grammar", "--length", "7"], "--length must be 3 or 15"),
    (["experiment", "oracle"], "pass --params FILE"),
    (["experiment", "oracle", "--preset", "folk"], "--preset must be one of"),
    (["experiment", "oracle", "--tag", "a/b"], "invalid experiment name"),
    (["experiment", "oracle", "--methods", "mle,nope"], "--methods: unknown method 'nope'"),
    (["experiment", "oracle", "--methods", "seqgan"], "--methods: name at least two methods"),
    (["experiment", "oracle", "--methods", "mle,mle"], "--methods: each method may be named once"),
    (["experiment", "nottingham"], "pass --midi DIR"),
    (["experiment", "nottingham", "--encoding", "midi"], "--encoding must be one of"),
])
def test_experiment_bad_input_is_one_line(tmp_path, args, message):
    build_oracle_corpus("other", seed=2, train=20, held_out=4, length=4).save(tmp_path)
    result = invoke(tmp_path, *args)
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output


def test_a_window_run_beside_a_tune_run_shows_form_metrics_with_a_real_column_per_unit(tmp_path):
    from test_evaluation_form import aabb_project

    home = aabb_project(tmp_path)
    result = runner.invoke(app, ["evaluate", "windows", "tunes", "--samples", "20", "--metrics", "bleu,form",
                                 "--permutations", "200", "--json", str(tmp_path / "scores.json"),
                                 "--home", str(home)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "real (valid)" in result.output and "real (valid, tunes)" in result.output
    row = next(line.split() for line in result.output.splitlines() if line.strip().startswith("length (bars)"))
    assert row[-2:] == ["2.0000", "16.0000"] and len(row) == 6  # windows of 2 bars, tunes of 16; no p-values
    data = json.loads((tmp_path / "scores.json").read_text())
    windows, tunes = data["runs"]
    assert (windows["unit"], tunes["unit"]) == ("window", "tune")
    assert len(tunes["generated"]["per_window"]["bar_repeat"]) == 20
    assert set(tunes["real"]["counts"]["forms"]) == {"AABB"}
    compared = {c["metric"] for c in data["comparisons"]}
    assert "bleu4" in compared and "bar_repeat" not in compared

    sweep = runner.invoke(app, ["sweep", "tunes", "--quality", "bar_repeat", "--temperatures", "1.0", "--samples",
                                "10", "--json", str(tmp_path / "sweep.json"), "--home", str(home)],
                          env={"COLUMNS": "250"})
    assert sweep.exit_code == 0, sweep.output
    assert "real bar_repeat" in sweep.output
    point = json.loads((tmp_path / "sweep.json").read_text())["points"][0]
    assert point["real_quality"] == pytest.approx(8 / 15) and 0 <= point["quality"] <= 1


def test_help_defines_the_form_and_c2st_groups():
    evaluate_help = " ".join(runner.invoke(app, ["evaluate", "--help"], env={"COLUMNS": "250"}).output.split())
    assert "form (per tune as played:" in evaluate_help and "c2st (classifier two-sample test:" in evaluate_help
    assert "only when named: --metrics c2st" in evaluate_help
    sweep_help = " ".join(runner.invoke(app, ["sweep", "--help"], env={"COLUMNS": "250"}).output.split())
    assert "bar_repeat" in sweep_help and "c2st" in sweep_help
