"""The quality-diversity sweep of every method in `experiment oracle` and `experiment text`: one
point per method and temperature through the cached evaluations of `seqgan-music sweep`, drawn in
the report with the oracle's own entropy as a floor line, and saved as sweep.json and sweep.csv."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.cli.experiment import SWEEP_DEFAULT
from seqgan_music.config import METHODS
from seqgan_music.corpora.corpus import load_corpus
from seqgan_music.corpora.oracle import build_oracle_corpus, corpus_oracle
from seqgan_music.experiments.definitions import SWEEP_TEMPERATURES, SweepPlan, oracle_experiment, text_experiment
from seqgan_music.plotting import LEVEL, MARKERS, line_plot
from seqgan_music.run_evaluation.sweep import FLOOR_LABEL, SweepPoint, oracle_floor, parse_temperatures, sweep_plot
from training_helpers import TINY

runner = CliRunner()
TINY_SETS = [part for setting in [*TINY, "mle.epochs=2", "run.threads=1"] for part in ("--set", setting)]


def invoke(home: Path, *args: str):
    return runner.invoke(app, [*args, "--home", str(home)])


@pytest.fixture
def oracle_home(tmp_path: Path) -> Path:
    build_oracle_corpus("oracle", seed=2, train=300, held_out=200, length=8).save(tmp_path)
    return tmp_path


def test_both_experiments_sweep_every_method_by_default():
    oracle = oracle_experiment(methods=("random", *METHODS))
    assert oracle.sweep == SweepPlan("nll_oracle", "nll_test", SWEEP_TEMPERATURES)
    assert [run.run for run in oracle.runs] == ["oracle-cpu-random", *[f"oracle-cpu-{m}" for m in METHODS]]
    assert text_experiment().sweep == SweepPlan("bleu4", "self_bleu4", SWEEP_TEMPERATURES)
    assert oracle_experiment(temperatures=()).sweep is None
    assert tuple(parse_temperatures(SWEEP_DEFAULT)) == SWEEP_TEMPERATURES  # the CLI's default is the same list
    assert len(set(MARKERS)) >= len(METHODS) + 1  # every row of the method table (and Random) has its own marker


def test_oracle_experiment_saves_one_point_per_method_and_temperature_with_the_oracle_floor(oracle_home):
    args = ["experiment", "oracle", "--methods", "mle,seqgan", "--tag", "tiny", "--samples", "200",
            "--sweep", "0.7,1.0", *TINY_SETS]
    result = invoke(oracle_home, *args)
    assert result.exit_code == 0, result.output
    assert "● MLE" in result.output and "▲ SeqGAN" in result.output and f"{LEVEL * 2} {FLOOR_LABEL}" in result.output
    folder = oracle_home / "checkpoints" / "oracle-cpu-tiny"
    sweep = json.loads((folder / "sweep.json").read_text())
    points = sweep["points"]
    assert [(p["method"], p["run"], p["temperature"]) for p in points] == [
        ("MLE", "oracle-cpu-tiny-mle", 0.7), ("MLE", "oracle-cpu-tiny-mle", 1.0),
        ("SeqGAN", "oracle-cpu-tiny-seqgan", 0.7), ("SeqGAN", "oracle-cpu-tiny-seqgan", 1.0)]
    assert all(math.isfinite(p["quality"]) and math.isfinite(p["diversity"]) for p in points)
    assert (sweep["quality"], sweep["diversity"], sweep["temperatures"]) == ("nll_oracle", "nll_test", [0.7, 1.0])
    with (folder / "sweep.csv").open(newline="") as table:
        rows = list(csv.DictReader(table))
    assert [{**row, "temperature": float(row["temperature"]), "quality": float(row["quality"]),
             "diversity": float(row["diversity"])} for row in rows] == points

    report = json.loads((folder / "report.json").read_text())
    assert report["sweep"]["points"] == points
    for label in ("MLE", "SeqGAN"):  # the point at the evaluation's own temperature is that evaluation
        at_one = next(p for p in points if p["method"] == label and p["temperature"] == 1.0)
        assert (at_one["quality"], at_one["diversity"]) == (report["results"][label]["nll_oracle"],
                                                            report["results"][label]["nll_test"])
    cache = json.loads((oracle_home / "checkpoints" / "oracle-cpu-tiny-mle" / "evaluations.json").read_text())
    assert len(cache["entries"]) == 2  # one evaluation per temperature, none twice

    corpus = load_corpus(oracle_home, "oracle")  # the floor: the oracle's NLL of its own held-out samples
    entropy = corpus_oracle(corpus).nll(torch.as_tensor(corpus.splits["valid"], dtype=torch.long)).mean().item()
    floor = sweep["floor"]
    assert floor["label"] == FLOOR_LABEL and floor["value"] == pytest.approx(entropy, abs=1e-5)
    assert floor["value"] == report["real"]["nll_oracle"]
    markdown = (folder / "report.md").read_text()
    assert "## Quality against diversity" in markdown and "sweep.json and sweep.csv" in markdown
    drawn = next(line for line in markdown.splitlines() if f"│{LEVEL * 2} {FLOOR_LABEL} " in line)
    assert drawn.split("│")[0].strip() == f"{floor['value']:.3g}"  # ticked at its own value
    assert f"{LEVEL * 2} {FLOOR_LABEL} {floor['value']:.3g}" in markdown  # and named in the legend

    swept = invoke(oracle_home, "sweep", "oracle-cpu-tiny-mle", "oracle-cpu-tiny-seqgan", "--temperatures", "0.7,1.0",
                   "--samples", "200", "--json", str(oracle_home / "sweep.json"))
    assert swept.exit_code == 0, swept.output  # `sweep` draws the same floor, from the experiment's cached points
    assert f"│{LEVEL * 2} {FLOOR_LABEL} {LEVEL}" in swept.output and f"{FLOOR_LABEL} {floor['value']:.4f}:" in swept.output
    cli = json.loads((oracle_home / "sweep.json").read_text())
    assert cli["floor"]["value"] == pytest.approx(floor["value"], abs=1e-6)
    assert [p[axis] for p in cli["points"] for axis in ("quality", "diversity")] == pytest.approx(
        [p[axis] for p in points for axis in ("quality", "diversity")], abs=1e-6)
    assert len(json.loads((oracle_home / "checkpoints" / "oracle-cpu-tiny-mle" / "evaluations.json").read_text())["entries"]) == 2

    again = invoke(oracle_home, *args[:-len(TINY_SETS)], *TINY_SETS, "--sweep", "none")
    assert again.exit_code == 0 and again.output.count("finished earlier, reused") == 2, again.output
    assert json.loads((folder / "report.json").read_text())["sweep"] is None
    assert not (folder / "sweep.json").exists() and not (folder / "sweep.csv").exists()
    assert "Quality against diversity" not in (folder / "report.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["--sweep", "0.8,warm"], "--sweep must be comma-separated numbers"),
    (["--sweep", "0,1"], "--sweep must be numbers above 0"),
    (["--sweep", "1,1.0"], "--sweep: each temperature may be named once"),
])
def test_bad_sweep_is_one_line_before_any_training(oracle_home, args, message):
    for command in ("oracle", "text"):
        result = invoke(oracle_home, "experiment", command, "--methods", "mle,seqgan", *args)
        assert result.exit_code == 1, result.output
        assert message in result.output and "Traceback" not in result.output
    assert not (oracle_home / "checkpoints").exists()


def test_a_level_is_drawn_at_its_value_labelled_and_in_the_legend():
    plot = line_plot({"a": [(1.0, 9.0), (2.0, 8.0)], "b": [(1.5, 8.5)]}, "x", "y", width=40, height=10,
                     levels={"floor": 5.0}).splitlines()
    rows = plot[1:11]
    assert [row.split("│")[0].strip() for row in rows if LEVEL in row] == ["5"]
    assert rows[-1].split("│")[1].startswith(f"{LEVEL * 2} floor {LEVEL}")  # the y range reaches down to it
    assert plot[-1].split() == ["●", "a", "▲", "b", LEVEL * 2, "floor", "5"]


def test_the_sweep_plot_draws_the_floor_under_nll_oracle_only():
    points = [SweepPoint("mle", t, q, d, 5.76, math.nan) for t, q, d in ((0.8, 8.9, 8.6), (1.2, 9.4, 8.4))]
    assert oracle_floor(points, "nll_oracle") == 5.76
    assert f"{LEVEL * 2} {FLOOR_LABEL} 5.76" in sweep_plot(points, "nll_oracle", "nll_test", names={"mle": "MLE"})
    assert "● MLE" in sweep_plot(points, "nll_oracle", "nll_test", names={"mle": "MLE"})
    assert oracle_floor(points, "bleu4") is None and LEVEL not in sweep_plot(points, "bleu4", "self_bleu4")
