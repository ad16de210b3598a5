"""`compose`, `export`, `play` and `pack` through the command line, with a tiny window model trained on the
Nottingham tunes (grid16, conftest's `window_model`) and with the shipped default model."""

import json
import os
import shlex
import stat
import wave
from pathlib import Path

import mido
import pretty_midi
import pytest
from music21 import converter
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.composing.model import default_model_folder, load_model
from seqgan_music.corpora.midi import read_midi_melody

runner = CliRunner()


def compose(model: Path | None, out: Path, *args: str):
    chosen = ["--run", str(model)] if model else []
    return runner.invoke(app, ["compose", *chosen, "--out", str(out), *args])


def files(folder: Path, suffix: str) -> list[Path]:
    return sorted(folder.glob(f"*{suffix}"))


def pitches_and_onsets(path: Path) -> list[tuple[int, float]]:
    melody = read_midi_melody(path, path.name)
    return [(n.pitch, round(n.start, 3)) for n in melody.notes]


def test_same_seed_gives_the_same_bytes_and_each_tune_recomposes_alone(window_model, tmp_path):
    for name in ("a", "b"):
        result = compose(window_model, tmp_path / name, "--n", "3", "--seed", "42", "--format", "mid,abc,wav,musicxml")
        assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert len(written) == 3 * 5  # four formats and the sidecar
    for name in written:
        if not name.endswith(".musicxml"):  # music21 stamps the date into MusicXML
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    third = json.loads(files(tmp_path / "a", ".json")[2].read_text())
    assert third["seed"] == 44
    command = shlex.split(third["command"])[2:]  # the recorded command without `seqgan-music compose`
    result = compose(window_model, tmp_path / "alone", *command, "--format", "mid")
    assert result.exit_code == 0, result.output
    alone = files(tmp_path / "alone", ".mid")[0]
    assert pitches_and_onsets(alone) == pitches_and_onsets(files(tmp_path / "a", ".mid")[2])
    assert json.loads(alone.with_suffix(".json").read_text())["tokens"] == third["tokens"]


def test_other_seeds_give_other_tunes(window_model, tmp_path):
    for seed in ("1", "2"):
        assert compose(window_model, tmp_path / seed, "--n", "1", "--seed", seed, "--meter", "4/4").exit_code == 0
    assert files(tmp_path / "1", ".mid")[0].read_bytes() != files(tmp_path / "2", ".mid")[0].read_bytes()


def test_meter_tempo_program_key_and_length_reach_the_midi(window_model, tmp_path):
    result = compose(window_model, tmp_path, "--n", "2", "--seed", "3", "--meter", "6/8", "--tempo", "96",
                     "--program", "40", "--key", "E minor", "--bars", "8")
    assert result.exit_code == 0, result.output
    for path in files(tmp_path, ".mid"):
        midi = pretty_midi.PrettyMIDI(str(path))
        assert midi.instruments[0].program == 40
        assert midi.get_tempo_changes()[1][0] == pytest.approx(96.0)
        assert (midi.time_signature_changes[0].numerator, midi.time_signature_changes[0].denominator) == (6, 8)
        melody = read_midi_melody(path, path.name)
        assert melody.end <= 8 * 3.0 + 1e-6  # eight bars of 6/8, three quarter notes each
        sidecar = json.loads(path.with_suffix(".json").read_text())
        assert sidecar["key"]["written"].startswith("E ") and sidecar["meter"]["written"] == "6/8"
        assert midi.key_signature_changes[0].key_number % 12 == 4  # E
        assert sidecar["model"]["sha256"] == load_model(tmp_path, str(window_model)).sha256


def test_primer_notes_open_every_tune(window_model, tmp_path):
    result = compose(window_model, tmp_path, "--n", "2", "--primer-notes", "D4 F#4 A4:4 D5:8 R:8 A4",
                     "--key", "D", "--meter", "4/4", "--bars", "4")
    assert result.exit_code == 0, result.output
    expected = [(62, 0.0), (66, 0.5), (69, 1.0), (74, 2.0), (69, 3.0)]
    for path in files(tmp_path, ".mid"):
        assert pitches_and_onsets(path)[:5] == expected
        assert json.loads(path.with_suffix(".json").read_text())["key"]["written"] == "D major"


def test_a_primer_file_keeps_its_notes_and_key(window_model, tmp_path):
    from seqgan_music.corpora.melody import Key, Melody, Note
    from seqgan_music.export.midi import write_midi

    primer = Melody([Note(67, 0, 1), Note(71, 1, 2), Note(74, 2, 3)], bars=[0.0], meter="3/4", key=Key(1))
    write_midi(primer, tmp_path / "primer.mid")
    result = compose(window_model, tmp_path / "out", "--n", "1", "--primer", str(tmp_path / "primer.mid"), "--bars", "4")
    assert result.exit_code == 0, result.output
    path = files(tmp_path / "out", ".mid")[0]
    assert pitches_and_onsets(path)[:3] == [(67, 0.0), (71, 1.0), (74, 2.0)]
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["key"]["written"] == "G major" and sidecar["meter"]["written"] == "3/4"


