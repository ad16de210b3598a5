"""Algorithm 1 end to end on tiny corpora: every preset's code path, checkpoints, exact resume,
run folders, generation, and clean refusals."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from seqgan_music.config import PRESETS, TUNE_PRESETS, apply_overrides, preset
from seqgan_music.corpora.corpus import load_corpus
from seqgan_music.corpora.encodings import Grid16
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.corpora.melody import Key, Melody, Note, bar_lines
from seqgan_music.corpora.music import build_music_corpus
from seqgan_music.corpora.oracle import build_oracle_corpus
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.errors import SeqganError
from seqgan_music.training.events import RecordingObserver
from seqgan_music.training.generation import generate_from_run
from seqgan_music.training.launch import resume_run, start_run
from seqgan_music.training.mle import per_token_nll
from seqgan_music.training.runs import list_runs, read_metrics, read_run_info

TINY = [
    "generator.embedding=8", "generator.hidden=16", "discriminator.embedding=8", "discriminator.filter_scale=0.05",
    "mle.epochs=2", "mle.batch_size=32", "mle.eval_every=1", "pretrain_d.rounds=1", "pretrain_d.epochs=1",
    "pretrain_d.negatives=64", "adversarial.rounds=3", "adversarial.negatives=64", "adversarial.batch_size=16",
    "adversarial.rollouts=2", "adversarial.eval_every=2", "run.eval_samples=32", "run.samples=3",
    "run.checkpoint_every=1", "run.device=cpu", "rollout.chunk_size=64",
]


def tiny(preset_name: str = "quick", *extra: str):
    return apply_overrides(preset(preset_name), [*TINY, *extra])


class StopAt:
    """An observer that asks its trainer to stop after a given unit, as Ctrl-C would."""

    def __init__(self, phase: str, unit: int) -> None:
        self.trainer = None
        self.where = (phase, unit)

    def on_event(self, event) -> None:
        if event.kind == "unit" and (event.phase, event.unit) == self.where:
            self.trainer.request_stop()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    build_grammar_corpus("grammar", 15, count=300, seed=1).save(tmp_path)
    return tmp_path


def music_home(tmp_path: Path) -> Path:
    melodies = [Melody([Note(60 + (i + j) % 8, j * 0.5, j * 0.5 + 0.5) for j in range(32)],
                       bar_lines([(0.0, "4/4")], 16.0), "4/4", Key(0), source=f"t{i}.mid") for i in range(40)]
    build_music_corpus("tunes", melodies, Grid16(length=34, stride=34), SplitPlan(), {"kind": "midi"}).save(tmp_path)
    return tmp_path


@pytest.mark.parametrize("preset_name", sorted(set(PRESETS) - set(TUNE_PRESETS)))  # tunes: test_tune_training
def test_every_preset_code_path_runs_end_to_end(home, preset_name):
    observer = RecordingObserver()
    trainer = start_run(home, "grammar", tiny(preset_name), f"run-{preset_name}", observer)
    assert trainer.run() == "finished"
    folder = home / "checkpoints" / f"run-{preset_name}"
    phases = [r["phase"] for r in read_metrics(folder)]
    assert phases == ["mle"] * 2 + ["pretrain_d"] + ["adversarial"] * 3
    adversarial = [r for r in read_metrics(folder) if r["phase"] == "adversarial"]
    assert all({"g_loss", "mean_reward", "d_loss", "d_acc_real", "d_acc_fake"} <= set(r) for r in adversarial)
    assert "nll_test" in adversarial[1] and "nll_test" not in adversarial[0]
    info = read_run_info(folder)
    assert info["status"] == "finished"
    assert (info["progress"]["phase"], info["progress"]["unit"], info["progress"]["units"]) == ("adversarial", 3, 3)
    assert (folder / "samples" / "final.txt").read_text().count("\n") == 3
    assert [e.kind for e in observer.events].count("phase") == 3


def test_mle_method_trains_the_generator_only(home):
    trainer = start_run(home, "grammar", tiny("quick", "run.method=mle"), "mle-only")
    assert trainer.run() == "finished"
    assert {r["phase"] for r in read_metrics(trainer.folder)} == {"mle"}


def test_mle_lowers_the_held_out_nll(home):
    trainer = start_run(home, "grammar", tiny("quick", "run.method=mle", "mle.epochs=6", "mle.learning_rate=0.02"), "mle-nll")
    trainer.run()
    nll = [r["nll_test"] for r in read_metrics(trainer.folder)]
    assert nll[-1] < nll[0] - 0.2
    assert nll[-1] < np.log(5)  # better than uniform over the 5 tokens


def test_oracle_runs_report_nll_oracle(tmp_path):
    build_oracle_corpus("oracle", seed=3, train=256, held_out=64).save(tmp_path)
    trainer = start_run(tmp_path, "oracle", tiny("cpu-oracle", "adversarial.rounds=2"), "oracle-run")
    trainer.run()
    records = [r for r in read_metrics(trainer.folder) if "nll_test" in r]
    assert records and all(r["nll_oracle"] > 0 for r in records)


def test_music_runs_write_midi_samples_and_generate(tmp_path):
    root = music_home(tmp_path)
    trainer = start_run(root, "tunes", tiny("folk"), "music")
    trainer.run()
    assert len(list((trainer.folder / "samples").glob("final-*.mid"))) == 3
    first = generate_from_run(root, "music", tmp_path / "out", 4, temperature=0.8, seed=5)
    second = generate_from_run(root, "music", tmp_path / "out2", 4, temperature=0.8, seed=5)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]  # same seed, same files
    assert len([p for p in first if p.suffix == ".mid"]) == 4


def test_resume_equals_an_uninterrupted_run(home):
    whole = start_run(home, "grammar", tiny("quick"), "whole")
    whole.run()
    stopper = StopAt("adversarial", 1)
    split = start_run(home, "grammar", tiny("quick"), "split", stopper)
    stopper.trainer = split
    assert split.run() == "interrupted"
    assert read_run_info(split.folder)["status"] == "interrupted"
    resumed = resume_run(home, "split")
    assert resumed.run() == "finished"
    for name, tensor in whole.generator.state_dict().items():
        assert torch.equal(tensor, resumed.generator.state_dict()[name]), name
    for name, tensor in whole.discriminator.state_dict().items():
        assert torch.equal(tensor, resumed.discriminator.state_dict()[name]), name

    def comparable(folder):
        return [{k: v for k, v in r.items() if k != "elapsed"} for r in read_metrics(folder)]

    assert comparable(whole.folder) == comparable(resumed.folder)
    assert (whole.folder / "samples" / "final.txt").read_text() == (resumed.folder / "samples" / "final.txt").read_text()


def test_keep_best_ends_mle_at_the_lowest_validation_nll_even_across_a_resume(home):
    settings = tiny("quick", "mle.epochs=6", "mle.learning_rate=0.05", "mle.keep_best=true", "run.method=mle")
    whole = start_run(home, "grammar", settings, "whole")
    whole.run()
    records = [r for r in read_metrics(whole.folder) if r["phase"] == "mle"]
    valid = [r["nll_valid"] for r in records]
    assert len(valid) == 6 and records[-1]["best_epoch"] == int(np.argmin(valid)) + 1
    assert per_token_nll(whole.generator, whole.valid_data) == pytest.approx(min(valid), abs=1e-5)
    stopper = StopAt("mle", 3)
    split = start_run(home, "grammar", settings, "split", stopper)
    stopper.trainer = split
    assert split.run() == "interrupted"
    resumed = resume_run(home, "split")
    assert resumed.run() == "finished"
    for name, tensor in whole.generator.state_dict().items():
        assert torch.equal(tensor, resumed.generator.state_dict()[name]), name


def test_resume_refuses_changed_corpus_or_settings_and_finished_runs(home):
    trainer = start_run(home, "grammar", tiny("quick"), "guarded")
    trainer.request_stop()
    trainer.run()
    with pytest.raises(SeqganError, match="differ from run 'guarded'"):
        resume_run(home, "guarded", tiny("quick", "adversarial.rounds=9"))
    build_grammar_corpus("grammar", 15, count=300, seed=2).save(home)
    with pytest.raises(SeqganError, match="has changed since run 'guarded' started"):
        resume_run(home, "guarded")
    with pytest.raises(SeqganError, match="no run named 'nope'"):
        resume_run(home, "nope")


def test_a_run_name_is_never_reused(home):
    start_run(home, "grammar", tiny("quick"), "taken")
    with pytest.raises(SeqganError, match="already exists"):
        start_run(home, "grammar", tiny("quick"), "taken")


def test_checkpoints_hold_only_tensors_and_plain_data(home):
    trainer = start_run(home, "grammar", tiny("quick", "run.method=mle"), "safe")
    trainer.run()
    state = torch.load(trainer.folder / "state.pt", weights_only=True)
    assert state["corpus_hash"] == load_corpus(home, "grammar").manifest["content_hash"]
    assert set(state["rng"]) == {"torch", "sampling", "shuffle", "cuda"}
    runs = list_runs(home)
    assert runs[0][0]["name"] == "safe" and runs[0][1]["phase"] == "mle"
    assert json.loads((trainer.folder / "run.json").read_text())["method"] == "mle"


def test_auto_precision_is_bfloat16_only_where_it_is_fast(monkeypatch):
    from seqgan_music.training import device as device_module

    cpu = torch.device("cpu")
    assert device_module.resolve_precision("float32", cpu) == "float32"
    assert device_module.resolve_precision("bfloat16", cpu) == "bfloat16"
    monkeypatch.setattr(device_module, "bfloat16_is_fast", lambda device: False)
    assert device_module.resolve_precision("auto", cpu) == "float32"
    monkeypatch.setattr(device_module, "bfloat16_is_fast", lambda device: True)
    assert device_module.resolve_precision("auto", cpu) == "bfloat16"


def test_run_records_the_precision_it_scores_rewards_in(home):
    trainer = start_run(home, "grammar", tiny("quick", "rollout.precision=float32"), "fp32")
    assert read_run_info(trainer.folder)["precision"] == "float32" == trainer.method.precision


def test_a_run_stopped_before_its_first_checkpoint_resumes_from_the_start(home):
    whole = start_run(home, "grammar", tiny("quick"), "whole")
    whole.run()
    early = start_run(home, "grammar", tiny("quick"), "early").folder  # killed before saving anything...
    (early / "metrics.jsonl").write_text('{"phase": "mle", "step": 1, "g_loss": 9.0}\n')  # ...but one line logged
    resumed = resume_run(home, "early")
    assert resumed.run() == "finished"
    for name, tensor in whole.generator.state_dict().items():
        assert torch.equal(tensor, resumed.generator.state_dict()[name]), name
    assert [r["g_loss"] for r in read_metrics(early) if "g_loss" in r] == \
        [r["g_loss"] for r in read_metrics(whole.folder) if "g_loss" in r]


def test_runs_list_the_last_evaluated_values_of_an_interrupted_run(home):
    class StopAtFirstRound:
        trainer = None

        def on_event(self, event) -> None:
            if event.kind == "unit" and event.phase == "adversarial":
                self.trainer.request_stop()

    stopper = StopAtFirstRound()
    stopper.trainer = start_run(home, "grammar", tiny("quick"), "paused", stopper)
    assert stopper.trainer.run() == "interrupted"
    records = read_metrics(stopper.trainer.folder)
    assert "nll_test" not in records[-1]  # adversarial round 1 is not an evaluation round...
    (info, latest), = list_runs(home)
    assert latest["nll_test"] == [r for r in records if "nll_test" in r][-1]["nll_test"]  # ...the listing keeps MLE's
    assert latest["phase"] == "adversarial" and info["progress"]["unit"] == 1


def test_a_running_run_records_its_process_and_a_resume_checks_it(home):
    import os
    import socket

    from seqgan_music.training.run_lock import RunLock, lock_holder

    class Owner:
        def __init__(self) -> None:
            self.trainer, self.seen = None, []

        def on_event(self, event) -> None:
            if event.kind == "unit":
                self.seen.append(read_run_info(self.trainer.folder).get("owner"))
                self.seen.append(lock_holder(self.trainer.folder).pid)  # the trainer holds the run's lock
                self.trainer.request_stop()

    watcher = Owner()
    watcher.trainer = start_run(home, "grammar", tiny("quick"), "owned", watcher)
    assert watcher.trainer.run() == "interrupted"
    assert watcher.seen == [{"pid": os.getpid(), "host": socket.gethostname()}, os.getpid()]  # while it trained
    assert "owner" not in read_run_info(watcher.trainer.folder)  # not once it stopped
    assert lock_holder(watcher.trainer.folder) is None  # and its lock was released
    info = read_run_info(watcher.trainer.folder)
    info.update(status="running", owner={"pid": os.getpid(), "host": socket.gethostname()})
    (watcher.trainer.folder / "run.json").write_text(json.dumps(info))
    held = f"is being trained by process {os.getpid()}"
    with RunLock(watcher.trainer.folder), pytest.raises(SeqganError, match=held):
        resume_run(home, "owned", force=True)  # a held lock is refused, forced or not
    assert resume_run(home, "owned").run() == "finished"  # a free lock: the mark is stale, taken over
