"""`train --init RUN`: a new run starts from a finished run's generator with its MLE phase skipped,
resumes exactly, and is refused in one line when it cannot; the oracle experiment trains MLE once
and starts every other method's row from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.config import apply_overrides, preset
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.corpora.oracle import build_oracle_corpus
from seqgan_music.experiments.definitions import oracle_experiment, text_experiment
from seqgan_music.training.checkpoint import load_checkpoint
from seqgan_music.training.launch import resume_run, start_run
from seqgan_music.training.runs import read_metrics, read_run_info
from training_helpers import TINY

runner = CliRunner()
SETTINGS = [*TINY, "mle.epochs=2", "adversarial.rounds=3", "adversarial.eval_every=2", "run.checkpoint_every=1",
            "run.samples=3"]


def tiny(*extra: str):
    return apply_overrides(preset("quick"), [*SETTINGS, *extra])


def same_tensors(first: dict, second: dict) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    build_grammar_corpus("grammar", 15, count=300, seed=1).save(tmp_path)
    build_grammar_corpus("other", 15, count=300, seed=2).save(tmp_path)
    assert start_run(tmp_path, "grammar", tiny("run.method=mle"), "start").run() == "finished"
    return tmp_path


def invoke(home: Path, *args: str):
    return runner.invoke(app, [*args, "--home", str(home)])


class StopAtRound:
    """Asks its trainer to stop after adversarial round `round`, as Ctrl-C would."""

    def __init__(self, round: int) -> None:
        self.trainer, self.round = None, round

    def on_event(self, event) -> None:
        if event.kind == "unit" and (event.phase, event.unit) == ("adversarial", self.round):
            self.trainer.request_stop()


def test_a_run_with_init_starts_from_the_runs_generator_and_skips_mle(home):
    start = load_checkpoint(home / "checkpoints" / "start" / "state.pt")
    trainer = start_run(home, "grammar", tiny("run.method=seqgan"), "from-start", init="start")
    # Before its first step: exactly the start's generator and its MLE optimizer, placed past MLE.
    assert same_tensors(trainer.generator.state_dict(), start["generator"])
    assert trainer.optimizers["mle"].state_dict()["state"].keys() == start["optimizers"]["mle"]["state"].keys()
    assert all(torch.equal(trainer.optimizers["mle"].state_dict()["state"][k]["exp_avg"], v["exp_avg"])
               for k, v in start["optimizers"]["mle"]["state"].items())
    assert trainer.phases[trainer.position.phase].name == "pretrain_d"
    assert trainer.run() == "finished"
    assert [r["phase"] for r in read_metrics(trainer.folder)] == ["pretrain_d"] + ["adversarial"] * 3
    assert read_run_info(trainer.folder)["init"] == {"run": "start", "method": "mle", "skipped": ["mle"]}

    listing = invoke(home, "runs")
    assert listing.exit_code == 0 and "seqgan < start" in listing.output, listing.output


def test_a_run_with_init_resumes_exactly(home):
    whole = start_run(home, "grammar", tiny("run.method=seqgan"), "whole", init="start")
    assert whole.run() == "finished"
    stopper = StopAtRound(1)
    stopper.trainer = start_run(home, "grammar", tiny("run.method=seqgan"), "split", stopper, init="start")
    assert stopper.trainer.run() == "interrupted"
    resumed = resume_run(home, "split")
    assert resumed.run() == "finished"
    assert same_tensors(whole.generator.state_dict(), resumed.generator.state_dict())
    assert same_tensors(whole.discriminator.state_dict(), resumed.discriminator.state_dict())

    def comparable(folder):
        return [{k: v for k, v in r.items() if k != "elapsed"} for r in read_metrics(folder)]

    assert comparable(whole.folder) == comparable(resumed.folder)

    early = start_run(home, "grammar", tiny("run.method=seqgan"), "early", init="start").folder  # killed unsaved
    again = resume_run(home, "early")  # starts over: from the start run's generator again, not from MLE
    assert again.run() == "finished"
    assert same_tensors(whole.generator.state_dict(), again.generator.state_dict())
    assert comparable(whole.folder) == comparable(early)


def test_scheduled_sampling_from_init_goes_on_with_the_mle_optimizer(home):
    trainer = start_run(home, "grammar", tiny("run.method=ss", "scheduled_sampling.epochs=1"), "ss", init="start")
    assert trainer.phases[trainer.position.phase].name == "ss"
    assert trainer.run() == "finished"
    assert [r["phase"] for r in read_metrics(trainer.folder)] == ["ss"]


@pytest.mark.parametrize("args, message", [
    (["other", "--method", "seqgan"], "--init start: the run was trained on corpus 'grammar'"),
    (["grammar", "--method", "seqgan", "--set", "generator.hidden=24"],
     "--init start: generator settings differ (generator.hidden is 16 in the run, 24 here)"),
    (["grammar", "--method", "mle"], "--init start: method mle has no phase after MLE to train"),
    (["grammar", "--method", "leakgan"], "--init start: method leakgan builds a generator of another shape"),
    (["grammar", "--method", "relgan"], "--init start: method relgan builds a generator of another shape"),
])
def test_init_refusals_are_one_line_with_no_run_left(home, args, message):
    sets = [part for setting in SETTINGS for part in ("--set", setting)]
    result = invoke(home, "train", args[0], "--preset", "quick", *sets, *args[1:], "--init", "start", "--run", "new")
    assert result.exit_code == 1, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output
    assert not (home / "checkpoints" / "new").exists()


def test_init_refuses_an_unfinished_run_and_a_damaged_checkpoint(home):
    stopper = StopAtRound(1)
    stopper.trainer = start_run(home, "grammar", tiny("run.method=seqgan"), "unfinished", stopper)
    assert stopper.trainer.run() == "interrupted"
    sets = [part for setting in SETTINGS for part in ("--set", setting)]
    unfinished = invoke(home, "train", "grammar", "--preset", "quick", *sets, "--method", "seqgan",
                        "--init", "unfinished", "--run", "new")
    assert unfinished.exit_code == 1 and len(unfinished.output.strip().splitlines()) == 1, unfinished.output
    assert "--init unfinished: the run has not finished (status interrupted)" in unfinished.output

    state = home / "checkpoints" / "start" / "state.pt"
    state.write_bytes(state.read_bytes()[: len(state.read_bytes()) // 2])  # cut short
    damaged = invoke(home, "train", "grammar", "--preset", "quick", *sets, "--method", "seqgan",
                     "--init", "start", "--run", "new")
    assert damaged.exit_code == 1 and len(damaged.output.strip().splitlines()) == 1, damaged.output
    assert "state.pt" in damaged.output and "Traceback" not in damaged.output
    assert not (home / "checkpoints" / "new").exists()


def test_init_with_resume_is_refused(home):
    result = invoke(home, "train", "--resume", "start", "--init", "start")
    assert result.exit_code == 1 and "--init starts a new run" in result.output, result.output


def test_experiments_start_every_method_from_the_mle_row():
    oracle = oracle_experiment(methods=("random", "seqgan", "rankgan"))  # mle added, before the methods
    assert [(run.run, run.init) for run in oracle.runs] == [
        ("oracle-cpu-random", None), ("oracle-cpu-mle", None), ("oracle-cpu-seqgan", "oracle-cpu-mle"),
        ("oracle-cpu-rankgan", "oracle-cpu-mle")]
    text = text_experiment(methods=("seqgan", "mle"))
    assert [(run.run, run.init) for run in text.runs] == [("text-coco-mle", None), ("text-coco-seqgan", "text-coco-mle")]


def test_the_oracle_experiment_trains_mle_once_and_starts_every_other_row_from_it(tmp_path):
    build_oracle_corpus("oracle", seed=2, train=300, held_out=200, length=8).save(tmp_path)
    sets = [part for setting in [*TINY, "mle.epochs=2", "scheduled_sampling.epochs=1", "run.threads=1"]
            for part in ("--set", setting)]
    result = invoke(tmp_path, "experiment", "oracle", "--methods", "random,seqgan,ss,leakgan", "--tag", "t",
                    "--samples", "100", "--sweep", "none", *sets)
    assert result.exit_code == 0, result.output
    runs = tmp_path / "checkpoints"
    for method, first in (("seqgan", "pretrain_d"), ("ss", "ss")):
        folder = runs / f"oracle-cpu-t-{method}"
        assert read_run_info(folder)["init"]["run"] == "oracle-cpu-t-mle"
        assert read_metrics(folder)[0]["phase"] == first  # no MLE epochs of its own
    leakgan = runs / "oracle-cpu-t-leakgan"  # a generator of its own: its own MLE phase
    assert "init" not in read_run_info(leakgan) and read_metrics(leakgan)[0]["phase"] == "mle"
    report = json.loads((runs / "oracle-cpu-t" / "report.json").read_text())
    assert {run["label"]: run["init"] for run in report["runs"]} == {
        "Random": None, "MLE": None, "SeqGAN": "oracle-cpu-t-mle", "SS": "oracle-cpu-t-mle", "LeakGAN": None}
    markdown = (runs / "oracle-cpu-t" / "report.md").read_text()
    assert ("Shared start: SeqGAN, SS started from the finished generator of run `oracle-cpu-t-mle` (the MLE row)"
            in markdown), markdown
    assert "LeakGAN trained their own MLE phase" in markdown


def test_every_row_first_generator_equals_the_mle_rows(tmp_path):
    """Each method's run, before its first step, holds the MLE row's finished generator bit for bit."""
    from seqgan_music.experiments.runner import trainer_for

    build_oracle_corpus("oracle", seed=2, train=300, held_out=200, length=8).save(tmp_path)
    experiment = oracle_experiment(tag="g", methods=("mle", "seqgan", "gsgan", "wgan"), samples=100, temperatures=(),
                                   overrides=[*TINY, "mle.epochs=2", "run.threads=1"])
    mle, *others = experiment.runs
    assert trainer_for(tmp_path, experiment, mle).run() == "finished"
    start = load_checkpoint(tmp_path / "checkpoints" / mle.run / "state.pt")["generator"]
    for entry in others:
        trainer = trainer_for(tmp_path, experiment, entry)
        assert same_tensors(trainer.generator.state_dict(), start), entry.label
        trainer.lock.release()
