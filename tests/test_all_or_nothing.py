"""A full disk (simulated ENOSPC) while a command writes: one red line, no traceback, nothing partial
left behind, the run marked interrupted and the computed table still shown."""

import builtins
import errno
import io
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.corpora.grammar import build_grammar_corpus
from training_helpers import train

runner = CliRunner()

TINY_TRAIN = ["--set", "generator.embedding=8", "--set", "generator.hidden=16", "--set", "mle.epochs=3",
              "--set", "mle.batch_size=32", "--set", "run.eval_samples=32", "--set", "run.device=cpu",
              "--set", "run.checkpoint_every=1"]


class FullDisk:
    """Makes the `nth` (1-based) opening for writing of a file whose name holds `match` fail with
    ENOSPC (or `error`), and every later one too when `stays_full`: the disk fills up at that moment."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, match: str = "", nth: int = 1, stays_full: bool = False,
                 error: int = errno.ENOSPC):
        self.match, self.nth, self.stays_full, self.error, self.seen = match, nth, stays_full, error, 0
        real_open, real_fdopen = io.open, os.fdopen

        def checked_open(file, mode="r", *args, **kwargs):
            if isinstance(file, (str, Path)) and any(c in mode for c in "wax+"):
                self._check(str(file))
            return real_open(file, mode, *args, **kwargs)

        def checked_fdopen(fd, mode="r", *args, **kwargs):
            if any(c in mode for c in "wax+"):
                self._check(os.readlink(f"/proc/self/fd/{fd}"))
            return real_fdopen(fd, mode, *args, **kwargs)

        monkeypatch.setattr(io, "open", checked_open)
        monkeypatch.setattr(builtins, "open", checked_open)
        monkeypatch.setattr(os, "fdopen", checked_fdopen)

    def _check(self, name: str) -> None:
        if self.match not in Path(name).name:
            return
        self.seen += 1
        if self.seen == self.nth or (self.stays_full and self.seen > self.nth):
            raise OSError(self.error, os.strerror(self.error))


def invoke(home: Path, *args: str):
    return runner.invoke(app, [*args, "--home", str(home)])


def assert_one_line(result, *words: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not an error that escaped
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    for word in words:
        assert word in errors[0], result.output


def leftovers(folder: Path) -> list[str]:
    """Hidden temporary files and staging folders anywhere under `folder`."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*")
                  if p.name.endswith(".tmp") or ".building." in p.name or ".old." in p.name)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    build_grammar_corpus("grammar", 15, count=300, seed=1).save(tmp_path)
    return tmp_path


def test_a_full_disk_while_training_marks_the_run_interrupted_and_keeps_the_last_checkpoint(home, monkeypatch):
    FullDisk(monkeypatch, match="state.pt", nth=2)  # the first checkpoint is written, the second is not
    result = invoke(home, "train", "grammar", "--method", "mle", "--run", "full", *TINY_TRAIN)
    assert_one_line(result, "no space left on device while writing", "state.pt", "free some space")
    folder = home / "checkpoints" / "full"
    assert json.loads((folder / "run.json").read_text())["status"] == "interrupted"
    assert (folder / "state.pt").is_file() and leftovers(home) == []
    monkeypatch.undo()
    resumed = invoke(home, "train", "--resume", "full")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((folder / "run.json").read_text())["status"] == "finished"


@pytest.fixture
def trained(home: Path) -> Path:
    train(home, "grammar", "first", epochs=1)
    return home


def test_evaluate_shows_its_table_when_the_cache_cannot_be_written(trained, monkeypatch):
    FullDisk(monkeypatch, match="evaluations.json")
    result = invoke(trained, "evaluate", "first", "--samples", "40")
    assert result.exit_code == 0, result.output
    assert "goodness" in result.output and "not cached" in result.output
    assert not (trained / "checkpoints" / "first" / "evaluations.json").exists() and leftovers(trained) == []


def test_generate_on_a_full_disk_is_one_line_and_writes_nothing(trained, monkeypatch):
    FullDisk(monkeypatch, stays_full=True)
    result = invoke(trained, "generate", "first", "--n", "5", "--out", str(trained / "out"))
    assert_one_line(result, "no space left on device")
    assert not any((trained / "out").glob("*.txt")) and leftovers(trained) == []


def test_pack_on_a_full_disk_is_one_line_and_leaves_no_model(window_model, monkeypatch):
    home = window_model.parent
    FullDisk(monkeypatch, nth=2, stays_full=True)
    result = invoke(home, "pack", "tiny", "--out", str(home / "full-model"))
    assert_one_line(result, "o space left on device")
    assert not (home / "full-model").exists() and leftovers(home) == []


def test_compose_on_a_full_disk_is_one_line_and_writes_no_tune(window_model, tmp_path, monkeypatch):
    FullDisk(monkeypatch, nth=3, stays_full=True)
    result = invoke(tmp_path, "compose", "--run", str(window_model), "--n", "3", "--out", str(tmp_path / "tunes"))
    assert_one_line(result, "o space left on device")
    assert list((tmp_path / "tunes").iterdir()) == []


