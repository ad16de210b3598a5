"""Files and folders the app writes get the mode the umask says (files 0666 & ~umask, folders
0777 & ~umask), as any other program's would, so other users can read tunes, runs and corpora."""

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqgan_music.atomic import replace_folder_atomically, write_text_atomic
from seqgan_music.cli import app
from training_helpers import train

runner = CliRunner()


@pytest.fixture(params=[0o022, 0o077], ids=["umask022", "umask077"])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def modes_under(folder: Path) -> dict[str, str]:
    """Every file and folder below `folder` (not itself), by relative path, as an octal mode."""
    return {str(path.relative_to(folder)): oct(stat.S_IMODE(path.stat().st_mode)) for path in folder.rglob("*")}


def expected_modes(folder: Path, mask: int) -> dict[str, str]:
    return {str(path.relative_to(folder)): oct((0o777 if path.is_dir() else 0o666) & ~mask)
            for path in folder.rglob("*")}


def test_corpus_build_training_and_compose_write_with_the_umask_modes(tmp_path, umask):
    home = tmp_path / "home"
    built = runner.invoke(app, ["corpus", "build", "grammar", "--name", "g", "--length", "3", "--count", "60",
                                "--home", str(home)])
    assert built.exit_code == 0, built.output
    train(home, "g", "tiny", epochs=1)
    composed = runner.invoke(app, ["compose", "--n", "1", "--seed", "1", "--format", "mid,abc,wav,musicxml",
                                   "--out", str(home / "tunes"), "--home", str(home)])
    assert composed.exit_code == 0, composed.output
    written = modes_under(home)
    for part in ("corpora/g/tokens.npz", "checkpoints/tiny/state.pt", "checkpoints/tiny/run.json",
                 "checkpoints/tiny/samples/final.txt", "tunes"):
        assert part in written
    assert {path for path in written if path.startswith("tunes/")} and written == expected_modes(home, umask)
    assert written["corpora/g"] == oct(0o777 & ~umask) and written["checkpoints/tiny/state.pt"] == oct(0o666 & ~umask)


def test_atomic_writes_keep_the_umask_modes_when_replacing(tmp_path, umask):
    write_text_atomic(tmp_path / "a" / "file.txt", "one")
    write_text_atomic(tmp_path / "a" / "file.txt", "two")
    with replace_folder_atomically(tmp_path / "b") as staging:
        (staging / "inside").write_text("x")
    with replace_folder_atomically(tmp_path / "b") as staging:
        (staging / "inside").write_text("y")
    assert modes_under(tmp_path) == expected_modes(tmp_path, umask)
    assert sorted(modes_under(tmp_path)) == ["a", "a/file.txt", "b", "b/inside"]  # no temporary left


def test_an_interrupt_between_the_renames_puts_the_old_folder_back(tmp_path, monkeypatch):
    target = tmp_path / "corpus"
    with replace_folder_atomically(target) as staging:
        (staging / "tokens").write_text("old")
    real_replace = os.replace

    def interrupted_second_rename(source, destination):
        if Path(source).name.startswith(".corpus.building."):
            raise KeyboardInterrupt
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", interrupted_second_rename)
    with pytest.raises(KeyboardInterrupt):
        with replace_folder_atomically(target) as staging:
            (staging / "tokens").write_text("new")
    assert (target / "tokens").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["corpus"]
