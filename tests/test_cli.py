"""The command line through Typer's CliRunner: builds, list, show, export, help and bad input."""

import json
from pathlib import Path

import mido
import pytest
from typer.testing import CliRunner

from seqgan_music.cli import app

runner = CliRunner()


def write_tune(path: Path, pitches: list[int], beats_per_note: float = 0.5) -> None:
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    meta = mido.MidiTrack([mido.MetaMessage("key_signature", key="G"),
                           mido.MetaMessage("time_signature", numerator=4, denominator=4)])
    melody = mido.MidiTrack()
    for pitch in pitches:
        melody.append(mido.Message("note_on", note=pitch, velocity=90, time=0))
        melody.append(mido.Message("note_off", note=pitch, velocity=0, time=int(480 * beats_per_note)))
    midi.tracks.extend([meta, melody])
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(path)


@pytest.fixture
def midi_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "tunes"
    for index in range(12):
        write_tune(folder / f"set{index % 2}" / f"tune{index}.mid", [67 + (index + i) % 7 for i in range(64)])
    (folder / "broken.mid").write_bytes(b"this is not midi")
    return folder


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_build_list_show_export_a_midi_folder(midi_folder, tmp_path):
    home = str(tmp_path / "home")
    result = invoke("corpus", "build", "midi", str(midi_folder), "--name", "mine", "--length", "34", "--home", home)
    assert result.exit_code == 0, result.output
    assert "built corpus mine (12 tunes" in result.output
    assert "broken.mid" in result.output  # the skipped file is listed with its reason
    manifest = json.loads((tmp_path / "home" / "corpora" / "mine" / "manifest.json").read_text())
    assert manifest["counts"]["tunes"] == 12 and manifest["skipped"][0]["path"] == "broken.mid"

    listed = invoke("corpus", "list", "--home", home)
    assert listed.exit_code == 0 and "mine" in listed.output

    shown = invoke("corpus", "show", "mine", "--home", home)
    assert shown.exit_code == 0
    assert "pitch classes" in shown.output and "G major" not in shown.output  # transposed to C
    assert "C major" in shown.output

    out = tmp_path / "out"
    exported = invoke("corpus", "export", "mine", "--out", str(out), "--n", "3", "--home", home)
    assert exported.exit_code == 0, exported.output
    files = sorted(out.glob("*.mid"))
    assert len(files) == 3 and all(mido.MidiFile(f).length > 0 for f in files)


