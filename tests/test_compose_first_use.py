"""`compose` as a new user meets it (issue 15), with the shipped default model (a whole-tune model): a whole
tune as primer, the recompose command from another folder, typed notes and the meter, low temperature and
small top-k, meters the model never saw, and a mode it is conditioned on; with a window model (conftest's
`window_model`): a rare meter's warning and a key whose mode none of its 16 candidates has."""

import json
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.corpora.melody import Key, Melody, Note, meter_length_in_beats
from seqgan_music.corpora.midi import read_midi_melody
from seqgan_music.corpora.tunes import parse_tune_symbols
from seqgan_music.export.midi import write_midi

runner = CliRunner()


def compose(out: Path, *args: str):
    return runner.invoke(app, ["compose", "--out", str(out), *args])


def sidecars(folder: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


def notes_of(folder: Path) -> list[list[tuple[int, float]]]:
    """Each tune's notes as (pitch, onset in beats), in file order."""
    return [[(n.pitch, round(n.start, 3)) for n in read_midi_melody(path, path.name).notes]
            for path in sorted(folder.glob("*.mid"))]


def one_line(output: str) -> str:
    return " ".join(output.split())


# --- a whole tune as primer ------------------------------------------------------------------------


def test_a_whole_tune_as_primer_gives_new_tunes_from_its_opening(shared_data, tmp_path):
    jig = shared_data / "nottingham" / "MIDI" / "jigs202.mid"
    result = compose(tmp_path, "--n", "2", "--primer", str(jig), "--seed", "5")
    assert result.exit_code == 0, result.output
    assert f"primer: first 4 of 32 bars of {jig.resolve()}" in one_line(result.output)
    primer = {(n.pitch, round(n.start, 3)) for n in read_midi_melody(jig, jig.name).notes}
    tunes = notes_of(tmp_path)
    for notes in tunes:
        assert sum(note in primer for note in notes) < 0.5 * len(notes)  # mostly the model's own notes
    opening = [note for note in tunes[0] if note[1] < 15.0]  # the pickup and four bars of 6/8
    assert all(note in primer for note in opening) and tunes[1][:len(opening)] == opening
    first, second = (set(notes[len(opening):]) for notes in tunes)
    assert len(first & second) < 0.5 * min(len(first), len(second))  # two seeds: two different continuations
    assert all(s["primer_bars"] == {"kept": 4, "total": 32} for s in sidecars(tmp_path))


def test_primer_bars_keeps_as_many_bars_as_asked_and_a_primer_filling_the_length_is_refused(tmp_path):
    primer = Melody([Note(62 + i % 5, i, i + 1) for i in range(24)], bars=[4.0 * b for b in range(6)], meter="4/4",
                    key=Key(2))  # six bars of quarter notes in D major
    write_midi(primer, tmp_path / "six.mid")
    result = compose(tmp_path / "out", "--n", "1", "--seed", "1", "--primer", str(tmp_path / "six.mid"),
                     "--primer-bars", "2", "--bars", "4")
    assert result.exit_code == 0, result.output
    assert "primer: first 2 of 6 bars of" in one_line(result.output)
    notes = notes_of(tmp_path / "out")[0]
    assert notes[:8] == [(62 + i % 5, float(i)) for i in range(8)] and notes[8] != (62 + 8 % 5, 8.0)
    result = compose(tmp_path / "refused", "--primer", str(tmp_path / "six.mid"), "--primer-bars", "6", "--bars", "6")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "fills the first strain of --bars 6: give fewer --primer-bars or more --bars" in result.output
    result = compose(tmp_path / "refused", "--bars", "100")  # a window model's length, past a whole tune's
    assert result.exit_code == 1, result.output
    assert "--bars must be 1-64 on a whole-tune model, got 100" in result.output
    result = compose(tmp_path / "refused", "--primer-notes", "D4", "--primer-bars", "0")
    assert result.exit_code == 1 and "--primer-bars must be at least 1" in result.output, result.output


def test_the_recompose_command_names_the_primer_by_its_full_path_and_works_from_another_folder(tmp_path, monkeypatch):
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    primer = Melody([Note(67 + i % 3, i, i + 1) for i in range(18)], bars=[3.0 * b for b in range(6)], meter="3/4",
                    key=Key(1))
    write_midi(primer, here / "waltz.mid")
    monkeypatch.chdir(here)
    result = compose(Path("tunes"), "--n", "1", "--seed", "3", "--primer", "waltz.mid", "--primer-bars", "3")
    assert result.exit_code == 0, result.output
    assert f"primer: first 3 of 6 bars of {here / 'waltz.mid'}" in one_line(result.output)
    sidecar = sidecars(here / "tunes")[0]
    command = shlex.split(sidecar["command"])
    assert command[command.index("--primer") + 1] == str(here / "waltz.mid")
    assert command[command.index("--primer-bars") + 1] == "3"
    monkeypatch.chdir(elsewhere)
    result = compose(Path("again"), *command[2:])
    assert result.exit_code == 0, result.output
    assert sidecars(elsewhere / "again")[0]["tokens"] == sidecar["tokens"]


# --- typed notes and the meter ---------------------------------------------------------------------


README_PRIMER = "D4 F#4 A4:4 B4 A4 F#4:4"


def test_typed_notes_without_meter_say_truthfully_that_the_meter_was_drawn(tmp_path):
    result = compose(tmp_path, "--n", "4", "--seed", "1", "--primer-notes", README_PRIMER, "--key", "D", "--bars", "8")
    assert result.exit_code == 0, result.output
    assert "meter: as the table shows (drawn from the training tunes that agree with --key)" in one_line(result.output)
    meters = set()
    for sidecar, notes in zip(sidecars(tmp_path), notes_of(tmp_path)):
        assert sidecar["meter"]["how"] == "drawn from the training tunes that agree with --key"
        assert notes[:6] == [(62, 0.0), (66, 0.5), (69, 1.0), (71, 2.0), (69, 2.5), (66, 3.0)]
        meters.add(sidecar["meter"]["written"])
    assert len(meters) > 1  # drawn for each tune, as without a primer, not the corpus's most common one


def test_typed_notes_with_meter_are_laid_out_in_it(tmp_path):
    result = compose(tmp_path, "--n", "2", "--seed", "1", "--primer-notes", README_PRIMER, "--key", "D", "--bars", "8",
                     "--meter", "4/4")
    assert result.exit_code == 0, result.output
    assert "meter: 4/4 (requested)" in one_line(result.output)
    for path in sorted(tmp_path.glob("*.mid")):
        melody = read_midi_melody(path, path.name)
        assert melody.meter == "4/4" and melody.bars[:3] == [0.0, 4.0, 8.0]
        assert [n.pitch for n in melody.notes[:6]] == [62, 66, 69, 71, 69, 66]


# --- low temperature and small top-k ---------------------------------------------------------------


def notated_longest_pitch(sidecar: dict) -> float:
    """The longest time one pitch sounds in a row, held or struck again (beats), in a whole tune as written
    (its sidecar's tokens), each strain once: the MIDI plays the repeats out, where a strain's last note
    may run on into its first."""
    tune = parse_tune_symbols(sidecar["tokens"].split(), sidecar["meter"]["written"])
    return longest_run(tune.melody(played=False).notes)


def longest_run(notes: list[Note]) -> float:
    longest, start, previous = 0.0, 0.0, None
    for note in notes:
        if previous is None or note.pitch != previous.pitch or note.start > previous.end + 1e-9:
            start = note.start
        longest, previous = max(longest, note.end - start), note
    return longest


@pytest.mark.parametrize("sampling", [["--temperature", "0.5"], ["--top-k", "3"]])
def test_plain_sampling_keeps_no_pitch_longer_than_the_limit(tmp_path, sampling):
    result = compose(tmp_path, "--n", "4", "--seed", "1", *sampling)
    assert result.exit_code == 0, result.output
    for sidecar, path in zip(sidecars(tmp_path), sorted(tmp_path.glob("*.mid"))):
        bar = meter_length_in_beats(sidecar["meter"]["written"])
        assert sidecar["max_hold_beats"] == bar and f"--max-hold {bar:g}" in sidecar["command"]
        assert notated_longest_pitch(sidecar) <= bar + 1e-9
        melody = read_midi_melody(path, path.name)
        assert len({n.pitch for n in melody.notes}) >= 5 and len(melody.notes) > len(melody.bars)


def test_max_hold_is_settable_and_zero_turns_it_off(tmp_path):
    result = compose(tmp_path / "one", "--n", "4", "--seed", "1", "--temperature", "0.5", "--max-hold", "1")
    assert result.exit_code == 0, result.output
    one = sidecars(tmp_path / "one")
    assert all(notated_longest_pitch(s) <= 1.0 + 1e-9 and s["max_hold_beats"] == 1.0 for s in one)
    result = compose(tmp_path / "off", "--n", "4", "--seed", "1", "--temperature", "0.5", "--max-hold", "0")
    assert result.exit_code == 0, result.output
    off = sidecars(tmp_path / "off")
    assert all(s["max_hold_beats"] == 0 and "--max-hold 0 " in s["command"] for s in off)
    assert max(map(notated_longest_pitch, off)) > 1.0  # the same seeds unguarded: a pitch sounds past one beat
    result = compose(tmp_path / "bad", "--max-hold", "0.3")
    assert result.exit_code == 1 and "--max-hold must be 0 (no limit) or a whole number of sixteenths" in result.output


# --- meters the model never saw, or hardly --------------------------------------------------------


def test_a_meter_the_model_never_saw_is_refused_naming_the_meters_it_knows(tmp_path):
    result = compose(tmp_path, "--meter", "7/8")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert ("--meter: the model never saw a tune with meter 7/8; it knows 12/8, 2/2, 2/4, 3/4, 3/8, 4/4, 5/4, 6/4, "
            "6/8, 9/8") in one_line(result.output)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_a_meter_rare_for_the_default_model_is_composed_in_that_meter(tmp_path):
    result = compose(tmp_path, "--n", "1", "--seed", "1", "--meter", "5/4")  # one training tune of 3062
    assert result.exit_code == 0 and "warning" not in result.output, result.output
    sidecar = sidecars(tmp_path)[0]
    assert sidecar["meter"] == {"written": "5/4", "how": "requested"} and sidecar["tune"]["notated_bars"] == 16
    assert read_midi_melody(next(tmp_path.glob("*.mid")), "tune").meter == "5/4"


def test_a_meter_rare_in_a_window_models_corpus_is_warned_of_in_one_line(window_model, tmp_path):
    result = compose(tmp_path / "rare", "--run", str(window_model), "--n", "1", "--seed", "1", "--meter", "6/4")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "6/4 is rare" in warnings[0] and "4/4 52%" in warnings[0], result.output
    result = compose(tmp_path / "unseen", "--run", str(window_model), "--meter", "7/8")
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "never saw bars of 14 sixteenths" in result.output and "6/8 36%" in result.output
    result = compose(tmp_path / "common", "--run", str(window_model), "--n", "1", "--seed", "1", "--meter", "6/8")
    assert result.exit_code == 0 and "warning" not in result.output, result.output


# --- the mode asked for ----------------------------------------------------------------------------


def test_the_default_model_is_conditioned_on_the_asked_mode_and_transposes_to_the_key(tmp_path):
    result = compose(tmp_path, "--n", "3", "--seed", "2", "--key", "A dorian", "--bars", "8")
    assert result.exit_code == 0, result.output
    assert ("key: A dorian (asked A dorian: the model composed in D dorian (conditioned on mode=dorian), transposed)"
            in one_line(result.output))
    for sidecar in sidecars(tmp_path):
        assert sidecar["key"]["asked"] == sidecar["key"]["written"] == "A dorian"
        assert sidecar["key"]["transposed_semitones"] in (7, -5) and "mode=dorian" in sidecar["tokens"].split()


def test_a_mode_no_candidate_of_a_window_model_has_is_said_plainly_and_the_sidecar_keeps_both_keys(window_model,
                                                                                                 tmp_path):
    result = compose(tmp_path, "--run", str(window_model), "--n", "3", "--seed", "2", "--key", "A dorian",
                     "--bars", "8")
    assert result.exit_code == 0, result.output
    assert "(asked A dorian: none of 16 candidates was dorian; the model is not mode-conditioned)" in \
        one_line(result.output)
    for sidecar in sidecars(tmp_path):
        key = sidecar["key"]
        assert key["asked"] == "A dorian" and key["written"].startswith("A ")
        dorian = key["written"] == "A dorian"
        assert key["how"].startswith("asked A dorian: the first of 16 candidates in dorian" if dorian else
                                     "asked A dorian: none of 16 candidates was dorian")
    assert any(sidecar["key"]["written"] != "A dorian" for sidecar in sidecars(tmp_path))
