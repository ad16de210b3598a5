"""Composing whole tunes with form: the form's layout, the header the model is conditioned on, copies and
cadences in the sampler, and `compose` end to end with a tiny whole-tune model trained on the
Nottingham tunes."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
import torch
from music21 import bar as m21bar
from music21 import converter, spanner
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.composing.continuation import Cadence, CadenceRule, Constraints, Copy, continue_prefix
from seqgan_music.composing.form import (
    TunePlan,
    closing_beat_steps,
    form_name,
    parse_form,
    tune_layout,
)
from seqgan_music.composing.compose import compose_tunes, requested_settings
from seqgan_music.composing.header import choose_header
from seqgan_music.composing.model import load_model
from seqgan_music.corpora.encodings import BAR
from seqgan_music.corpora.midi import read_midi_melody
from seqgan_music.corpora.tunes import ENDING1, ENDING2, PART, REPEAT
from seqgan_music.errors import SeqganError
from seqgan_music.models.generator import Generator

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- the form -------------------------------------------------------------------------------------------


def test_forms_name_strains_played_once_or_twice_and_strains_played_again():
    assert [(s.letter, s.repeated, s.copy_of) for s in parse_form("AABB")] == [("A", True, None), ("B", True, None)]
    assert [(s.letter, s.repeated, s.copy_of) for s in parse_form("AABA")] == [("A", True, None), ("B", False, None),
                                                                               ("A", False, 0)]
    assert [(s.letter, s.repeated) for s in parse_form("free")] == [("A", False)]
    assert form_name(parse_form("AABBCC")) == "AABBCC"


@pytest.mark.parametrize("form, message", [("AAAB", "once or twice"), ("BA", "in the order"), ("A1", "strain letters"),
                                           ("aabb", "strain letters"), ("", "strain letters"), ("AB" * 7, "at most")])
def test_a_bad_form_is_a_one_line_error(form, message):
    with pytest.raises(SeqganError, match=message):
        parse_form(form)


def plan(form: str, part_bars: int = 2, bar_steps: int = 4, beat: int = 2, endings: bool = False) -> TunePlan:
    return TunePlan(parse_form(form), part_bars, bar_steps, beat, "major", endings)


HEADER = ["meter=4/4", "mode=major", "type=reel", PART]


def test_an_aabb_layout_forces_parts_bars_and_repeats_and_closes_each_strain_on_a_cadence():
    slots = tune_layout(plan("AABB"), HEADER)
    names = [slot for slot in slots if isinstance(slot, str)]
    assert names == [BAR, BAR, REPEAT, PART, BAR, BAR, REPEAT]
    cadences = [(i, slot) for i, slot in enumerate(slots) if isinstance(slot, Cadence)]
    # The last beat (2 of the bar's 4 steps) of each strain's last bar: an onset, then a hold or chord tone.
    assert [i for i, _ in cadences] == [8, 9, 20, 21]
    assert [slot.onset for _, slot in cadences] == [True, False, True, False]
    assert cadences[0][1].degrees == (0, 4, 7) and cadences[-1][1].degrees == (0,)  # B is the last strain: tonic


def test_a_strain_played_again_copies_the_first_strain_bar_for_bar():
    slots = tune_layout(plan("AABA"), HEADER)
    copies = [slot.position for slot in slots if isinstance(slot, Copy)]
    first_bar = len(HEADER)  # A's first BAR is the first slot
    assert copies == list(range(first_bar, first_bar + 10))  # A's two bars (BAR + 4 steps each), not its REPEAT


def test_endings_write_the_last_bar_twice_and_the_second_ending_closes_on_the_tonic():
    slots = tune_layout(plan("AABB", part_bars=3, endings=True), HEADER)
    names = [slot for slot in slots if isinstance(slot, str)]
    assert names == [BAR, BAR, ENDING1, BAR, REPEAT, ENDING2, BAR] + [PART, BAR, BAR, ENDING1, BAR, REPEAT, ENDING2, BAR]
    assert plan("AABB", part_bars=3, endings=True).notated_bars() == 8


def test_a_primer_opens_the_first_strain_and_its_unfinished_bar_is_completed():
    primer = [*HEADER, "C4", BAR, "D4", "E4"]  # a pickup, then half a bar
    slots = tune_layout(plan("AB", part_bars=2), primer)
    assert slots[:2] == [None, None]  # the rest of the primer's bar
    assert [slot for slot in slots if isinstance(slot, str)] == [BAR, PART, BAR, BAR]
    with pytest.raises(SeqganError, match="fills the first strain"):
        tune_layout(plan("AB", part_bars=1), [*HEADER, BAR, "C4", "C4", "C4", "C4"])


def test_too_long_a_tune_is_refused():
    with pytest.raises(SeqganError, match="at most 64"):
        tune_layout(plan("AABBCC", part_bars=24), HEADER)


def test_the_cadence_spans_the_meters_last_beat():
    assert [closing_beat_steps(m) for m in ("4/4", "6/8", "3/4", "2/2", "9/8", "2/4")] == [4, 6, 4, 8, 6, 4]


# --- copies and cadences in the sampler -------------------------------------------------------------------

V, HOLD_ID = 8, 2  # tokens 3..7 are pitches C D E F G (pitch classes 0 2 4 5 7)
CLASSES = torch.tensor([-1, -1, -1, 0, 2, 4, 5, 7])


def test_copies_repeat_each_rows_own_tokens_and_cadences_close_on_the_tonic_whatever_the_model_prefers():
    torch.manual_seed(0)
    generator = Generator(V, 4, 8)
    with torch.no_grad():
        generator.output.bias[4] = 8.0  # the model would write D (not the tonic) nearly always
    rule = CadenceRule(CLASSES, HOLD_ID, lambda tokens: torch.zeros(tokens.shape[0], dtype=torch.long))
    layout = [None, None, None, Copy(1), Copy(2), Copy(3), Cadence((0,), onset=True), Cadence((0,), onset=False)]
    rows = continue_prefix(generator, [5], Constraints(layout, banned=[0, 1], cadence=rule), rows=16,
                           noise_source=torch.Generator().manual_seed(3))
    assert torch.equal(rows[:, 4:7], rows[:, 1:4])
    assert (rows[:, 7] == 3).all()  # the closing beat starts on C
    assert ((rows[:, 8] == 3) | (rows[:, 8] == HOLD_ID)).all()  # then holds it or strikes it again


# --- the header -------------------------------------------------------------------------------------------

COUNTS = {"6/8 major jig": 40, "4/4 major reel": 30, "6/8 major unknown": 50, "9/8 major slip-jig": 5,
          "4/4 dorian reel": 3}


def test_a_type_draws_its_own_meters_and_unknown_types_are_not_drawn_unless_asked():
    chooser = random.Random(0)
    jigs = {choose_header(COUNTS, {"meter": None, "mode": None, "type": "jig"}, chooser).header.meter for _ in range(30)}
    assert jigs == {"6/8"}
    drawn = {choose_header(COUNTS, {"meter": None, "mode": None, "type": None}, chooser).header.type for _ in range(60)}
    assert "unknown" not in drawn and {"jig", "reel"} <= drawn


def test_an_unseen_value_is_refused_and_an_unseen_combination_is_honoured_with_a_warning():
    with pytest.raises(SeqganError, match="--type: the model never saw a tune with type polka; it knows jig"):
        choose_header(COUNTS, {"meter": None, "mode": None, "type": "polka"}, random.Random(0))
    choice = choose_header(COUNTS, {"meter": "9/8", "mode": "dorian", "type": None}, random.Random(0))
    assert (choice.header.meter, choice.header.mode) == ("9/8", "dorian") and "no training tune" in choice.warning


# --- compose end to end -----------------------------------------------------------------------------------


def compose(model: Path, out: Path, *args: str):
    return runner.invoke(app, ["compose", "--run", str(model), "--out", str(out), *args])


def test_a_model_whose_corpus_has_no_repeat_signs_writes_its_repeats_out(tune_model):
    """Tunes read played out (no repeat signs) leave a whole-tune model without a REPEAT token: AABB
    is then written A A B B, each second strain a copy of the first, and --endings is refused."""
    from dataclasses import replace

    from seqgan_music.corpora.vocabulary import Vocabulary

    model = load_model(tune_model.parent, str(tune_model), torch.device("cpu"))
    vocabulary = model.vocabulary
    renamed = tuple("never-written" if token == REPEAT else token for token in vocabulary.tokens)
    model = replace(model, vocabulary=Vocabulary(renamed, vocabulary.pad, vocabulary.end, vocabulary.unk))
    settings = requested_settings(1, seed=5, form="AABB", part_bars=2)
    tune = compose_tunes(model, settings)[0]
    tokens = tune.provenance["tokens"].split()
    assert tokens.count(PART) == 4
    strains = " ".join(tokens).split(PART)[1:]
    assert strains[0].strip() == strains[1].strip() and strains[2].strip() == strains[3].strip()
    with pytest.raises(SeqganError, match="--endings needs repeat signs"):
        compose_tunes(model, replace(settings, endings=True))


def test_the_packed_model_records_what_composing_whole_tunes_needs(tune_model):
    info = json.loads((tune_model / "model.json").read_text())
    assert info["unit"] == "tune" and info["generator"]["lookback"] is True
    assert info["generator"]["lookback_bars"] == [1, 2, 4]  # the tunes presets read four bars back too
    assert sum(info["headers"].values()) > 500 and any(key.endswith(" jig") for key in info["headers"])


def test_aabb_tunes_have_their_parts_and_repeat_signs_in_abc_and_play_them_out_in_midi(tune_model, tmp_path):
    result = compose(tune_model, tmp_path, "--n", "2", "--seed", "7", "--type", "jig", "--key", "D",
                     "--format", "abc,mid")
    assert result.exit_code == 0, result.output
    for abc in sorted(tmp_path.glob("*.abc")):
        text = abc.read_text()
        assert "M:6/8" in text and "K:D" in text and text.count("|:") == 2 and text.count(":|") == 2
        score = converter.parse(abc, format="abc")
        part = score.parts[0]
        assert len(part.getElementsByClass("Measure")) == 16
        assert sum(isinstance(b, m21bar.Repeat) for b in part.recurse().getElementsByClass(m21bar.Barline)) == 4
        melody = read_midi_melody(abc.with_suffix(".mid"), abc.name)
        assert len([line for line in melody.bars if line < melody.end - 1e-9]) == 32  # AABB played out
        last = max(melody.notes, key=lambda note: note.start)
        assert last.pitch % 12 == 2  # the cadence lands on the tonic, D
        sidecar = json.loads(abc.with_suffix(".json").read_text())
        assert sidecar["tokens"].startswith("meter=6/8 mode=major type=jig PART BAR")


def test_the_mode_is_conditioned_on_and_the_tune_moved_to_the_asked_tonic(tune_model, tmp_path):
    result = compose(tune_model, tmp_path, "--n", "1", "--seed", "3", "--key", "A dorian", "--format", "abc")
    assert result.exit_code == 0, result.output
    sidecar = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert " mode=dorian " in sidecar["tokens"] and sidecar["key"]["written"] == "A dorian"
    assert "K:ADor" in next(tmp_path.glob("*.abc")).read_text()


def test_aaba_plays_the_first_strain_again_and_endings_are_written_as_volta_brackets(tune_model, tmp_path):
    result = compose(tune_model, tmp_path / "aaba", "--n", "1", "--seed", "1", "--form", "AABA", "--part-bars", "4",
                     "--meter", "4/4", "--format", "mid")
    assert result.exit_code == 0, result.output
    melody = read_midi_melody(next((tmp_path / "aaba").glob("*.mid")), "aaba")
    bar = 4.0

    def strain(index: int) -> list[tuple[int, float]]:
        start = index * 4 * bar
        return [(n.pitch, n.start - start) for n in melody.notes if start <= n.start < start + 4 * bar]

    assert strain(3) == strain(0) and strain(2) != strain(0)
    result = compose(tune_model, tmp_path / "endings", "--n", "1", "--seed", "2", "--endings", "--part-bars", "4",
                     "--format", "abc")
    assert result.exit_code == 0, result.output
    text = next((tmp_path / "endings").glob("*.abc")).read_text()
    assert "|1" in text and ":|2" in text
    score = converter.parse(text, format="abc")
    assert len(score.parts[0].getElementsByClass("Measure")) == 10  # two strains of 3 + 2 endings
    assert len(list(score.recurse().getElementsByClass(spanner.RepeatBracket))) == 4


def test_the_same_seed_recomposes_the_same_tune_and_its_command_does_too(tune_model, tmp_path):
    first = compose(tune_model, tmp_path / "a", "--n", "3", "--seed", "11", "--format", "abc")
    assert first.exit_code == 0, first.output
    sidecar = json.loads(sorted((tmp_path / "a").glob("*.json"))[2].read_text())
    args = sidecar["command"].split(" ")[2:]  # after "seqgan-music compose"
    args = [arg.strip("'") for arg in args]
    again = runner.invoke(app, ["compose", *args[:args.index("--meter")], "--meter", sidecar["meter"]["written"],
                                "--key", sidecar["key"]["written"], "--out", str(tmp_path / "b"), "--format", "abc"])
    assert again.exit_code == 0, again.output
    assert json.loads(next((tmp_path / "b").glob("*.json")).read_text())["tokens"] == sidecar["tokens"]


@pytest.mark.parametrize("args, message", [
    (["--steps", "64"], "composes in bars"),
    (["--bars", "16", "--form", "AABB"], "--bars sets the length of a --form free"),
    (["--type", "bolero"], "--type: the model never saw a tune with type bolero"),
    (["--form", "ACB"], "order"),
    (["--part-bars", "40"], "at most 64"),
])
def test_impossible_requests_are_one_line_errors(tune_model, tmp_path, args, message):
    result = compose(tune_model, tmp_path, "--n", "1", *args)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert not list(tmp_path.glob("*.mid"))


def test_a_window_model_refuses_a_form(tune_model, tmp_path):
    window = tmp_path / "window"
    shutil.copytree(tune_model, window)
    info = json.loads((window / "model.json").read_text())
    info["unit"] = "window"
    (window / "model.json").write_text(json.dumps(info))
    result = compose(window, tmp_path / "out", "--form", "AABB")
    assert result.exit_code == 1 and "need a whole-tune model" in result.output


def test_the_copy_temperature_is_the_models_own_unless_asked_and_a_window_model_refuses_it(tune_model, window_model,
                                                                                          tmp_path):
    """A whole-tune model with attention over bars composes at its packed copy temperature; an asked one
    wins and changes the tune; composing leaves the model's attention as it was; a model without
    attention refuses the option in one line."""
    home = tune_model.parent
    packed = tmp_path / "copying"
    result = runner.invoke(app, ["pack", "tiny-tunes", "--out", str(packed), "--copy-temperature", "0.3",
                                 "--home", str(home)])
    assert result.exit_code == 0, result.output
    sidecars = {}
    for name, options in (("own", ()), ("asked", ("--copy-temperature", "0.3")), ("plain", ("--copy-temperature", "1"))):
        result = compose(packed, tmp_path / name, "--n", "1", "--seed", "5", "--format", "abc", *options)
        assert result.exit_code == 0, result.output
        sidecars[name] = json.loads(next((tmp_path / name).glob("*.json")).read_text())
    assert sidecars["own"]["copy_temperature"] == sidecars["asked"]["copy_temperature"] == 0.3
    assert sidecars["own"]["tokens"] == sidecars["asked"]["tokens"] != sidecars["plain"]["tokens"]
    assert "--copy-temperature 0.3" in sidecars["own"]["command"]
    model = load_model(home, str(packed))
    compose_tunes(model, requested_settings(1, seed=5))
    assert model.generator.attention.sharpness == 1.0
    refused = compose(window_model, tmp_path / "window", "--n", "1", "--copy-temperature", "0.5")
    assert refused.exit_code == 1 and "--copy-temperature needs a model that attends over its bars" in refused.output
    bad = compose(packed, tmp_path / "bad", "--n", "1", "--copy-temperature", "0")
    assert bad.exit_code == 1 and "--copy-temperature must be > 0" in bad.output
