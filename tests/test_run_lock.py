"""One process trains a run at a time: a second resume is refused in one line naming the holder,
and a run whose trainer was killed (its lock dropped by the kernel) resumes without more ado."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.config import load_config_file, preset
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.training.events import TrainingEvent
from seqgan_music.training.launch import resume_run, start_run
from seqgan_music.training.run_lock import lock_holder
from seqgan_music.training.runs import read_metrics, read_run_info
from seqgan_music.training.trainer import Trainer
from seqgan_music.tui.app import create_app
from seqgan_music.tui.train import TrainPane
from tui_helpers import messages, wait_until

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends POSIX signals to real processes")

TINY_TOML = """
[generator]
embedding = 8
hidden = 16

[discriminator]
embedding = 8
filter_scale = 0.05

[mle]
epochs = 4
batch_size = 32

[run]
method = "mle"
eval_samples = 16
samples = 2
device = "cpu"
checkpoint_every = 1
"""
# Waits, after the imports, until the test says go: two of these start `train --resume` within a
# few milliseconds of each other, well inside the time a trainer takes to build its models.
AT_ONCE = """
import pathlib, sys, time
from seqgan_music.cli.commands import main
import seqgan_music.cli.live, seqgan_music.training.launch
go, ready = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
ready.touch()
while not go.exists():
    time.sleep(0.002)
sys.argv = ["seqgan-music", *sys.argv[3:]]
main()
"""
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    build_grammar_corpus("grammar", 15, count=200, seed=1).save(tmp_path)
    (tmp_path / "tiny.toml").write_text(TINY_TOML)
    return tmp_path


def interrupted_run(home: Path, name: str) -> Path:
    """A run stopped (and saved) after its first epoch, as Ctrl-C leaves it."""
    trainer = start_run(home, "grammar", load_config_file(home / "tiny.toml", preset("quick")), name)
    trainer.request_stop()
    assert trainer.run() == "interrupted"
    return trainer.folder


def training_process(home: Path, name: str, *settings: str) -> subprocess.Popen:
    """`train` of a new run in a real process, returned once it has saved its first checkpoint."""
    command = [sys.executable, "-m", "seqgan_music", "train", "grammar", "--config", str(home / "tiny.toml"),
               *[arg for setting in settings for arg in ("--set", setting)], "--run", name, "--home", str(home)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    state = home / "checkpoints" / name / "state.pt"
    deadline = time.monotonic() + 60
    while not state.is_file():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
        time.sleep(0.01)
    return process


def invoke(home: Path, *args: str):
    return CliRunner().invoke(app, [*args, "--home", str(home)])


def one_line(output: str) -> str:
    assert len(output.strip().splitlines()) == 1, output
    return " ".join(output.split())


def assert_each_unit_logged_once(folder: Path, units: int) -> None:
    steps = Counter((record["phase"], record["step"]) for record in read_metrics(folder))
    assert sorted(steps) == [("mle", step) for step in range(1, units + 1)], steps
    assert set(steps.values()) == {1}, steps


def test_two_resumes_at_once_one_trains_and_the_other_is_refused_naming_it(home: Path) -> None:
    folder = interrupted_run(home, "twice")
    go = home / "go"
    processes = []
    for index in range(2):
        command = [sys.executable, "-c", AT_ONCE, str(go), str(home / f"ready-{index}"),
                   "train", "--resume", "twice", "--home", str(home)]
        processes.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                          env=ENV))
    deadline = time.monotonic() + 60
    while not all((home / f"ready-{index}").exists() for index in range(2)):
        assert all(p.poll() is None for p in processes) and time.monotonic() < deadline
        time.sleep(0.01)
    go.touch()
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    codes = [process.returncode for process in processes]
    assert sorted(codes) == [0, 1], outputs
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    assert "finished" in outputs[winner], outputs[winner]
    refusal = one_line(outputs[loser])
    assert f"run 'twice' is being trained by process {processes[winner].pid} (since " in refusal, refusal
    assert "wait for it to finish, or stop it first" in refusal and "Traceback" not in refusal
    assert_each_unit_logged_once(folder, 4)
    assert read_run_info(folder)["status"] == "finished"


def test_a_killed_trainer_leaves_a_stale_run_that_resumes(home: Path) -> None:
    process = training_process(home, "killed", "mle.batch_size=4", "mle.epochs=100")
    held = invoke(home, "train", "--resume", "killed", "--force")  # --force never overrides a held lock
    assert held.exit_code == 1
    assert f"run 'killed' is being trained by process {process.pid} (since " in one_line(held.output)
    process.send_signal(signal.SIGKILL)  # no chance to save, mark the run or release anything itself
    process.communicate(timeout=60)
    folder = home / "checkpoints" / "killed"
    assert read_run_info(folder)["status"] == "running" and (folder / ".lock").is_file()
    saved = read_checkpoint_position(folder)

    listing = " ".join(invoke(home, "runs").output.split())
    assert "interrupted (stale)" in listing, listing
    assert f"run killed: marked running by process {process.pid}, which has ended; " \
           "`seqgan-music train --resume killed` takes it over" in listing, listing
    notes = StopAfterOneUnit()
    notes.trainer = resume_run(home, "killed", observer=notes)  # no --force, no second asking
    assert notes.trainer.run() == "interrupted"
    assert f"run 'killed' was marked running by process {process.pid}, which has ended: taking it over" in notes.notes[0]
    assert_each_unit_logged_once(folder, saved + 1)  # the killed process's unsaved epochs are logged once, again
    assert read_run_info(folder)["status"] == "interrupted"


class StopAfterOneUnit:
    """An observer that keeps the trainer's notes and stops it after one unit, as a first Ctrl-C would."""

    def __init__(self) -> None:
        self.trainer: Trainer | None = None
        self.notes: list[str] = []

    def on_event(self, event: TrainingEvent) -> None:
        if event.kind == "note":
            self.notes.append(event.message)
        elif event.kind == "unit" and self.trainer is not None:
            self.trainer.request_stop()


