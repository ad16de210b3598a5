"""A real full disk: each command that writes, with its output (or the whole home) on a 1 MB tmpfs
filled up before it starts, gives one line (evaluate: its table and a one-line note), exits non-zero,
leaves nothing partial, and a run that was training ends `interrupted`, resumable once there is room.

Mounting needs root: where it fails the real-disk tests skip, and the simulated full disk of
test_all_or_nothing.py (ENOSPC raised on opening a file) stands in. A disk that stays full after a
failed checkpoint, so that not even the run's status can be written, is simulated here too.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from textual.pilot import Pilot
from textual.widgets import DataTable, SelectionList, Static
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.tui.app import SeqganApp
from seqgan_music.tui.evaluate import EvaluatePane
from test_all_or_nothing import FullDisk
from test_cli import write_tune
from training_helpers import TINY, train
from tui_helpers import drive, messages, settle

runner = CliRunner()
PAGE = 4096
TRAIN = ("train", "tunes", "--run", "full", "--preset", "quick", "--method", "mle", *(f"--set={s}" for s in TINY),
         "--set=mle.epochs=2", "--set=run.checkpoint_every=1")  # the sizes of the project's run `tiny`


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A home on the ordinary disk: MIDI tunes in `midi/`, a corpus `tunes`, a trained run `tiny`
    (one epoch, tiny sizes) and that run packed in `packed/`."""
    home = tmp_path_factory.mktemp("project") / "home"
    for index in range(12):
        write_tune(home / "midi" / f"tune{index}.mid", [60 + (index + i) % 12 for i in range(64)])
    built = invoke(home, "corpus", "build", "midi", str(home / "midi"), "--name", "tunes", "--length", "34")
    assert built.exit_code == 0, built.output
    train(home, "tunes", "tiny", 1)
    assert invoke(home, "pack", "tiny", "--out", str(home / "packed")).exit_code == 0
    return home


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs, unmounted however the test ends; the test skips where it cannot be mounted."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                                 capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"cannot mount a small tmpfs ({error}): the simulated full disk of test_all_or_nothing.py "
                    "stands in")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs ({mounted.stderr.strip() or 'mount failed'}; it needs root): "
                    "the simulated full disk of test_all_or_nothing.py stands in")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=30)