def test_abc_and_musicxml_hold_the_notes_of_the_midi(window_model, tmp_path):
    result = compose(window_model, tmp_path, "--n", "2", "--seed", "8", "--format", "mid,abc,musicxml", "--key", "G",
                     "--chords")
    assert result.exit_code == 0, result.output
    for path in files(tmp_path, ".mid"):
        expected = [(p, onset) for p, onset in pitches_and_onsets(path)]
        for suffix in (".abc", ".musicxml"):
            score = converter.parse(str(path.with_suffix(suffix))).stripTies()
            notes = [(n.pitch.midi, round(float(n.getOffsetInHierarchy(score)), 3))
                     for n in score.recurse().notes if n.isNote]
            assert notes == expected, suffix
        assert len(pretty_midi.PrettyMIDI(str(path)).instruments) == 2  # melody and chords
        assert '"G"' in path.with_suffix(".abc").read_text()


def test_wav_lasts_as_long_as_the_tune_and_is_not_silent(window_model, tmp_path):
    result = compose(window_model, tmp_path, "--n", "1", "--seed", "5", "--format", "mid,wav", "--tempo", "150")
    assert result.exit_code == 0, result.output
    midi = pretty_midi.PrettyMIDI(str(files(tmp_path, ".mid")[0]))
    with wave.open(str(files(tmp_path, ".wav")[0])) as stream:
        seconds = stream.getnframes() / stream.getframerate()
        frames = stream.readframes(stream.getnframes())
    assert seconds == pytest.approx(midi.instruments[0].notes[-1].end, abs=0.1)
    assert max(frames) > 0 and len(set(frames)) > 100


def test_provenance_is_in_the_sidecar_the_midi_and_the_abc(window_model, tmp_path):
    assert compose(window_model, tmp_path, "--n", "1", "--seed", "77", "--format", "mid,abc",
                   "--temperature", "0.9").exit_code == 0
    sidecar = json.loads(files(tmp_path, ".json")[0].read_text())
    assert sidecar["seed"] == 77 and sidecar["temperature"] == 0.9 and len(sidecar["model"]["sha256"]) == 64
    texts = [m.text for m in mido.MidiFile(str(files(tmp_path, ".mid")[0])).tracks[0] if m.type == "text"]
    assert any("seed 77" in t for t in texts) and any(sidecar["command"] in t for t in texts)
    assert f"N:Recompose: {sidecar['command']}" in files(tmp_path, ".abc")[0].read_text()


def test_names_already_taken_are_never_overwritten_unless_asked(window_model, tmp_path):
    for _ in range(2):
        assert compose(window_model, tmp_path, "--n", "1", "--seed", "4", "--meter", "4/4").exit_code == 0
    names = sorted(p.name for p in files(tmp_path, ".mid"))
    assert len(names) == 2 and names[0].endswith("-2.mid") and names[0].replace("-2.mid", ".mid") == names[1]
    assert compose(window_model, tmp_path, "--n", "1", "--seed", "4", "--meter", "4/4", "--overwrite").exit_code == 0
    assert len(files(tmp_path, ".mid")) == 2


@pytest.mark.parametrize("args, message", [
    (["--run", "no-such-run"], "no run named 'no-such-run'"),
    (["--primer-notes", "C1 D1"], "outside the model's range"),
    (["--primer-notes", "H4"], "is not a note"),
    (["--meter", "7/3"], "invalid meter"),
    (["--meter", "0/4"], "invalid meter"),
    (["--key", "H major"], "invalid key"),
    (["--format", "mid,mp3"], "unknown format mp3"),
    (["--temperature", "0"], "temperature must be > 0"),
    (["--bars", "8", "--steps", "64"], "not both"),
    (["--program", "200"], "--program must be"),
    (["--tempo", "5"], "--tempo must be"),
])
def test_bad_input_is_one_line_and_writes_nothing(window_model, tmp_path, args, message):
    chosen = [] if "--run" in args else ["--run", str(window_model)]
    result = runner.invoke(app, ["compose", *chosen, "--out", str(tmp_path / "out"), "--home", str(tmp_path), *args])
    assert result.exit_code == 1 and message in result.output, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_unreadable_primer_and_unwritable_folder_are_one_line(window_model, tmp_path):
    (tmp_path / "bad.mid").write_bytes(b"MThd not really")
    result = compose(window_model, tmp_path / "out", "--primer", str(tmp_path / "bad.mid"))
    assert result.exit_code == 1 and "cannot be used: damaged or truncated MIDI" in result.output, result.output
    (tmp_path / "file").write_text("a file, not a folder")
    result = compose(window_model, tmp_path / "file" / "tunes")
    assert result.exit_code == 1 and "cannot create output folder" in result.output, result.output


