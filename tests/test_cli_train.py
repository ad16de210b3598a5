"""`train`, `generate` and `runs` through the command line: a tiny run end to end, Ctrl-C and
--resume in a real process, and one-line errors for bad input."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.corpora.grammar import build_grammar_corpus

runner = CliRunner()

TINY_TOML = """
[generator]
embedding = 8
hidden = 16

[discriminator]
embedding = 8
filter_scale = 0.05

[mle]
epochs = 2
batch_size = 32

[pretrain_d]
rounds = 1
epochs = 1
negatives = 64

[adversarial]
rounds = 2
negatives = 64
batch_size = 16
rollouts = 2
eval_every = 1

[rollout]
chunk_size = 64

[run]
eval_samples = 32
samples = 3
device = "cpu"
"""


def make_home(folder: Path, tunes: int) -> Path:
    build_grammar_corpus("grammar", 15, count=tunes, seed=1).save(folder)
    (folder / "tiny.toml").write_text(TINY_TOML)
    return folder


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return make_home(tmp_path, 300)


@pytest.fixture
def small_home(tmp_path: Path) -> Path:
    """20 tunes: an MLE epoch is one batch, so the runs stopped by a signal spend their time starting
    and resuming, not training."""
    return make_home(tmp_path, 20)


def invoke(home: Path, *args: str):
    return runner.invoke(app, [*args, "--home", str(home)])


def test_train_runs_generate_from_the_command_line(home):
    result = invoke(home, "train", "grammar", "--preset", "quick", "--config", str(home / "tiny.toml"),
                    "--set", "adversarial.rounds=3", "--run", "cli", "--seed", "4")
    assert result.exit_code == 0, result.output
    assert "finished" in result.output
    folder = home / "checkpoints" / "cli"
    config = (folder / "config.toml").read_text()
    assert "rounds = 3" in config and "seed = 4" in config and 'preset = "quick"' in config
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in records] == ["mle", "mle", "pretrain_d"] + ["adversarial"] * 3

    listing = invoke(home, "runs")
    assert listing.exit_code == 0 and "cli" in listing.output and "finished" in listing.output
    assert "adv 3/3" in listing.output

    outputs = []
    for out in ("a", "b"):
        generated = invoke(home, "generate", "cli", "--n", "5", "--seed", "7", "--temperature", "0.9",
                           "--out", str(home / out))
        assert generated.exit_code == 0, generated.output
        (listing_file,) = (home / out).glob("*.txt")
        outputs.append(listing_file.read_text())
    assert outputs[0] == outputs[1] and outputs[0].count("\n") == 5


def test_mle_method_from_the_command_line(home):
    result = invoke(home, "train", "grammar", "--method", "mle", "--config", str(home / "tiny.toml"), "--run", "m")
    assert result.exit_code == 0, result.output
    assert json.loads((home / "checkpoints" / "m" / "run.json").read_text())["method"] == "mle"


# MLE epochs of the runs stopped by a signal, each one step on the small corpus (some tens of ms): the
# signal comes after epoch 2, so the many epochs after it are what keeps the process mid-run until it
# arrives (a second or more), and the resumes train the rest in about as long.
EPOCHS = 40


def start_training(home: Path, run: str, *settings: str) -> subprocess.Popen:
    """`train` in a real process (output piped, as in a log), returned once it has logged two epochs
    (and saved a checkpoint after each)."""
    command = [sys.executable, "-m", "seqgan_music", "train", "grammar", "--config", str(home / "tiny.toml"),
               "--set", f"mle.epochs={EPOCHS}", "--set", "run.checkpoint_every=1",
               *(f"--set={setting}" for setting in settings), "--run", run, "--home", str(home)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    metrics = home / "checkpoints" / run / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 2):
        assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
        time.sleep(0.05)
    return process


def read_until(process: subprocess.Popen, text: str, seconds: float = 60) -> str:
    """The process's output up to and including the first line holding `text` (a reader thread,
    so that a process that never prints it fails the test instead of hanging it)."""
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in process.stdout:
            lines.append(line)
            if text in line:
                found.set()
                return

    threading.Thread(target=read, daemon=True).start()
    assert found.wait(seconds), "".join(lines)
    return "".join(lines)


def test_ctrl_c_saves_and_resume_finishes(small_home):
    """A real process gets SIGINT mid-run, saves, exits 130 and names the resume command."""
    process = start_training(small_home, "stopped")
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    assert "saved; continue with: seqgan-music train --resume stopped" in output
    assert f"MLE 2/{EPOCHS}" in output  # not a terminal: one plain line per epoch
    assert "Traceback" not in output
    info = json.loads((small_home / "checkpoints" / "stopped" / "run.json").read_text())
    assert info["status"] == "interrupted" and 2 <= info["progress"]["unit"] < EPOCHS

    changed = invoke(small_home, "train", "--resume", "stopped", "--set", "mle.epochs=5")
    assert changed.exit_code == 1 and "differ from run 'stopped'" in changed.output
    resumed = invoke(small_home, "train", "--resume", "stopped", "--set", f"mle.epochs={EPOCHS}")  # the same: allowed
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((small_home / "checkpoints" / "stopped" / "run.json").read_text())["status"] == "finished"
    again = invoke(small_home, "train", "--resume", "stopped")
    assert again.exit_code == 1 and "already finished" in again.output


def test_a_second_ctrl_c_stops_at_once_and_the_run_still_resumes(small_home):
    # Epochs of single steps (16): the second signal lands mid-epoch, not while the process exits after saving.
    process = start_training(small_home, "aborted", "mle.batch_size=1")
    process.send_signal(signal.SIGINT)
    # The second signal is sent once the first has been handled (two signals sent before the handler
    # runs are seen as one by Python).
    before = read_until(process, "stopping after the current epoch")
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=120)
    output = before + rest
    assert process.returncode == 130, output
    assert "Traceback" not in output
    # The second signal usually lands mid-epoch (stop at once); if the epoch ended first, it saved.
    assert "stopped without saving; the last checkpoint is kept" in output or "saved; continue with" in output
    assert json.loads((small_home / "checkpoints" / "aborted" / "run.json").read_text())["status"] == "interrupted"
    resumed = invoke(small_home, "train", "--resume", "aborted")
    assert resumed.exit_code == 0, resumed.output
    metrics = small_home / "checkpoints" / "aborted" / "metrics.jsonl"
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, EPOCHS + 1)) + [1, 1, 2]  # no epoch lost or logged twice


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "nothing"], "no corpus named 'nothing'"),
        (["train"], "name a corpus"),
        (["train", "grammar", "--preset", "huge"], "unknown preset 'huge'"),
        (["train", "grammar", "--method", "gan"], "run.method must be one of"),
        (["train", "grammar", "--set", "adversarial.rounds=-1"], "adversarial.rounds must be an integer >= 0"),
        (["train", "grammar", "--set", "adversarial.rouns=5"], "did you mean rounds"),
        (["train", "grammar", "--set", "oops"], "write SECTION.FIELD=VALUE"),
        (["train", "grammar", "--config", "{missing}"], "does not exist"),
        (["train", "grammar", "--config", "{bad_toml}"], "is not valid TOML"),
        (["train", "grammar", "--device", "tpu"], "run.device must be auto, cpu"),
        (["train", "grammar", "--run", "../escape"], "invalid run name"),
        (["train", "grammar", "--resume", "x"], "not both"),
        (["train", "--resume", "ghost"], "no run named 'ghost'"),
        (["generate", "ghost", "--out", "{out}"], "no run named 'ghost'"),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_exit(home, args, message):
    (home / "bad.toml").write_text("[adversarial\nrounds = 1")
    places = {"{missing}": str(home / "missing.toml"), "{bad_toml}": str(home / "bad.toml"), "{out}": str(home / "o")}
    result = invoke(home, *[places.get(a, a) for a in args])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert message in " ".join(result.output.split()), result.output
    assert not (home / "checkpoints").exists() or not any((home / "checkpoints").iterdir())


def test_generate_from_a_run_without_a_checkpoint_says_how_to_go_on(home):
    from seqgan_music.config import load_config_file, preset
    from seqgan_music.training.launch import start_run

    start_run(home, "grammar", load_config_file(home / "tiny.toml", preset("quick")), "unsaved")
    result = invoke(home, "generate", "unsaved", "--out", str(home / "out"))
    assert result.exit_code == 1
    assert "has not saved a checkpoint yet: train it on with `seqgan-music train --resume unsaved`" in \
        " ".join(result.output.split())


def test_cuda_asked_for_without_a_gpu_is_one_line(home, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = invoke(home, "train", "grammar", "--device", "cuda", "--config", str(home / "tiny.toml"))
    assert result.exit_code == 1 and "sees no CUDA GPU" in result.output


def test_training_commands_have_help_with_an_example():
    for command in (["train"], ["generate"], ["runs"], ["demo"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Example:" in result.output, command


def test_an_interrupt_while_a_run_starts_leaves_no_run_and_says_so(home, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while the models are built, after the run folder was made

    monkeypatch.setattr("seqgan_music.training.methods.base.build_discriminator", interrupted)
    result = invoke(home, "train", "grammar", "--config", str(home / "tiny.toml"), "--run", "early")
    assert result.exit_code == 130, result.output
    assert "stopped before training began; no run was created" in result.output
    assert "nothing was changed on disk" not in result.output and "Traceback" not in result.output
    assert not (home / "checkpoints" / "early").exists()
    assert "no runs yet" in invoke(home, "runs").output


def test_a_second_interrupt_before_the_first_checkpoint_removes_a_new_run_and_keeps_a_resumed_one(home, monkeypatch):
    from seqgan_music.config import load_config_file, preset
    from seqgan_music.training.launch import start_run

    start_run(home, "grammar", load_config_file(home / "tiny.toml", preset("quick")), "older")  # made earlier

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # a second Ctrl-C during the first epoch: stop at once

    monkeypatch.setattr("seqgan_music.training.methods.base.mle_epoch", interrupted)
    result = invoke(home, "train", "grammar", "--config", str(home / "tiny.toml"), "--run", "fresh")
    assert result.exit_code == 130, result.output
    assert "stopped before the first checkpoint: run fresh removed (nothing was saved)" in " ".join(result.output.split())
    assert not (home / "checkpoints" / "fresh").exists()

    result = invoke(home, "train", "--resume", "older")
    assert result.exit_code == 130, result.output
    assert "the run has no checkpoint yet, so seqgan-music train --resume older starts it over" in \
        " ".join(result.output.split())
    assert json.loads((home / "checkpoints" / "older" / "run.json").read_text())["status"] == "interrupted"


def test_sigterm_saves_like_ctrl_c_and_exits_143(small_home):
    process = start_training(small_home, "termed")
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 143, output
    assert "terminated (SIGTERM): stopping after the current epoch or round" in output
    assert "saved; continue with: seqgan-music train --resume termed" in output and "Traceback" not in output
    info = json.loads((small_home / "checkpoints" / "termed" / "run.json").read_text())
    assert info["status"] == "interrupted" and "owner" not in info


def test_a_killed_run_is_taken_over_with_a_notice(small_home, monkeypatch):
    from seqgan_music.training.trainer import Trainer

    process = start_training(small_home, "killed")
    process.kill()  # no chance to save or to mark the run
    process.communicate(timeout=120)
    info = json.loads((small_home / "checkpoints" / "killed" / "run.json").read_text())
    assert info["status"] == "running" and info["owner"]["pid"] == process.pid
    resumed_at = []

    def stop_at_once(trainer: Trainer) -> str:  # where the resume starts is what matters here, not the epochs after
        resumed_at.append(trainer.position.unit)
        return "interrupted"

    monkeypatch.setattr(Trainer, "run", stop_at_once)
    result = invoke(small_home, "train", "--resume", "killed")
    assert result.exit_code == 130, result.output
    assert f"run 'killed' was marked running by process {process.pid}, which has ended: taking it over" in \
        " ".join(result.output.split())
    assert resumed_at[0] >= 1  # from a checkpoint the killed process saved (after epoch 1 at least)


def mark_running(home: Path, run: str, owner: dict | None) -> None:
    path = home / "checkpoints" / run / "run.json"
    info = json.loads(path.read_text())
    info.pop("owner", None)
    info.update(status="running", **({"owner": owner} if owner else {}))
    path.write_text(json.dumps(info))


def test_resume_refuses_a_run_that_another_process_may_be_training_unless_forced(home):
    import socket

    from seqgan_music.config import load_config_file, preset
    from seqgan_music.training.launch import start_run
    from seqgan_music.training.run_lock import RunLock

    trainer = start_run(home, "grammar", load_config_file(home / "tiny.toml", preset("quick")), "busy")
    trainer.request_stop()
    assert trainer.run() == "interrupted"  # after one epoch, saved
    mark_running(home, "busy", {"pid": os.getpid(), "host": socket.gethostname()})
    with RunLock(trainer.folder):  # as this process holds it while it trains the run
        for force in ([], ["--force"]):  # a held lock is refused, --force or not
            result = invoke(home, "train", "--resume", "busy", *force)
            assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
            assert f"run 'busy' is being trained by process {os.getpid()} (since " in " ".join(result.output.split())
    mark_running(home, "busy", {"pid": 12345, "host": "elsewhere"})  # whose lock this machine may not see
    result = invoke(home, "train", "--resume", "busy")
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    message = " ".join(result.output.split())
    assert "run 'busy' is marked running by process 12345 on elsewhere: that machine may still be" in message
    assert "resume with --force if nothing is training it" in message
    forced = invoke(home, "train", "--resume", "busy", "--force")
    assert forced.exit_code == 0 and "finished" in forced.output, forced.output
    assert invoke(home, "train", "grammar", "--force").exit_code == 1  # --force only goes with --resume


SHUTDOWN_SIGNAL = """
import os, signal, weakref
from seqgan_music.cli.train import StopSignals

class Held:
    pass

held = Held()
weakref.finalize(held, os.kill, os.getpid(), signal.SIGINT)  # a Ctrl-C while the interpreter shuts down
with StopSignals() as signals:
    signals.received = signal.SIGINT  # the command stopped for a signal and is on its way out
"""


def test_a_ctrl_c_during_shutdown_after_a_stop_prints_no_traceback():
    """After a command stopped for Ctrl-C, one more arriving while the interpreter shuts down (its exit
    handlers running) used to print a KeyboardInterrupt traceback from weakref's exit function."""
    child = subprocess.run([sys.executable, "-c", SHUTDOWN_SIGNAL], capture_output=True, text=True, timeout=60,
                           check=False)
    assert child.returncode == 0 and "Traceback" not in child.stderr and "KeyboardInterrupt" not in child.stderr, \
        child.stderr