def read_checkpoint_position(folder: Path) -> int:
    """The units the run's checkpoint holds (the MLE epochs saved)."""
    from seqgan_music.training.checkpoint import load_checkpoint

    return load_checkpoint(folder / "state.pt")["position"]["unit"]


@pytest.mark.parametrize("stop", [KeyboardInterrupt, RuntimeError])
def test_the_lock_is_released_however_training_ends(home: Path, monkeypatch, stop: type[BaseException]) -> None:
    folder = interrupted_run(home, "ends")  # a first Ctrl-C: stopped after a unit and saved
    assert lock_holder(folder) is None

    def stopped(*args, **kwargs):
        raise stop  # a second Ctrl-C, or a failure, in the middle of an epoch

    with monkeypatch.context() as patch:
        patch.setattr("seqgan_music.training.methods.base.mle_epoch", stopped)
        trainer = resume_run(home, "ends")
        assert lock_holder(folder).pid == os.getpid()
        with pytest.raises(stop):
            trainer.run()
    assert lock_holder(folder) is None
    assert resume_run(home, "ends").run() == "finished"


def test_the_app_refuses_to_resume_a_run_another_process_trains(home: Path) -> None:
    process = training_process(home, "elsewhere", "mle.batch_size=1", "mle.epochs=200")
    folder = home / "checkpoints" / "elsewhere"
    try:
        async def main() -> None:
            async with create_app(home, panes=(TrainPane,)).run_test(size=(130, 40)) as pilot:
                pane = pilot.app.query_one(TrainPane)
                await pilot.pause()
                assert pane.shown == "elsewhere"

                def refused() -> list[str]:
                    return [m for m in messages(pilot.app, "error") if "is being trained by" in m]

                for count in (1, 2):  # a second u does not insist
                    await pilot.press("u")
                    await wait_until(pilot, lambda: len(refused()) == count)
                    assert pane.session is None
                refusals = refused()
                assert len(refusals) == 2, messages(pilot.app)
                assert f"run 'elsewhere' is being trained by process {process.pid} (since " in refusals[0]
                assert not any("resumed run" in m for m in messages(pilot.app)), messages(pilot.app)

        asyncio.run(main())
        assert process.poll() is None  # still training, undisturbed
        assert json.loads((folder / "run.json").read_text())["owner"]["pid"] == process.pid
    finally:
        process.kill()
        process.communicate(timeout=60)