def fill(disk: Path, leave: int) -> Path:
    """Fill `disk` with one file until only `leave` bytes (rounded to pages) are free; returns the file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as error:
        assert error.errno == errno.ENOSPC, error
    finally:
        os.close(fd)
    os.truncate(filler, max(filler.stat().st_size - leave, 0))
    return filler


def invoke(home: Path, *args: str) -> Result:
    return runner.invoke(app, [*args, "--home", str(home)])


def assert_one_line_no_space(result: Result) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not an error that escaped
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "no space left on device" in lines[0].lower(), result.output
    assert "Traceback" not in result.output, result.output


def leftovers(disk: Path) -> list[str]:
    """Hidden temporary files and staging folders anywhere on the disk (a run's lock file is no leftover)."""
    return sorted(str(path.relative_to(disk)) for path in disk.rglob(".*") if path.name != ".lock")


def home_on(disk: Path, project: Path) -> Path:
    """The project's corpus and run, copied onto the disk."""
    home = disk / "home"
    for part in ("corpora", "checkpoints"):
        shutil.copytree(project / part, home / part)
    return home


def test_a_corpus_build_on_a_full_disk_is_one_line_and_leaves_no_corpus(project, disk):
    fill(disk, leave=2 * PAGE)
    result = invoke(disk / "home", "corpus", "build", "midi", str(project / "midi"), "--name", "big")
    assert_one_line_no_space(result)
    assert not (disk / "home" / "corpora" / "big").exists() and leftovers(disk) == []


def test_training_on_a_full_disk_ends_interrupted_and_resumes_once_there_is_room(project, disk):
    home = disk / "home"
    shutil.copytree(project / "corpora", home / "corpora")
    checkpoint = (project / "checkpoints" / "tiny" / "state.pt").stat().st_size
    # Room for the run's small files (4 pages), two epochs' samples (about 10 pages each) and one and a
    # half checkpoints: the first epoch's checkpoint fits, the second's (written beside the first) does not.
    filler = fill(disk, leave=checkpoint * 3 // 2 + 24 * PAGE)
    result = invoke(home, *TRAIN)
    assert_one_line_no_space(result)
    folder = home / "checkpoints" / "full"
    assert json.loads((folder / "run.json").read_text())["status"] == "interrupted"
    assert (folder / "state.pt").is_file() and leftovers(disk) == []
    assert "interrupted" in next(line for line in invoke(home, "runs").output.splitlines() if "full" in line)
    filler.unlink()
    resumed = invoke(home, "train", "--resume", "full")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((folder / "run.json").read_text())["status"] == "finished"


@pytest.mark.parametrize("leave", [0, 2 * PAGE], ids=["no room for the config", "no room for the lock's note"])
def test_a_training_start_on_a_full_disk_is_one_line_and_leaves_no_run(project, disk, leave):
    home = disk / "home"
    shutil.copytree(project / "corpora", home / "corpora")
    fill(disk, leave=leave)
    result = invoke(home, *TRAIN)
    assert_one_line_no_space(result)
    assert not (home / "checkpoints" / "full").exists() and leftovers(disk) == []


def test_generate_onto_a_full_disk_is_one_line_and_writes_no_file(project, disk):
    fill(disk, leave=2 * PAGE)
    result = invoke(project, "generate", "tiny", "--n", "20", "--out", str(disk / "out"))
    assert_one_line_no_space(result)
    assert list((disk / "out").iterdir()) == []


def test_compose_onto_a_full_disk_is_one_line_and_writes_no_tune(project, disk):
    fill(disk, leave=5 * PAGE)  # room for one tune's three files, not for more
    result = invoke(project, "compose", "--run", str(project / "packed"), "--n", "10", "--format", "mid,abc",
                    "--out", str(disk / "out"))
    assert_one_line_no_space(result)
    assert list((disk / "out").iterdir()) == []


def test_pack_onto_a_full_disk_is_one_line_and_leaves_no_model(project, disk):
    fill(disk, leave=2 * PAGE)
    result = invoke(project, "pack", "tiny", "--out", str(disk / "model"))
    assert_one_line_no_space(result)
    assert not (disk / "model").exists() and leftovers(disk) == []


def test_evaluate_on_a_full_disk_shows_its_table_and_says_in_one_line_that_it_was_not_cached(project, disk):
    home = home_on(disk, project)
    (home / "checkpoints" / "tiny" / "evaluations.json").unlink(missing_ok=True)
    fill(disk, leave=0)
    result = invoke(home, "evaluate", "tiny", "--samples", "16", "--metrics", "nll-test,self-bleu")
    assert result.exit_code == 0 and "NLL_test" in result.output, result.output
    notes = [line for line in result.output.splitlines() if "not cached" in line]
    assert len(notes) == 1 and "No space left on device" in notes[0], result.output
    assert not (home / "checkpoints" / "tiny" / "evaluations.json").exists() and leftovers(disk) == []


def test_the_terminal_app_shows_what_it_evaluated_when_the_cache_cannot_be_written(project, tmp_path, monkeypatch):
    home = Path(shutil.copytree(project, tmp_path / "home"))
    FullDisk(monkeypatch, match="evaluations.json")
    shown: dict[str, object] = {}

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        runs = app.query_one("#evaluate-runs", SelectionList)
        await pilot.press("l", "home", *["down"] * runs.get_option_index("tiny"), "space")
        await pilot.press("o", "end", *["backspace"] * 4, *"16", "enter")  # 16 samples, then evaluate
        await settle(pilot)
        shown["rows"] = app.query_one("#scores-table", DataTable).row_count
        shown["summary"] = str(app.query_one("#results-message", Static).content)
        shown["errors"] = messages(app, "error")

    drive(home, script, panes=(EvaluatePane,))
    assert shown["rows"] and not shown["errors"], shown
    notes = [line for line in str(shown["summary"]).splitlines() if "not cached" in line]
    assert len(notes) == 1 and "tiny" in notes[0] and "No space left on device" in notes[0], shown["summary"]
    assert not (home / "checkpoints" / "tiny" / "evaluations.json").exists()


class StaysFull(FullDisk):
    """From the `nth` write of a file named `match` on, every write fails: the disk stays full."""

    def _check(self, name: str) -> None:
        if self.seen >= self.nth:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        super()._check(name)


def test_a_run_whose_status_cannot_be_written_either_is_listed_stale_and_taken_over(project, tmp_path,
                                                                                    monkeypatch):
    """The second checkpoint fails and so does every later write, run.json's `interrupted` included:
    run.json still says running, but its lock is free, so `runs` lists it interrupted (stale) and a
    resume takes it over from the first checkpoint."""
    home = tmp_path / "home"
    shutil.copytree(project / "corpora", home / "corpora")
    StaysFull(monkeypatch, match="state.pt", nth=2)
    result = invoke(home, *TRAIN)
    assert_one_line_no_space(result)
    monkeypatch.undo()
    folder = home / "checkpoints" / "full"
    assert json.loads((folder / "run.json").read_text())["status"] == "running"  # it could not be changed
    listing = invoke(home, "runs").output
    assert "interrupted (stale)" in next(line for line in listing.splitlines() if "full tunes" in line), listing
    resumed = invoke(home, "train", "--resume", "full")
    assert resumed.exit_code == 0 and "taking it over" in resumed.output, resumed.output
    assert json.loads((folder / "run.json").read_text())["status"] == "finished"
