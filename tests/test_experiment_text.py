"""`experiment text`: Texygen's COCO benchmark on a small caption corpus the test writes itself,
trained on a tiny schedule, evaluated by BLEU-2..5 against the test captions, self-BLEU and NLL_test,
each row next to Texygen's published figures."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.config import METHODS
from seqgan_music.experiments.definitions import PAPER_COCO, text_experiment, text_methods
from seqgan_music.training.methods import method_class

runner = CliRunner()
TINY = ["generator.embedding=8", "generator.hidden=16", "discriminator.embedding=8", "mle.epochs=2",
        "mle.batch_size=32", "pretrain_d.rounds=1", "pretrain_d.epochs=1", "pretrain_d.negatives=64",
        "adversarial.rounds=1", "adversarial.negatives=64", "adversarial.batch_size=16", "adversarial.rollouts=2",
        "rollout.chunk_size=64", "run.eval_samples=32", "run.samples=2", "run.device=cpu"]
TINY_SETS = [part for setting in TINY for part in ("--set", setting)]
HEADLINE = ["BLEU-2", "BLEU-3", "BLEU-4", "BLEU-5", "self-BLEU-4", "NLL_test"]


def write_captions(folder: Path) -> Path:
    """A benchmark folder like Texygen's COCO: train.txt and test.txt of short captions from one grammar."""
    rng = random.Random(0)
    things, places = ["a dog", "a cat", "two men", "a woman", "a bus"], ["on a bed", "in a park", "near a road."]
    verbs = ["sits", "stands", "runs", "waits"]

    def caption() -> str:
        return f"{rng.choice(things)} {rng.choice(verbs)} {rng.choice(places)}"

    folder.mkdir()
    (folder / "train.txt").write_text("\n".join(caption() for _ in range(300)), encoding="utf-8")
    (folder / "test.txt").write_text("\n".join(caption() for _ in range(60)) + "\n", encoding="utf-8")
    return folder


def invoke(home: Path, *args: str):
    return runner.invoke(app, [*args, "--home", str(home)])


def test_the_default_rows_are_texygens_methods_in_the_method_table():
    assert text_methods() == tuple(m for m in METHODS if m in ("mle", "seqgan", "maligan", "rankgan", "leakgan"))
    assert text_methods()[:2] == ("mle", "seqgan")
    experiment = text_experiment(seed=2)
    labels = [run.label for run in experiment.runs]
    assert labels == [method_class(m).label for m in text_methods()]
    assert experiment.paper == {label: PAPER_COCO[label] for label in labels}
    assert experiment.paper["SeqGAN"] == {"bleu2": 0.745, "bleu3": 0.498, "bleu4": 0.294, "bleu5": 0.180}
    assert experiment.focus == "SeqGAN" and experiment.name == "text-coco" and experiment.corpus == "coco"
    assert {run.config.preset for run in experiment.runs} == {"coco"}
    assert all(run.config.run.seed == 2 for run in experiment.runs) and experiment.evaluation.seed == 2
    assert experiment.evaluation.references == "test"
    assert set(experiment.evaluation.metrics) == {"bleu", "self-bleu", "nll-test"}


def test_text_experiment_builds_the_corpus_trains_evaluates_and_reports(tmp_path):
    data = write_captions(tmp_path / "captions")
    args = ["experiment", "text", "--data", str(data), "--methods", "mle,seqgan", "--samples", "40", "--tag", "tiny",
            *TINY_SETS]
    result = invoke(tmp_path, *args)
    assert result.exit_code == 0, result.output
    assert "built corpus coco" in result.output
    folder = tmp_path / "checkpoints" / "text-coco-tiny"
    report = json.loads((folder / "report.json").read_text())
    assert list(report["results"]) == ["MLE", "SeqGAN"] and report["focus"] == "SeqGAN"
    assert report["headline"] == ["bleu2", "bleu3", "bleu4", "bleu5", "self_bleu4", "nll_test"]
    assert report["paper"] == {"MLE": PAPER_COCO["MLE"], "SeqGAN": PAPER_COCO["SeqGAN"]}
    assert report["evaluation"]["references"] == "test" and report["evaluation"]["samples"] == 40
    for values in [*report["results"].values(), report["real"]]:
        bleu = [values[f"bleu{n}"] for n in (2, 3, 4, 5)]
        assert all(0 < b <= 1 for b in bleu) and bleu == sorted(bleu, reverse=True)  # BLEU falls with the order
        assert 0 < values["self_bleu4"] <= 1
    assert all(report["results"][label]["nll_test"] > 0 for label in ("MLE", "SeqGAN"))
    assert {c["label"] for c in report["comparisons"]} == {"MLE"}
    markdown = (folder / "report.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| method |"))
    cells = [cell.strip() for cell in header.strip("|").split("|")]
    assert cells[1:7] == HEADLINE and cells[7:11] == ["paper BLEU-2", "paper BLEU-3", "paper BLEU-4", "paper BLEU-5"]
    mle = next(line for line in markdown.splitlines() if line.startswith("| MLE |"))
    assert "0.7310 | 0.4970 | 0.3050 | 0.1890" in mle
    assert "| LeakGAN (not run) |" not in markdown and "against the first 500" in markdown
    sweep = json.loads((folder / "sweep.json").read_text())  # every row swept by default: BLEU-4 against self-BLEU-4
    assert (sweep["quality"], sweep["diversity"], sweep["floor"]) == ("bleu4", "self_bleu4", None)
    assert [(p["method"], p["temperature"]) for p in sweep["points"]] == [
        (label, t) for label in ("MLE", "SeqGAN") for t in (0.6, 0.8, 1.0, 1.2, 1.5)]
    assert all(0 < p["quality"] <= 1 and 0 < p["diversity"] <= 1 for p in sweep["points"])
    at_one = {p["method"]: (p["quality"], p["diversity"]) for p in sweep["points"] if p["temperature"] == 1.0}
    assert at_one == {label: (report["results"][label]["bleu4"], report["results"][label]["self_bleu4"])
                      for label in ("MLE", "SeqGAN")}
    assert "## Quality against diversity" in markdown and "● MLE" in markdown and "oracle entropy" not in markdown
    corpus = json.loads((tmp_path / "corpora" / "coco" / "manifest.json").read_text())
    assert corpus["counts"]["windows"]["test"] == 60 and corpus["source"]["level"] == "punct"
    again = invoke(tmp_path, *args)
    assert again.exit_code == 0 and again.output.count("finished earlier, reused") == 2
    assert "built corpus" not in again.output


@pytest.mark.parametrize("args, message", [
    (["experiment", "text"], "no corpus named 'coco': pass --data DIR"),
    (["experiment", "text", "--data", "nowhere"], "holds no train.txt or test.txt"),
    (["experiment", "text", "--corpus", "oracle"], "is not a text corpus with test lines"),
    (["experiment", "text", "--methods", "mle,nope"], "--methods: unknown method 'nope'"),
    (["experiment", "text", "--methods", "seqgan"], "--methods: name at least two methods"),
    (["experiment", "text", "--samples", "1"], "--samples must be at least 2"),
    (["experiment", "text", "--tag", "a/b"], "invalid experiment name"),
])
def test_text_experiment_bad_input_is_one_line(tmp_path, args, message):
    from seqgan_music.corpora.oracle import build_oracle_corpus

    build_oracle_corpus("oracle", seed=2, train=20, held_out=4, length=4).save(tmp_path)
    result = invoke(tmp_path, *args)
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "corpora" / "coco").exists() and not (tmp_path / "checkpoints").exists()