def test_export_converts_a_sidecar_a_midi_file_and_a_run(window_model, tmp_path):
    assert compose(window_model, tmp_path / "tunes", "--n", "1", "--seed", "9", "--format", "mid", "--chords").exit_code == 0
    sidecar = files(tmp_path / "tunes", ".json")[0]
    result = runner.invoke(app, ["export", str(sidecar), "--format", "abc,wav", "--out", str(tmp_path / "sheets")])
    assert result.exit_code == 0, result.output
    abc = files(tmp_path / "sheets", ".abc")[0]
    notes = [(n.pitch.midi, round(float(n.getOffsetInHierarchy(s)), 3))
             for s in [converter.parse(str(abc)).stripTies()] for n in s.recurse().notes if n.isNote]
    assert notes == pitches_and_onsets(sidecar.with_suffix(".mid")) and '"' in abc.read_text()  # chords kept
    result = runner.invoke(app, ["export", str(sidecar.with_suffix(".mid")), "--format", "musicxml",
                                 "--out", str(tmp_path / "xml")])
    assert result.exit_code == 0 and len(files(tmp_path / "xml", ".musicxml")) == 1, result.output
    home = window_model.parent
    result = runner.invoke(app, ["export", "tiny", "--format", "mid", "--out", str(tmp_path / "samples"), "--home", str(home)])
    assert result.exit_code == 0 and len(files(tmp_path / "samples", ".mid")) >= 1, result.output
    result = runner.invoke(app, ["export", str(tmp_path / "tunes"), "--format", "wav", "--out", str(tmp_path / "all")])
    assert result.exit_code == 0 and len(files(tmp_path / "all", ".wav")) == 1, result.output  # a folder: its tunes
    for source, message in (("missing.json", "does not exist"), ("nosuchrun", "no run named"),
                            (str(tmp_path / "xml"), "holds no composed tunes")):
        result = runner.invoke(app, ["export", source, "--home", str(home)])
        assert result.exit_code == 1 and message in result.output, result.output


def test_play_uses_a_player_when_there_is_one_and_says_how_to_listen_otherwise(window_model, tmp_path, monkeypatch):
    assert compose(window_model, tmp_path, "--n", "1", "--format", "mid").exit_code == 0
    tune = files(tmp_path, ".mid")[0]
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = runner.invoke(app, ["play", str(tune)])
    assert result.exit_code == 1 and "no audio player found" in result.output and "--format wav" in result.output
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    player = bin_dir / "aplay"
    player.write_text(f"#!/bin/sh\nfor last; do :; done\nhead -c 4 \"$last\" > {tmp_path / 'played'}\n")
    player.chmod(player.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    result = runner.invoke(app, ["play", str(tune)])
    assert result.exit_code == 0 and "with aplay" in result.output, result.output
    assert (tmp_path / "played").read_bytes() == b"RIFF"  # the MIDI was rendered to a WAV first


def test_packed_model_carries_what_reproduces_it(window_model):
    info = json.loads((window_model / "model.json").read_text())
    assert info["encoding"]["name"] == "grid16" and info["reproduce"] == ["seqgan-music train nottingham --run tiny"]
    assert info["trained"]["run"] == "tiny" and "meters" in info and "evaluations" in info


def test_the_default_model_ships_small_and_composes_from_any_folder(tmp_path, monkeypatch):
    folder = default_model_folder()
    size = sum(f.stat().st_size for f in folder.iterdir())
    assert size <= 5_000_000
    info = json.loads((folder / "model.json").read_text())
    assert info["encoding"]["name"] == "grid16" and info["reproduce"] and info["evaluations"]
    assert info["unit"] == "tune" and info["headers"]  # a whole-tune model, conditioned on its tunes' headers
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["compose", "--n", "2", "--seed", "1", "--format", "mid,abc,wav"])
    assert result.exit_code == 0, result.output
    assert len(files(tmp_path / "tunes", ".mid")) == 2 and len(files(tmp_path / "tunes", ".wav")) == 2
    for sidecar in files(tmp_path / "tunes", ".json"):  # whole tunes in the default form, repeats played out
        tune = json.loads(sidecar.read_text())["tune"]
        assert tune["form"] == "AABB" and tune["notated_bars"] == 16 and tune["played_bars"] == 32
    assert all(text.count(":|") == 2 for text in map(Path.read_text, files(tmp_path / "tunes", ".abc")))