def test_home_comes_from_the_environment(midi_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("SEQGAN_MUSIC_HOME", str(tmp_path / "envhome"))
    assert invoke("corpus", "build", "midi", str(midi_folder), "--name", "env").exit_code == 0
    assert (tmp_path / "envhome" / "corpora" / "env" / "tokens.npz").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["corpus", "build", "midi", "/no/such/folder", "--name", "x"], "does not exist"),
        (["corpus", "build", "midi", "{empty}", "--name", "x"], "no .mid or .midi files"),
        (["corpus", "build", "midi", "{tunes}", "--name", "x", "--encoding", "piano"], "unknown encoding"),
        (["corpus", "build", "midi", "{tunes}", "--name", "../x"], "invalid corpus name"),
        (["corpus", "build", "midi", "{tunes}", "--name", "x", "--split", "50/50"], "invalid split"),
        (["corpus", "build", "folk", "--collections", "bach"], "unknown folk collection"),
        (["corpus", "build", "text", "{empty_text}", "--name", "x"], "empty"),
        (["corpus", "build", "oracle", "--name", "x", "--params", "{bad_npz}"], "malformed oracle file"),
        (["corpus", "build", "grammar", "--name", "x", "--length", "7"], "3 or 15"),
        (["corpus", "show", "missing"], "no corpus named 'missing'"),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_exit(args, message, midi_folder, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty.txt").write_text("\n\n")
    (tmp_path / "bad.npz").write_bytes(b"not an npz")
    places = {"{empty}": tmp_path / "empty", "{tunes}": midi_folder, "{empty_text}": tmp_path / "empty.txt",
              "{bad_npz}": tmp_path / "bad.npz"}
    args = [str(places.get(a, a)) for a in args] + ["--home", str(tmp_path / "home")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert message in result.output
    assert not (tmp_path / "home" / "corpora" / "x").exists()


def test_a_failed_build_keeps_the_existing_corpus(midi_folder, tmp_path):
    home = str(tmp_path / "home")
    assert invoke("corpus", "build", "midi", str(midi_folder), "--name", "keep", "--home", home).exit_code == 0
    tokens = (tmp_path / "home" / "corpora" / "keep" / "tokens.npz").read_bytes()
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "x.mid").write_bytes(b"MThd\x00\x00")
    result = runner.invoke(app, ["corpus", "build", "midi", str(only_bad), "--name", "keep", "--home", home])
    assert result.exit_code == 1 and "no usable tunes" in result.output
    assert (tmp_path / "home" / "corpora" / "keep" / "tokens.npz").read_bytes() == tokens


def test_every_command_has_help_with_an_example():
    commands = [[], ["corpus"], ["corpus", "build"], ["corpus", "build", "midi"], ["corpus", "build", "folk"],
                ["corpus", "build", "text"], ["corpus", "build", "oracle"], ["corpus", "build", "grammar"],
                ["corpus", "list"], ["corpus", "show"], ["corpus", "export"]]
    for command in commands:
        result = invoke(*command, "--help")
        assert result.exit_code == 0
        if len(command) >= 2 and command[-1] not in ("build",):
            assert "Example:" in result.output, command


def test_top_level_commands_have_help_with_an_example():
    for command in ("tui", "compose", "train", "evaluate", "sweep", "export", "play", "pack", "demo"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Example:" in result.output, command


def test_no_command_without_a_terminal_prints_the_help_instead_of_opening_the_app():
    result = invoke()
    assert result.exit_code == 0
    assert "Usage:" in result.output and "tui" in result.output and "terminal app" in result.output


def test_version():
    assert invoke("--version").output.startswith("seqgan-music ")


def test_no_help_text_has_angle_brackets_that_markdown_would_swallow():
    """Help is rendered as markdown, where `<word>` outside backticks vanishes as an HTML tag."""
    import re

    import click
    import typer

    def commands(command: click.Command, path: str):
        yield path, command
        for name, child in getattr(command, "commands", {}).items():
            yield from commands(child, f"{path} {name}")

    swallowed = []
    for path, command in commands(typer.main.get_command(app), "seqgan-music"):
        for text in [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]:
            if re.search(r"<[A-Za-z/]", re.sub(r"`[^`]*`", "", text)):
                swallowed.append(f"{path}: {text}")
    assert not swallowed


def test_every_group_and_command_help_has_an_example_and_no_bool_label():
    """Every --help of the command tree, groups included: an example (each on its own line: Typer
    joins the lines of a paragraph), and flags without Typer's `<bool>`."""
    import typer

    def paths(command, path: tuple[str, ...] = ()):
        yield path
        for name, child in getattr(command, "commands", {}).items():
            yield from paths(child, (*path, name))

    every = list(paths(typer.main.get_command(app)))
    assert ("corpus", "build", "folk") in every and ("experiment",) in every
    for path in every:
        result = invoke(*path, "--help")
        assert result.exit_code == 0, path
        assert "Example" in result.output, path
        assert not [line for line in result.output.splitlines() if line.count("Example:") > 1], path
        assert "<bool>" not in result.output, path


def test_corpus_list_fits_80_columns_without_cutting_numbers(tmp_path):
    """Large counts stay whole at 80 columns; the name folds or text columns go first."""
    import re

    from seqgan_music.corpora.grammar import build_grammar_corpus

    build_grammar_corpus("grammar-with-a-rather-long-name", 15, count=30_000, seed=1).save(tmp_path)
    folk = tmp_path / "corpora" / "folk"
    folk.mkdir()
    (folk / "manifest.json").write_text(json.dumps({
        "name": "folk", "source": {"kind": "folk"}, "encoding": {"name": "grid16", "length": 64},
        "counts": {"tunes": 12_345, "windows": {"train": 123_456, "valid": 15_432, "test": 15_001}, "vocabulary": 61},
        "skipped": [{"path": f"t{i}", "reason": "no notes"} for i in range(1_234)]}))
    result = runner.invoke(app, ["corpus", "list", "--home", str(tmp_path)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80 and "…" not in result.output
    grammar = build_grammar_corpus("g", 15, count=30_000, seed=1).manifest["counts"]["windows"]
    shown = set(re.findall(r"\d+", result.output))
    assert {"12345", "123456", "15432", "15001", "61", "1234", *map(str, grammar.values())} <= shown
    assert "encoding" in result.output and "grid16/64" in result.output