def test_a_corpus_build_on_a_full_disk_is_one_line_and_keeps_the_old_corpus(home, monkeypatch):
    before = (home / "corpora" / "grammar" / "manifest.json").read_text()
    FullDisk(monkeypatch, nth=2, stays_full=True)
    result = invoke(home, "corpus", "build", "grammar", "--name", "grammar", "--length", "15", "--count", "200")
    assert_one_line(result, "no space left on device")
    assert (home / "corpora" / "grammar" / "manifest.json").read_text() == before and leftovers(home) == []


def test_an_unwritable_file_is_one_line(trained, monkeypatch):
    FullDisk(monkeypatch, error=errno.EACCES)
    result = invoke(trained, "generate", "first", "--n", "5", "--out", str(trained / "out"))
    assert_one_line(result, "cannot use", "Permission denied", "make it writable")


# A compose killed at its k-th rename into the output folder: os.replace ends the process (as kill -9
# would) just before it renames; renames of temporary files within one folder go through unchanged.
KILLED_AT_RENAME = """
import os, sys
from pathlib import Path
from seqgan_music.cli import app
out, kill_at, real_replace, count = Path(sys.argv[1]), int(sys.argv[2]), os.replace, [0]
def replace(source, target):
    if Path(target).parent == out and Path(source).parent != out:
        count[0] += 1
        if count[0] == kill_at:
            os._exit(9)
    real_replace(source, target)
os.replace = replace
app(sys.argv[3:])
"""
FORMATS = "mid,abc"
SET = {".mid", ".abc", ".json"}  # every tune's files: its formats and its sidecar


def compose_args(model: Path, out: Path, n: int, seed: int) -> list[str]:
    return ["compose", "--run", str(model), "--n", str(n), "--seed", str(seed), "--format", FORMATS,
            "--out", str(out), "--home", str(out.parent)]


def tunes_in(out: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for file in out.iterdir():
        if not file.name.startswith("."):
            found.setdefault(file.stem, set()).add(file.suffix)
    return found


def test_a_compose_killed_at_any_rename_leaves_complete_tunes_once_the_next_one_ran(window_model, tmp_path):
    import subprocess
    import sys

    for kill_at in (2, 4, 5):  # inside the first tune's set, at the start of the second, inside the second
        out = tmp_path / f"killed-{kill_at}"
        killed = subprocess.run([sys.executable, "-c", KILLED_AT_RENAME, str(out), str(kill_at),
                                 *compose_args(window_model, out, 2, 3)], capture_output=True, text=True, timeout=120)
        assert killed.returncode == 9, killed.stderr
        assert any(p.name.startswith(".seqgan-writing-") for p in out.iterdir())  # what the kill left
        result = runner.invoke(app, compose_args(window_model, out, 1, 7))
        assert result.exit_code == 0, result.output
        assert not any(p.name.startswith(".") for p in out.iterdir()), sorted(out.iterdir())
        found = tunes_in(out)
        assert all(suffixes == SET for suffixes in found.values()), found
        assert len(found) == (1 if kill_at < 4 else 2) + 1  # a tune half moved is completed, the next is new


def test_the_next_corpus_build_cleans_up_after_a_killed_one(home):
    corpora = home / "corpora"
    (corpora / ".grammar.building.999999999-abc").mkdir()  # a build killed while writing: no such process
    (corpora / ".grammar.old.999999999-abc").mkdir()  # the old folder of a finished swap
    (corpora / ".lost.old.999999999-abc").mkdir()  # killed between the two renames: the old corpus comes back
    (corpora / ".lost.old.999999999-abc" / "manifest.json").write_text("{}")
    (corpora / f".other.building.{os.getpid()}-abc").mkdir()  # a build still at work (this process)
    result = invoke(home, "corpus", "build", "grammar", "--name", "second", "--length", "15", "--count", "200")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in corpora.iterdir()) == [f".other.building.{os.getpid()}-abc", "grammar", "lost",
                                                          "second"]


def test_a_compose_interrupted_while_renaming_completes_the_tune_it_was_moving(window_model, tmp_path, monkeypatch):
    out, real_replace, count = tmp_path / "tunes", os.replace, [0]

    def replace(source, target):
        if Path(target).parent == out and Path(source).parent != out:
            count[0] += 1
            if count[0] == 2:
                raise KeyboardInterrupt
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    result = runner.invoke(app, compose_args(window_model, out, 2, 3))
    assert result.exit_code == 130, result.output
    monkeypatch.undo()
    assert not any(p.name.startswith(".") for p in out.iterdir())
    assert list(tunes_in(out).values()) == [SET]


def test_generate_of_music_on_a_full_disk_writes_none_of_its_files(window_model, tmp_path, monkeypatch):
    FullDisk(monkeypatch, match=".mid", nth=3, stays_full=True)  # two MIDI files fit, the third does not
    result = invoke(window_model.parent, "generate", "tiny", "--n", "5", "--out", str(tmp_path / "out"))
    assert_one_line(result, "o space left on device")
    assert list((tmp_path / "out").iterdir()) == []
